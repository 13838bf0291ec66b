"""The one rule for a test that needs a program: missing, it skips, and under CI=true it fails.

In CI a silently skipped test would be a lie: ``.ci/run`` and the workflow
install every server kind's binary, wrk and Chromium, so one that is
missing there is a broken set-up, not a reason to pass.  A test names what
it needs with :func:`need` or, for a whole module, ``pytestmark =
pytest.mark.needs(...)`` (conftest applies it).
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Callable
from typing import NoReturn

import pytest

from harness.load import wrk
from harness.report import chromium
from harness.topology.kinds import KINDS, find_binary, missing_reason


def _python39() -> str | None:
    """The python3.9 on PATH; for a pyenv shim, the interpreter behind it (a shim
    fails outside the directories pyenv has been told to use 3.9 in)."""
    path = shutil.which("python3.9")
    if path is None or os.path.basename(os.path.dirname(path)) != "shims":
        return path
    root = os.path.dirname(os.path.dirname(path))
    found = sorted(glob.glob(os.path.join(root, "versions", "3.9*", "bin", "python3.9")))
    return found[-1] if found else None


#: Programs that are not server kinds: how each is found, and what its absence says.
TOOLS: dict[str, tuple[Callable[[], str | None], str]] = {
    "wrk": (wrk.find, wrk.MISSING),
    "chromium": (chromium.find, "chromium not found (apt-get install chromium)"),
    # The oldest interpreter the worker side supports (tests/test_app_python.py).
    "python3.9": (_python39, "python3.9 not found (apt-get install python3.9 where the "
                             "distribution has it, or pyenv install 3.9)"),
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
