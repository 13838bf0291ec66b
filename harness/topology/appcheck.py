"""Is ``--app`` a Flask app, and which cache would the harness drive?  Asked before any boot.

Gunicorn reports an app that is not a WSGI application, or that fails to
import, only as workers that never answer, after the boot timeout.  Asking
first turns that into one line in about half a second.  The app is loaded
in a child process (:func:`harness.worker.routes.describe`, gunicorn's own loader), so
the harness's own process never runs user code; the answer says whether the
app installs the harness routes itself (the sample apps) or is a *foreign*
app, and for a foreign one its Flask-Caching instances and their settings.

The probe (:mod:`harness.worker.appprobe`) runs in a session and process
group of its own, with a marker of its own in its environment, and every
wait on it is bounded.  Whatever it leaves behind -- a child that called
``setsid`` and kept the output open, a daemon, a thread that would keep it
alive -- is stopped, by group, by marker and by the pipes it holds, and is
what the refusal names.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import interrupt
from ..errors import BootError, UsageError, shorten
from ..worker.protocol import ROUTE_PREFIX
from .backends import OLD_ALIASES
from .processes import ledger, reap_killed, set_pdeathsig
from .procfs import all_pids, environ_has, kill, start_time, stat_fields
from .tree import search_path
from .workerpath import PACKAGE
from .workerpath import directory as worker_directory

#: Importing Flask, Flask-Caching and a small app takes about 0.4 s here.
PROBE_TIMEOUT = 10.0
#: How long the probe's output may stay open after it exited: any longer, and
#: a process it started holds it.
AFTER_EXIT = 0.3
#: How long the probe may take to exit once it answered: any longer, and a
#: thread of the app's or an exit handler keeps it alive, as it would a worker.
AFTER_ANSWER = 1.0
#: How long the processes the probe left are given to go once killed.
KILL_WAIT = 1.0
#: Marks every process the probe starts, as :data:`processes.RUN_ENV` marks a run's.
PROBE_ENV = "COHERENCE_APP_CHECK"

_PROBE = f"from {PACKAGE}.appprobe import main; main()"
#: werkzeug's import_string() refusal of a CACHE_TYPE Flask-Caching prefixed
#: with its backends package (flask_caching/__init__.py:284-287).
_OLD_ALIAS = re.compile(r"import_string\(\) failed for 'flask_caching\.backends\.(\w+)'")


@dataclass(frozen=True, kw_only=True)
class AppInfo:
    """What the probe found out about ``--app``."""

    app: str
    #: False for an app that installs the harness routes itself (the sample apps).
    foreign: bool
    #: The Flask-Caching instance a foreign app is driven through, and its backend
    #: (a CACHE_TYPE name, or an import path for a custom class).
    cache: str | None = None
    cache_type: str | None = None
    #: That instance's CACHE_* settings, as the app configures them.
    cache_config: dict[str, Any] = field(default_factory=dict)
    #: The full import path of the class its Flask-Caching made the cache from.
    cache_class: str | None = None


@dataclass(kw_only=True)
class _Seen:
    """What the check saw of its probe."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    stderr: bytes = b""
    #: The probe's wait status once it exited (it is not reaped until the end).
    exit: os.waitid_result | None = None
    timed_out: bool = False
    #: It answered, but did not exit within :data:`AFTER_ANSWER`.
    lingered: bool = False

    @property
    def answer(self) -> dict[str, Any] | None:
        return next((line["answer"] for line in self.lines if "answer" in line), None)

    @property
    def phase(self) -> str:
        return next((line["phase"] for line in reversed(self.lines) if "phase" in line), "app")


@dataclass(frozen=True)
class _Left:
    """A process the probe started that outlived it."""

    pid: int
    start: int
    holds_output: bool


def check_app(app: str, app_root: Path, *, cache: str | None = None,
              backends: Sequence[str] = (), memoized: Sequence[str] = (),
              samples: dict[str, Any] | None = None,
              timeout: float = PROBE_TIMEOUT, python: str | None = None) -> AppInfo | None:
    """Probe ``app`` (``mod:name`` or ``mod:factory()``); raise UsageError for a bad one.

    ``backends`` are custom backends' import paths, ``memoized`` the
    targets ``samples`` may name, each checked in the probe too.  ``python``
    is the app's interpreter (``--python``), the harness's own when None.
    Returns None when a stop signal ended the check before it could tell.
    """
    # ledger() first: it puts the run's marker in the environment copied here.
    tag = f"{ledger().token}-{uuid.uuid4().hex[:8]}"
    # The workers' environment, less the FLASK_* settings the harness sets:
    # a foreign app is probed with the config it will run with.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(worker_directory()), *search_path(
        app_root, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
    env[PROBE_ENV] = tag
    request = json.dumps({"app": app, "cache": cache, "backends": list(backends),
                          "targets": list(memoized), "samples": samples or {},
                          "marker": f"{PROBE_ENV}={tag}"})
    answer_r, answer_w = os.pipe()
    try:
        with ledger().starting():
            proc = subprocess.Popen([python or sys.executable, "-c", _PROBE, str(answer_w),
                                     request],
                                    cwd=app_root, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    pass_fds=(answer_w,), start_new_session=True,
                                    preexec_fn=set_pdeathsig)
            ledger().spawned(proc, what="app check")
    except BaseException:
        os.close(answer_r)
        raise
    finally:
        os.close(answer_w)
    assert proc.stdout is not None and proc.stderr is not None
    pipes = [answer_r, proc.stdout.fileno(), proc.stderr.fileno()]
    # Its answer's pipe too: a process that keeps that one alone is still the probe's.
    inodes = [os.fstat(fd).st_ino for fd in pipes]
    try:
        seen = _watch(proc.pid, pipes, timeout)
    finally:
        try:
            left = _stop(proc, tag, inodes)
        finally:
            os.close(answer_r)
            if proc.poll() is not None:
                ledger().reaped(proc.pid)
    if seen is None:
        return None
    return _conclude(app, cache, seen, left, timeout)


def _watch(pid: int, pipes: list[int], timeout: float) -> _Seen | None:
    """Read the probe's answer and output until it exited and its output closed.

    Every wait is bounded: by ``timeout`` in all, and by :data:`AFTER_EXIT`
    for output that a process the probe started still holds.  None when a
    stop signal came first.
    """
    answer_fd, _, err_fd = pipes
    seen = _Seen()
    buffers = {fd: bytearray() for fd in pipes}
    deadline = time.monotonic() + timeout
    exited_at: float | None = None
    answered_at: float | None = None
    with selectors.DefaultSelector() as sel:
        for fd in pipes:
            sel.register(fd, selectors.EVENT_READ)
        while True:
            if interrupt.requested() is not None:
                return None
            now = time.monotonic()
            if exited_at is None:
                try:
                    seen.exit = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                except ChildProcessError:  # reaped by someone else: gone, status unknown
                    exited_at = now
                if seen.exit is not None:
                    exited_at = now
            output = [fd for fd in pipes[1:] if sel.get_map().get(fd) is not None]
            if exited_at is not None and (not output or now - exited_at > AFTER_EXIT):
                break
            if answered_at is None and b'{"answer": ' in buffers[answer_fd]:
                answered_at = now
            if exited_at is None and answered_at is not None \
                    and now - answered_at > AFTER_ANSWER:
                seen.lingered = True
                break
            if now >= deadline:
                seen.timed_out = seen.exit is None
                break
            for key, _ in sel.select(min(0.05, deadline - now)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                elif len(buffers[key.fd]) < 1 << 20:
                    buffers[key.fd] += chunk
        for key in list(sel.get_map().values()):
            _drain(key.fd, buffers[key.fd])  # what came with the exit, without waiting
    for raw in bytes(buffers[answer_fd]).splitlines():
        try:
            seen.lines.append(json.loads(raw))
        except ValueError:
            continue
    seen.stderr = bytes(buffers[err_fd])
    return seen


def _drain(fd: int, buffer: bytearray) -> None:
    os.set_blocking(fd, False)
    try:
        while len(buffer) < 1 << 20 and (chunk := os.read(fd, 65536)):
            buffer += chunk
    except BlockingIOError:
        pass


def _stop(proc: subprocess.Popen[bytes], tag: str, inodes: list[int]) -> list[_Left]:
    """Kill the probe's group and every process it started; return those that outlived it.

    They are found by the probe's marker in their environment, or by one of
    the probe's pipes among their descriptors: a child that left the
    probe's session (``setsid``) or process group is not in the group.
    """
    marker = f"{PROBE_ENV}={tag}".encode()
    left = [p for p in _started_by(marker, inodes) if p.pid != proc.pid]
    try:
        # The leader is not reaped yet (waitid WNOWAIT): its group id is still ours.
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in left:
        if start_time(p.pid) == p.start:
            kill(p.pid, signal.SIGKILL)
    # A process the first scan missed (started a moment later) is found now.
    known = {p.pid for p in left} | {proc.pid}
    late = [p for p in _started_by(marker, inodes) if p.pid not in known]
    for p in late:
        kill(p.pid, signal.SIGKILL)
    left += late
    deadline = time.monotonic() + KILL_WAIT
    while any(_running(p) for p in left) and time.monotonic() < deadline:
        time.sleep(0.01)
    reap_killed(proc, timeout=KILL_WAIT)
    return left


def _started_by(marker: bytes, inodes: list[int]) -> list[_Left]:
    """Processes with ``marker`` or a pipe of ``inodes`` (answer, stdout, stderr)."""
    answer = f"pipe:[{inodes[0]}]"
    output = {f"pipe:[{i}]" for i in inodes[1:]}
    found = []
    for pid in all_pids():
        try:
            links = {_readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        start = start_time(pid)
        holds = bool(links & output)
        if (environ_has(pid, marker) or holds or answer in links) and start is not None:
            found.append(_Left(pid=pid, start=start, holds_output=holds))
    return found


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _running(p: _Left) -> bool:
    rest = stat_fields(p.pid)
    return bool(rest) and rest[0] != "Z" and int(rest[19]) == p.start


def _conclude(app: str, cache: str | None, seen: _Seen, left: list[_Left],
              timeout: float) -> AppInfo:
    """The app's info, or the one line that says what went wrong, and how to fix it."""
    answer = seen.answer
    if answer is None:
        raise BootError(_no_answer(app, seen, timeout))
    info = _judge(app, cache, answer)
    if answer.get("problem"):
        raise UsageError(answer["problem"])
    took = f"--app {shorten(app)} imported in {answer.get('import_s', 0):.2f} s, but"
    if left:
        p = next((p for p in left if p.holds_output), left[0])
        # The import that started it: the app's, or a --backend's or --memoized's after it.
        culprit = answer.get("spawned", {}).get(str(p.pid), "app")
        if culprit != "app":
            took = f"{shorten(culprit, quote=False)} imported, but"
        what = ("a child process it started (pid {}) kept the output open" if p.holds_output
                else "a process it started (pid {}) was still running after the import"
                ).format(p.pid)
        more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
        who = "an app" if culprit == "app" else "a module"
        raise UsageError(f"{took} {what}{more}; the check stopped it; processes {who} starts "
                         "at import escape the workers the harness stops: start them outside "
                         "the app, or in a gunicorn hook such as post_fork")
    if seen.lingered and answer.get("threads"):
        names = shorten(", ".join(map(repr, answer["threads"])), quote=False)
        raise UsageError(f"{took} left a non-daemon thread running ({names}), which keeps "
                         "each worker from exiting when gunicorn stops it; start it with "
                         "threading.Thread(..., daemon=True), or after the fork")
    if seen.lingered:
        raise UsageError(f"{took} did not exit within {AFTER_ANSWER:g} s of answering, so "
                         "a worker would not exit when gunicorn stops it; look for an "
                         "atexit handler that blocks")
    return info


def _no_answer(app: str, seen: _Seen, timeout: float) -> str:
    phase = seen.phase
    what = f"--app {shorten(app)}" if phase == "app" else phase
    if seen.timed_out:
        return (f"{what} did not finish importing within {timeout:g}s; check that importing "
                "it does not block (e.g. on a network call)")
    last = (seen.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
    said = f"; its last words: {last}" if last else ""
    exit = seen.exit
    if exit is not None and exit.si_code == os.CLD_EXITED:
        how, look = (f"exit status {exit.si_status}", "look for os._exit() or sys.exit() "
                     "called at import (in a thread, or by a library it imports)")
    else:
        how = (f"signal {signal.Signals(exit.si_status).name}" if exit is not None
               else "status unknown")
        look = "look for a crash in a C extension it imports, or a signal the import sends"
    return (f"{what} ended the check's process while being imported ({how}), before it "
            f"could answer{said}; importing must not end the process: {look}")


def _judge(app: str, cache: str | None, answer: dict[str, Any]) -> AppInfo:
    shown = shorten(app)  # a 100 kB --app would bury the line
    if "error" in answer:
        alias = _OLD_ALIAS.search(answer["error"])
        if alias and alias.group(1) in OLD_ALIASES:
            name = alias.group(1)
            raise UsageError(f"app {shown} failed to import: its CACHE_TYPE {name!r} is an "
                             "alias the installed Flask-Caching no longer has (2.5 removed "
                             f"them); set CACHE_TYPE to {OLD_ALIASES[name]!r}, the class it "
                             "named")
        call = "calling the factory or " if app.rstrip().endswith(")") else ""
        error = shorten(answer["error"], 200, quote=False)
        raise UsageError(f"app {shown} failed to import: {error}; fix the error in "
                         f"{call}the module, or the module path (run from the project's "
                         "root, give --chdir DIR, or add its directory to PYTHONPATH)")
    if not answer["flask"]:
        kind = shorten(answer["type"], quote=False)
        raise UsageError(f"--app {shown} is a {kind}, not a Flask app; point "
                         "--app at MODULE:NAME of a flask.Flask instance (or "
                         "'MODULE:create_app()'), e.g. apps.demo:app")
    if answer["installed"]:
        if cache is not None:
            raise UsageError(f"--cache {shorten(cache)} is for apps that do not install the "
                             f"harness routes themselves; {shown} does: drop --cache")
        return AppInfo(app=app, foreign=False)
    if answer["collisions"]:
        routes = shorten(", ".join(answer["collisions"]), quote=False)
        raise UsageError(f"app {shown} has routes of its own under {ROUTE_PREFIX} "
                         f"({routes}), where the harness adds its "
                         "routes; rename them")
    found = {c["name"]: c for c in answer["caches"]}
    names = shorten(", ".join(found), quote=False)
    if not found:
        raise UsageError(f"app {shown} has no Flask-Caching instance (app.extensions['cache'] "
                         "is empty); create one with Cache(app), or cache.init_app(app) in "
                         "the factory")
    if cache is None and len(found) > 1:
        raise UsageError(f"app {shown} has {len(found)} Flask-Caching instances "
                         f"({names}); choose one with --cache NAME, "
                         f"e.g. --cache {shorten(next(iter(found)), quote=False)}")
    name = cache if cache is not None else next(iter(found))
    if name not in found:
        raise UsageError(f"--cache {shorten(name)} is not a Flask-Caching instance of {shown}; "
                         f"use one of: {names}")
    return AppInfo(app=app, foreign=True, cache=name, cache_type=found[name]["type"],
                   cache_config=found[name]["config"], cache_class=found[name].get("class"))
