"""The one rule for a test that needs a program: missing, it skips, and under CI=true it fails.

In CI a silently skipped test would be a lie: ``.ci/run`` and the workflow
install every server kind's binary, wrk and Chromium, so one that is
missing there is a broken set-up, not a reason to pass.  A test names what
it needs with :func:`need` or, for a whole module, ``pytestmark =
pytest.mark.needs(...)`` (conftest applies it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn

import pytest

from harness.load import wrk
from harness.report import chromium
from harness.topology.kinds import KINDS, find_binary, missing_reason

#: Programs that are not server kinds: how each is found, and what its absence says.
TOOLS: dict[str, tuple[Callable[[], str | None], str]] = {
    "wrk": (wrk.find, wrk.MISSING),
    "chromium": (chromium.find, "chromium not found (apt-get install chromium)"),
}


def missing(reason: str) -> NoReturn:
    """Skip the calling test for ``reason``, or fail it under ``CI=true``."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must install it")
    pytest.skip(reason)


def need(program: str) -> str:
    """The path of ``program`` (a server kind such as ``redis``, or a tool in :data:`TOOLS`)."""
    if program in KINDS:
        path, reason = find_binary(program), missing_reason(program)
    else:
        find, reason = TOOLS[program]
        path = find()
    if path is None:
        missing(reason)
    return path


def need_all(*programs: str) -> None:
    for program in programs:
        need(program)
