"""Headless Chromium, when installed: report.png.

Chromium is optional: without it a run writes no screenshot and says
nothing.  Each call runs one browser in its own process group with a
throwaway profile, and a browser that outlives its timeout is killed by
that group, never by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import interrupt
from ..topology.processes import ledger, set_pdeathsig

NAMES = ("chromium", "chromium-browser")
TIMEOUT = 30.0
WIDTH = 1400
#: Flags for a quiet, offline, one-shot browser: no first-run UI, no
#: background fetches, no GPU; --no-sandbox because CI often runs as root.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-extensions",
         "--disable-component-update", "--disable-default-apps", "--disable-sync",
         "--hide-scrollbars", "--mute-audio")


def tmpdir_problem() -> str | None:
    """Why ``$TMPDIR`` cannot hold the browser's profile, or None when it can (or is unset).

    Python's tempfile would quietly put the profile in /tmp instead, which is
    not what the setting says, so a broken setting is named up front rather
    than worked around.
    """
    value = os.environ.get("TMPDIR")
    if not value:
        return None
    if not os.path.isdir(value):
        why = "does not exist" if not os.path.lexists(value) else "is not a directory"
    elif not os.access(value, os.W_OK | os.X_OK):
        why = "is not writable"
    else:
        return None
    return (f"TMPDIR {value!r} {why}, and report.png's browser keeps its profile there: "
            "create it, or point TMPDIR at a writable directory (or unset it)")


#: The longest TMPDIR (in bytes) Chromium starts in: it makes a socket below
#: it, and a socket's path has 108 bytes at most.  Past this it aborts with
#: nothing but its zygote's "Broken pipe", leaving a directory behind.
TMPDIR_MAX = 62
_PROFILE_PREFIX = "coherence-chromium-"


def _profile_parent() -> str:
    """Where the throwaway profile goes: the temp directory, unless its path is too long.

    The profile is also Chromium's TMPDIR, so that whatever it makes there
    goes with the profile; a temp directory too deep for that gives way to
    /tmp.
    """
    tmp = tempfile.gettempdir()
    # The profile's own name: the prefix, 8 random characters and a slash.
    if len(os.fsencode(tmp)) + len(_PROFILE_PREFIX) + 9 <= TMPDIR_MAX:
        return tmp
    return "/tmp" if os.access("/tmp", os.W_OK | os.X_OK) else tmp


def find() -> str | None:
    """The Chromium binary on PATH, or None."""
    for name in NAMES:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    #: The browser's pid, which was also its process group's id.
    pid: int
    code: int | None
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def console(self) -> list[str]:
        """What the page wrote to its console (chromium logs it as CONSOLE lines)."""
        return [line for line in self.stderr.splitlines() if ":CONSOLE" in line]


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _stop(proc: subprocess.Popen[str]) -> None:
    # The browser's helpers (zygote, renderer, GPU) share its process group.
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc.pid, signal.SIGKILL)


def _communicate(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """``proc.communicate(timeout)``, cut short by a stop signal."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or interrupt.requested() is not None:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        try:
            return proc.communicate(timeout=min(0.2, left))
        except subprocess.TimeoutExpired:
            continue


def run(binary: str, *args: str, timeout: float = TIMEOUT) -> Outcome:
    """Run one headless browser to completion, or kill its group at ``timeout``.

    A stop signal (see :mod:`harness.interrupt`) counts as a timeout: the
    group is killed at once and the profile removed.
    """
    book = ledger()
    # A helper still exiting may write into the profile while it is removed.
    with tempfile.TemporaryDirectory(prefix=_PROFILE_PREFIX, dir=_profile_parent(),
                                     ignore_cleanup_errors=True) as profile:
        book.directory(Path(profile))
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
        # Its sockets and its dconf settings would otherwise outlive it in the
        # user's temp and runtime directories.
        env = {**os.environ, "HOME": profile, "TMPDIR": profile, "XDG_RUNTIME_DIR": profile}
        with book.starting():
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True, env=env,
                                    start_new_session=True, preexec_fn=set_pdeathsig)
            book.spawned(proc, what="chromium")
        timed_out = False
        try:
            out, err = _communicate(proc, timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(proc)
            try:
                out, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                # Only a process that left the group could hold the pipes now.
                proc.kill()
                out, err = proc.communicate()
        else:
            # A helper left behind by a browser that did exit goes with it.
            _signal_group(proc.pid, signal.SIGKILL)
        book.reaped(proc.pid)
    book.forget_directory(Path(profile))
    return Outcome(pid=proc.pid, code=None if timed_out else proc.returncode, stdout=out,
                   stderr=err, timed_out=timed_out)


def screenshot(html: Path, png: Path, *, height: int, binary: str | None = None,
               timeout: float = TIMEOUT) -> str | None:
    """Write ``png`` from ``html``; None on success, else why it was not written."""
    binary = binary or find()
    if binary is None:
        return "chromium not found on PATH"
    if (problem := tmpdir_problem()) is not None:
        return problem
    png.unlink(missing_ok=True)
    try:
        outcome = run(binary, f"--screenshot={png}", f"--window-size={WIDTH},{height}",
                      html.resolve().as_uri(), timeout=timeout)
    except OSError as exc:
        return f"could not start {binary}: {exc}"
    if outcome.timed_out:
        return f"{binary} took longer than {timeout:g}s and was stopped"
    if not png.is_file():
        tail = outcome.stderr.strip().splitlines()[-1:] or ["no output"]
        return f"{binary} exited {outcome.code} without writing it: {tail[0]}"
    return None

