"""Plain key operations across workers: overwrite, delete, clear and ttl.

Each workload repeats its step until at least :data:`MIN_TRIALS` of the
operation under test have happened, with every worker taking its turn as
writer, deleter or clearer, so an intermittent fault (say, one delete in two
silently ignored) is caught with probability above 99.9 %.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..client import WorkerClient
from ..history.names import Phase
from ..history.ops import History, Meta
from .keys import Keyspace
from .settle import PendingRead, settle
from .visibility import rounds_for

#: Seconds a ttl key lives.
TTL = 2
#: Extra seconds allowed after expiry: FileSystemCache and memcached keep
#: expiry times in whole seconds, so a key may outlive its TTL by up to 1 s.
TTL_TOLERANCE = 1.0


def _read_all(workers: Sequence[WorkerClient], key: str, history: History,
              want: object, pending: list[PendingRead]) -> None:
    for reader in workers:
        op = history.add(reader.op("get", key))
        if op.type == "ok" and op.value != want:
            pending.append(PendingRead(client=reader, key=key, want=want))


#: What a trial does to the keys it wrote: returns what every read must then see.
Change = Callable[[list[str]], object]


def _by_neighbours(workers: Sequence[WorkerClient], name: str, *, settle_window: float,
                   change: Callable[[History, Keyspace, WorkerClient], Change]) -> History:
    """One trial per worker per round: it writes, and the next worker changes its keys."""
    keys, history = Keyspace(name), History()
    pending: list[PendingRead] = []
    n = len(workers)
    for _ in range(rounds_for(n)):
        for i, first in enumerate(workers):
            _trial(history, workers, keys, [first],
                   change(history, keys, workers[(i + 1) % n]), pending)
    settle(pending, history, window=settle_window)
    return history


def overwrite(workers: Sequence[WorkerClient], *, settle_window: float) -> History:
    """Set v1 on w_i, read everywhere, overwrite with v2 on w_(i+1), read everywhere."""

    def set_v2(history: History, keys: Keyspace, w: WorkerClient) -> Change:
        def change(written: list[str]) -> object:
            v2 = keys.value("v2")
            history.add(w.op("set", written[0], value=v2))
            return v2
        return change

    return _by_neighbours(workers, "overwrite", settle_window=settle_window, change=set_v2)


def _trial(history: History, workers: Sequence[WorkerClient], keys: Keyspace,
           writers: Sequence[WorkerClient], change: Callable[[list[str]], object],
           pending: list[PendingRead]) -> None:
    """Write, read everywhere, change, read everywhere: one overwrite, delete or clear.

    The first reads warm any worker-local layer, so a stale copy there is
    caught by the second reads, which must all return what ``change``
    returns (the new value, or None once the keys are gone).
    """
    written = []
    for writer in writers:
        key = keys.fresh(f"w{writer.index}")
        history.add(writer.op("set", key, value=keys.value("v1")))
        written.append(key)
    for key in written:
        for reader in workers:
            history.add(reader.op("get", key, meta=Meta(warm=True)))
    want = change(written)
    for key in written:
        _read_all(workers, key, history, want, pending)


def delete(workers: Sequence[WorkerClient], *, settle_window: float) -> History:
    """Set on w_i, read everywhere, delete on w_(i+1), read everywhere."""

    def delete_all(history: History, keys: Keyspace, d: WorkerClient) -> Change:
        def change(written: list[str]) -> None:
            for k in written:
                history.add(d.op("delete", k))
        return change

    return _by_neighbours(workers, "delete", settle_window=settle_window, change=delete_all)


def clear(workers: Sequence[WorkerClient], *, settle_window: float) -> History:
    """Every worker writes a key, one worker (in turn) clears, all read all keys."""
    keys, history = Keyspace("clear"), History()
    pending: list[PendingRead] = []
    n = len(workers)
    # One clear per round, so rounds (not writes) must reach MIN_TRIALS.
    for r in range(rounds_for(n) * n):
        clearer = workers[r % n]

        def clear_once(_written: list[str], c: WorkerClient = clearer) -> None:
            history.add(c.op("clear"))

        _trial(history, workers, keys, workers, clear_once, pending)
    settle(pending, history, window=settle_window)
    return history


def ttl(workers: Sequence[WorkerClient]) -> History:
    """Set keys with a 2 s timeout, read before expiry, wait, read after expiry.

    All keys are written first and share one wait, so the scenario costs one
    TTL plus tolerance however many trials it makes.
    """
    keys, history = Keyspace("ttl"), History()
    n = len(workers)
    written = []
    for _ in range(rounds_for(n)):
        for writer in workers:
            key = keys.fresh(f"w{writer.index}")
            history.add(writer.op("set", key, value=keys.value(), timeout=TTL))
            written.append(key)
            for reader in workers:
                history.add(reader.op("get", key, meta=Meta(phase=Phase.BEFORE)))
    last_set = max(op.end for op in history if op.f == "set")
    time.sleep(max(0.0, last_set + TTL + TTL_TOLERANCE - time.monotonic()))
    for key in written:
        for reader in workers:
            history.add(reader.op("get", key, meta=Meta(phase=Phase.AFTER)))
    return history
