"""A pytest plugin for the bench: writes every step the harness reports to a file.

Loaded by ``bench.py`` through ``PYTEST_PLUGINS=bench_events`` (with this
folder on ``PYTHONPATH``), so it is in the CLI's pytest session and in
every xdist worker of a parallel run.  It implements the harness's
``pytest_coherence_event`` hook (:mod:`harness.hooks`) and nothing else:
the harness is not patched.  Each process writes its events, one JSON
object per line, to ``$BENCH_EVENTS/<pid>.jsonl`` when its session ends.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

_events: list[dict[str, Any]] = []


def pytest_coherence_event(event: dict[str, Any]) -> None:
    _events.append(event)  # list.append is atomic: client threads call this too


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    target = os.environ.get("BENCH_EVENTS")
    if not target or not _events:
        return
    path = Path(target) / f"{os.getpid()}.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        for e in _events:
            fh.write(json.dumps(e, default=str) + "\n")
    _events.clear()
