"""Gunicorn config file that gives every worker a private unix socket.

Gunicorn hands connections on its shared listener to whichever worker
accepts first, so a client cannot choose who answers.  Here each worker also
listens on ``$COHERENCE_SOCKET_DIR/w-<pid>.sock``; a request sent there is
always answered by that pid, which is what lets a scenario say "set on
worker 1, get on worker 3".

Loaded with ``gunicorn -c <this file>``; it must not import the harness,
because it runs inside gunicorn's own interpreter.
"""

import ctypes
import importlib
import os
import signal
from typing import Any

import gunicorn.config
from gunicorn.sock import UnixSocket

_DIR = os.environ["COHERENCE_SOCKET_DIR"]

# gunicorn 25.1 and later open a control socket, by default
# $XDG_RUNTIME_DIR/gunicorn.ctl (gunicorn/config.py, _get_default_control_socket
# and ControlSocket): one path for every gunicorn of a run, and left behind by a
# master that is SIGKILLed.  It goes in this instance's work directory (the
# parent of the socket directory), which the harness removes.  Older gunicorns
# have no such setting, and skip unknown names in a config file anyway
# (gunicorn/app/base.py:139-142 in 20.1).  Everything else here is as old as
# the floor, gunicorn 20.1: UnixSocket(addr, conf, log) (gunicorn/sock.py:105),
# post_fork, and worker_exit from spawn_worker's finally (gunicorn/arbiter.py:604-608).
if hasattr(gunicorn.config, "ControlSocket"):
    control_socket = os.path.join(os.path.dirname(_DIR), "gunicorn.ctl")

# Libraries every worker imports, imported once here, in the master, so
# each forked worker finds them loaded instead of importing them again.
# Only modules: the app, its Cache and every client connection are still
# made in each worker after the fork (unless --preload), exactly as before.
for _name in filter(None, os.environ.get("COHERENCE_PREIMPORT", "").split(",")):
    importlib.import_module(_name)


def _path(pid: int) -> str:
    return os.path.join(_DIR, f"w-{pid}.sock")


def post_fork(server: object, worker: Any) -> None:
    # A worker whose master is SIGKILLed would otherwise serve on until its
    # next parent check; PR_SET_PDEATHSIG (1) ends it with the master.
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))
    # post_fork, not post_worker_init: the sync worker fixes the set of
    # sockets it waits on before post_worker_init runs.
    path = _path(os.getpid())
    tmp = path + ".tmp"
    sock = UnixSocket(tmp, worker.cfg, worker.log)
    # Bind under a temporary name, then rename: the harness treats the
    # socket's appearance as "this worker exists", so it must never see a
    # half-created one.
    os.replace(tmp, path)
    worker.sockets.append(sock)


def worker_exit(server: object, worker: Any) -> None:
    try:
        os.unlink(_path(worker.pid))
    except OSError:
        pass
    _leave_quickly()


def _leave_quickly() -> None:
    """End a worker that is leaving normally without the interpreter's teardown.

    gunicorn calls ``worker_exit`` from the ``finally`` of its worker
    process (gunicorn/arbiter.py, ``spawn_worker``), while the worker's
    ``SystemExit`` is still in flight.  When that is ``sys.exit(0)``, the
    normal end after a graceful stop, the rest is Python's finalization:
    it touches every object the worker inherited from the master, copying
    each page on write, about 50 ms of CPU per worker (bench/README.md,
    "Cheaper steps", has the measurement).  The app's ``atexit``
    handlers (logging's flush among them) still run, and the standard
    streams are flushed; only objects left to their finalizers (a file the
    app never closed) miss them.  Any other exit, such as the boot errors
    whose status tells the master to halt (3, 4), goes the usual way.
    """
    import atexit
    import sys

    exc = sys.exc_info()[1]
    if not isinstance(exc, SystemExit) or exc.code not in (0, None):
        return
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if run_exitfuncs is None:
        return
    run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(0)
