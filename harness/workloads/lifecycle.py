"""Worker lifecycle: what a cache holds across a worker's replacement and a fork.

* :func:`restart`: every worker writes, one worker is told to exit
  (SIGTERM to its own pid, as gunicorn's ``max_requests`` or a crash
  would end it), gunicorn forks a replacement, and the new worker, found
  by its new socket, reads every key.  Survivors re-read their own keys.
* :func:`import_write`: with ``--preload`` the app is imported once in the
  master, so a value the app writes at import (``COHERENCE_IMPORT_WRITE``,
  see :func:`harness.worker.routes.install`) exists before the fork; every worker
  reads it and reports which process wrote it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence

from ..client import WorkerClient
from ..history.names import Phase, Role
from ..history.ops import History, Meta
from ..topology.gunicorn import Gunicorn
from .keys import Keyspace

#: Workers replaced per run, each a different one.
RESTARTS = 2
#: Keys each worker writes before a replacement: with 4 workers, 12 keys
#: per restart are read on the new worker.
KEYS_PER_WORKER = 3


def restart(gunicorn: Gunicorn, *, restarts: int = RESTARTS,
            per_worker: int = KEYS_PER_WORKER) -> History:
    keys = Keyspace("restart")
    history = History()
    for r in range(restarts):
        workers = list(gunicorn.workers)
        written: dict[int, list[tuple[str, str]]] = {}
        for w in workers:
            written[w.pid] = [(keys.fresh(f"r{r}-w{w.index}"), keys.value())
                              for _ in range(per_worker)]
            for k, v in written[w.pid]:
                history.add(w.op("set", k, value=v, meta=Meta(restart=r, phase=Phase.WRITE)))
                history.add(w.op("get", k, meta=Meta(want=v, restart=r, phase=Phase.BEFORE,
                                                     role=Role.WRITER)))
        victim = workers[r % len(workers)]
        started = time.monotonic()
        # Our own child's child, by its pid: gunicorn forks a replacement.
        os.kill(victim.pid, signal.SIGTERM)
        old = {w.pid for w in workers}
        gunicorn.workers = gunicorn.discover(count=len(workers), exclude={victim.pid})
        fresh = [w for w in gunicorn.workers if w.pid not in old]
        history.notes.append({"restart": r, "victim_pid": victim.pid,
                          "new_pids": [w.pid for w in fresh],
                          "replaced_in_s": round(time.monotonic() - started, 3)})
        for w in gunicorn.workers:
            role = Role.NEW if w.pid not in old else Role.SURVIVOR
            pairs = ([p for ps in written.values() for p in ps] if role == Role.NEW
                     else written[w.pid])
            for k, v in pairs:
                history.add(w.op("get", k, meta=Meta(want=v, restart=r, phase=Phase.AFTER,
                                                     role=role)))
    return history


def import_write(workers: Sequence[WorkerClient], key: str) -> History:
    """Every worker reads the value the app wrote while being imported."""
    history = History()
    for w in workers:
        history.add(w.op("get", key, meta=Meta(phase=Phase.IMPORT)))
    return history
