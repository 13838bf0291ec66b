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

from gunicorn.sock import UnixSocket

_DIR = os.environ["COHERENCE_SOCKET_DIR"]

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
