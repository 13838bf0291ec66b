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
from enum import StrEnum
from typing import Any

Event = dict[str, Any]


class Step(StrEnum):
    """The steps the harness marks: the ``event`` of every :data:`Event` a listener hears."""

    #: One request to one worker (``path``, ``url``, ``start``, ``end``).
    REQUEST = "request"
    #: A gunicorn started and every worker answered (``workdir``, ``app``, ``workers``...).
    BOOT = "boot"
    #: A gunicorn stopped (``workdir``, ``start``, ``end``).
    STOP = "stop"
    #: A topology is ready for its scenarios (``workdir``, ``backend``...).
    TOPOLOGY = "topology"
    #: Clients released together on one key (``clients``, ``start``, ``end``).
    TOGETHER = "together"
    #: A checker judged a history.
    CHECKER = "checker"
    #: The report directory was written, and report.png drawn in it.
    REPORT = "report"
    REPORT_PNG = "report_png"

_listeners: list[Callable[[Event], None]] = []


def listen(listener: Callable[[Event], None]) -> None:
    _listeners.append(listener)


def unlisten(listener: Callable[[Event], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def listening() -> bool:
    return bool(_listeners)


def emit(event_name: Step, /, **fields: Any) -> None:
    """Tell every listener that step ``event_name`` happened, with its fields."""
    if not _listeners:
        return
    event: Event = {"event": str(event_name), "pid": os.getpid(),
                    "thread": threading.current_thread().name, **fields}
    for listener in list(_listeners):
        listener(event)


@contextmanager
def span(event_name: Step, /, **fields: Any) -> Iterator[None]:
    """Emit ``event_name`` with the ``start`` and ``end`` of the block."""
    start = time.monotonic()
    try:
        yield
    finally:
        emit(event_name, start=start, end=time.monotonic(), **fields)
