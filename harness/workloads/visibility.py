"""Visibility: every worker writes fresh keys; every worker reads them all.

Rounds are repeated so that each worker writes several times: a backend
that drops one write in two is then caught with near certainty (see
:func:`rounds_for`), and the report states how many writes and reads
stood behind the verdict.

Each key belongs to one client (``Meta.client``), a user whose requests
gunicorn may hand to any worker: the client writes on one worker and
reads on every worker.  After the rounds, each client overwrites its
first key through the *next* worker and reads it on every worker, starting
with the one that took the overwrite.  That gives the session checkers
(:mod:`harness.checkers.session`) a second version to read in order, and
the sharing verdict one more write per worker to judge: a store per
worker still answers ``per-worker`` (the overwriter reads the new value,
nobody else does), a shared one ``shared``.  It costs ``n`` writes and
``n * n`` reads for ``n`` workers, plus settle polls for reads that miss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..client import WorkerClient
from ..history.names import Phase
from ..history.ops import History, Meta
from .keys import Keyspace
from .settle import PendingRead, settle

#: Writes needed so that a fault hitting each write with probability 1/2
#: goes unseen with probability 2**-10 < 0.1 %.
MIN_TRIALS = 10


def rounds_for(workers: int, trials: int = MIN_TRIALS) -> int:
    """Rounds so that at least ``trials`` writes happen, every worker writing."""
    return max(1, math.ceil(trials / max(1, workers)))


def _write_and_read(history: History, writer: WorkerClient, readers: Sequence[WorkerClient],
                    key: str, value: str, meta: Meta) -> list[PendingRead]:
    """``writer`` sets ``key``; each reader reads it once; the reads still waiting for it."""
    history.add(writer.op("set", key, value=value, meta=meta))
    pending = []
    for reader in readers:
        op = history.add(reader.op("get", key, meta=meta))
        if op.type == "ok" and op.value != value:
            pending.append(PendingRead(client=reader, key=key, want=value, meta=meta))
    return pending


def run(workers: Sequence[WorkerClient], *, settle_window: float,
        rounds: int | None = None) -> History:
    keys = Keyspace("visibility")
    history = History()
    pending: list[PendingRead] = []
    first: dict[int, str] = {}
    for _ in range(rounds if rounds is not None else rounds_for(len(workers))):
        for writer in workers:
            key = keys.fresh(f"w{writer.index}")
            first.setdefault(writer.index, key)
            pending += _write_and_read(history, writer, workers, key, keys.value(),
                                       Meta(client=writer.index))
    # Reads waiting for a value that is about to be overwritten would wait in vain.
    pending = [p for p in pending if p.key not in first.values()]
    n = len(workers)
    for i, owner in enumerate(workers):
        via = (i + 1) % n
        pending += _write_and_read(history, workers[via], [*workers[via:], *workers[:via]],
                                   first[owner.index], keys.value(),
                                   Meta(client=owner.index, phase=Phase.OVERWRITE))
    settle(pending, history, window=settle_window)
    return history
