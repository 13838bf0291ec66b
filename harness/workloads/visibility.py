"""Visibility: every worker writes fresh keys; every worker reads them all.

Rounds are repeated so that each worker writes several times: a backend
that drops one write in two is then caught with near certainty (see
:func:`rounds_for`), and the report states how many writes and reads
stood behind the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..client import WorkerClient
from ..history import History
from .keys import Keyspace
from .settle import PendingRead, settle

#: Writes needed so that a fault hitting each write with probability 1/2
#: goes unseen with probability 2**-10 < 0.1 %.
MIN_TRIALS = 10


def rounds_for(workers: int, trials: int = MIN_TRIALS) -> int:
    """Rounds so that at least ``trials`` writes happen, every worker writing."""
    return max(1, math.ceil(trials / max(1, workers)))


def run(workers: Sequence[WorkerClient], *, settle_window: float,
        rounds: int | None = None) -> History:
    keys = Keyspace("visibility")
    history = History()
    pending: list[PendingRead] = []
    for _ in range(rounds if rounds is not None else rounds_for(len(workers))):
        for writer in workers:
            key, value = keys.fresh(f"w{writer.index}"), keys.value()
            history.add(writer.op("set", key, value=value))
            for reader in workers:
                op = history.add(reader.op("get", key))
                if op.type == "ok" and op.value != value:
                    pending.append(PendingRead(client=reader, key=key, want=value))
    settle(pending, history, window=settle_window)
    return history
