"""The harness's timings of its own steps, for whoever listens (the bench).

Library code marks its steps here -- a request to a worker, a gunicorn
boot and stop, a concurrent step, a checker, the report -- and nothing
happens unless a listener is installed.  The pytest plugin installs one
that calls the ``pytest_coherence_event`` hook (:mod:`harness.hooks`) when
a plugin implements it, so a tool such as ``bench/`` hooks in from outside
(``PYTEST_PLUGINS``) instead of patching the harness.  Times are
``time.monotonic()``, one clock for every process of a run.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Event = dict[str, Any]

_listeners: list[Callable[[Event], None]] = []


def listen(listener: Callable[[Event], None]) -> None:
    _listeners.append(listener)


def unlisten(listener: Callable[[Event], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def listening() -> bool:
    return bool(_listeners)


def emit(event_name: str, /, **fields: Any) -> None:
    """Tell every listener that step ``event_name`` happened, with its fields."""
    if not _listeners:
        return
    event: Event = {"event": event_name, "pid": os.getpid(),
                    "thread": threading.current_thread().name, **fields}
    for listener in list(_listeners):
        listener(event)


@contextmanager
def span(event_name: str, /, **fields: Any) -> Iterator[None]:
    """Emit ``event_name`` with the ``start`` and ``end`` of the block."""
    start = time.monotonic()
    try:
        yield
    finally:
        emit(event_name, start=start, end=time.monotonic(), **fields)
