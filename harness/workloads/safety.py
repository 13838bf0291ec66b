"""Failure safety: what the app answers on every worker while its cache server is down.

After Rails' cache failure-safety behaviours
(``activesupport/test/cache/behaviors/failure_safety_behavior.rb``): with
the server down a read returns nil, a write returns false and nothing
raises; and the store works again once the server is back.  Every worker
(one thread each: a sync worker serves one request at a time) goes
through the same phases, ``Meta.phase`` naming each:

* ``before``: ``set`` of its own key, ``get`` of it, and a cached view
  computed then read: proof the cache worked, so that any difference
  later is the outage's.
* ``outage(history)`` is entered: the nemesis takes the servers down.
* ``down``, :data:`ROUNDS` times: the cached view of the healthy phase
  (it must be computed again), ``get`` of the healthy key (it must answer
  the default, None) and ``set`` of a fresh key (it must answer False).
* The servers stay down until :data:`DOWN` seconds after the first kill,
  then ``outage`` is left and the nemesis starts them again.
* ``after``: rounds (``Meta.trial``) of ``set`` of a fresh key, ``get`` of
  it, and a fresh cached view computed then read, every :data:`POLL`
  seconds, until one round works end to end or :data:`RECOVER_WITHIN`
  seconds have passed since the servers were back.

Views are ops with ``f`` ``view:compute`` and ``view:read`` whose value is
the generation id the view returned (:mod:`harness.workloads.features`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import replace

from ..client import WorkerClient
from ..history.names import VIEW_COMPUTE, VIEW_READ, Phase
from ..history.ops import History, Meta, Op
from .features import call
from .keys import Keyspace

#: Probes of each question per worker while the servers are down.
ROUNDS = 2
#: Seconds from the first kill to the restart: the probes take far less on
#: every backend measured, so the outage is this long.  The sentinels, which
#: stay up, call nobody down meanwhile (down-after-milliseconds is 30 s):
#: the clients meet an outage, not a failover.
DOWN = 1.5
#: Seconds after the restart within which every worker must work again.
#: Measured: Redis within 0.2 s, Cluster within 2.2 s (its nodes agree on
#: cluster_state:ok again), Sentinel within 4.8 to 5.9 s (the restarted
#: replicas, which serve the reads, wait for a full resync that
#: redis-server starts repl-diskless-sync-delay = 5 s after a replica asks,
#: and a replica asks again only once a second); while python-memcached
#: skips a server it marked dead for 30 s, far beyond it.
RECOVER_WITHIN = 10.0
#: Pause between two recovery rounds on one worker.
POLL = 0.1


def view(worker: WorkerClient, name: str, f: str, phase: Phase, trial: int = 0) -> Op:
    """GET the sample app's cached view for ``name``; ``value`` is the generation it returned."""
    op = call(worker, f, "GET", f"/feat/view/{name}", key=name, trial=trial)
    return replace(op, meta=replace(op.meta, phase=phase))


def run(workers: Sequence[WorkerClient],
        outage: Callable[[History], AbstractContextManager[object]], *, rounds: int = ROUNDS,
        down_for: float = DOWN, recover_within: float = RECOVER_WITHIN) -> History:
    """The phases in the module docstring, on every worker at once."""
    history = History()
    lock = threading.Lock()
    keys = Keyspace("safety")
    own = {w.index: (keys.fresh(f"w{w.index}"), keys.fresh(f"view-w{w.index}")) for w in workers}

    def add(op: Op) -> Op:
        with lock:
            history.add(op)
        return op

    def healthy(w: WorkerClient) -> None:
        key, name = own[w.index]
        add(w.op("set", key, value=keys.value(f"w{w.index}"), meta=Meta(phase=Phase.BEFORE)))
        add(w.op("get", key, meta=Meta(phase=Phase.BEFORE)))
        add(view(w, name, VIEW_COMPUTE, Phase.BEFORE))
        add(view(w, name, VIEW_READ, Phase.BEFORE))

    def outage_probes(w: WorkerClient) -> None:
        key, name = own[w.index]
        for r in range(rounds):
            add(view(w, name, VIEW_READ, Phase.DOWN, trial=r))
            add(w.op("get", key, meta=Meta(phase=Phase.DOWN, trial=r)))
            add(w.op("set", keys.fresh(f"down-w{w.index}"), value=keys.value(f"w{w.index}"),
                     meta=Meta(phase=Phase.DOWN, trial=r)))

    def recover(w: WorkerClient, deadline: float) -> None:
        r = 0
        while True:
            key, value = keys.fresh(f"after-w{w.index}"), keys.value(f"w{w.index}")
            meta = Meta(phase=Phase.AFTER, trial=r)
            wrote = add(w.op("set", key, value=value, meta=meta))
            read = add(w.op("get", key, meta=meta))
            name = keys.fresh(f"after-view-w{w.index}")
            computed = add(view(w, name, VIEW_COMPUTE, Phase.AFTER, trial=r))
            again = add(view(w, name, VIEW_READ, Phase.AFTER, trial=r))
            if (wrote.type == "ok" and wrote.value is True and read.type == "ok"
                    and read.value == value and computed.type == again.type == "ok"
                    and again.value == computed.value):
                return
            if time.monotonic() >= deadline:
                return
            r += 1
            time.sleep(POLL)

    with ThreadPoolExecutor(max_workers=len(workers),
                            thread_name_prefix="coherence-client-safety") as pool:
        list(pool.map(healthy, workers))
        started = time.monotonic()
        with outage(history):
            list(pool.map(outage_probes, workers))
            time.sleep(max(0.0, started + down_for - time.monotonic()))
        deadline = time.monotonic() + recover_within
        list(pool.map(lambda w: recover(w, deadline), workers))
    return history
