"""Clear blast radius: what else does one app's ``clear()`` wipe?

Two apps share one backend: the *clearing* app and a *neighbour* app with
another ``CACHE_KEY_PREFIX``, plus a *foreign* entry that no Flask app
wrote, put straight into the storage (a raw Redis or memcached client, or
a file in the cache directory).  Each round writes fresh keys in all
three, reads them back, calls ``clear()`` once in the clearing app, and
reads them all again.  Ops carry ``meta.app`` and ``meta.phase`` (see
:mod:`.names`) for the checker.

A clearing app's entry still readable right after the clear is read again
until it is gone or the settle window ends, before the next round: on a
replicated backend the reads go to a replica, which applies the master's
deletes a moment later, and that lag is not the clear leaving the entry.
The checker judges each entry by its last read after the clear.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..client import WorkerClient
from ..history.names import App, Phase
from ..history.ops import History, Meta, Op
from ..topology.storage import Storage
from .keys import Keyspace
from .settle import DEFAULT_SETTLE, PendingRead, settle

#: Rounds of write, read, clear, read; each clear is one trial.
ROUNDS = 3
#: Fresh keys per app per round.  On a Redis Cluster, clear() lists keys
#: on one node only (redis/cluster.py routes KEYS to the default node), and
#: answers False when that node holds none of them; with 3 masters 24 keys
#: make that (2/3)**24 = 6e-5 per round, so the clear's answer is not a coin.
KEYS_PER_ROUND = 24
#: The foreign entries are recorded as this process, with this pid.
FOREIGN_PROCESS = -1


def _raw(storage: Storage, f: str, key: str, meta: Meta, **args: object) -> Op:
    start = time.monotonic()
    try:
        if f == "set":
            storage.put(key, str(args["value"]))
            value: object = True
        else:
            value = storage.get(key)
    except Exception as exc:  # noqa: BLE001 - any client error is an unjudgeable op
        # The call returned, but whether the storage applied it is unknown.
        return Op(process=FOREIGN_PROCESS, pid=0, f=f, key=key, args=dict(args), meta=meta,
                  type="info",
                  error=f"{type(exc).__name__}: {exc}", start=start, end=time.monotonic())
    return Op(process=FOREIGN_PROCESS, pid=0, f=f, key=key, args=dict(args), meta=meta,
              type="ok",
              value=value, start=start, end=time.monotonic())


def run(clearer: WorkerClient, neighbours: Sequence[WorkerClient], storage: Storage | None, *,
        rounds: int = ROUNDS, per_round: int = KEYS_PER_ROUND,
        settle_window: float = DEFAULT_SETTLE) -> History:
    keys = Keyspace("blast")
    history = History()
    for r in range(rounds):
        written: list[tuple[App, str, str, WorkerClient | None]] = []
        left: list[PendingRead] = []
        for n in range(per_round):
            k, v = keys.fresh(f"a{r}-{n}"), keys.value()
            history.add(clearer.op("set", k, value=v,
                                   meta=Meta(app=App.CLEARING, phase=Phase.WRITE)))
            written.append((App.CLEARING, k, v, clearer))
            for w in neighbours:
                k, v = keys.fresh(f"b{r}-{n}-w{w.index}"), keys.value()
                history.add(w.op("set", k, value=v,
                                 meta=Meta(app=App.NEIGHBOUR, phase=Phase.WRITE)))
                written.append((App.NEIGHBOUR, k, v, w))
            if storage is not None:
                # No prefix of either app: a neighbour that is not Flask-Caching.
                k, v = f"foreign-{keys.fresh(f'{r}-{n}')}".replace(":", "-"), keys.value()
                history.add(_raw(storage, "set", k, Meta(app=App.FOREIGN, phase=Phase.WRITE),
                                 value=v))
                written.append((App.FOREIGN, k, v, None))
        for phase in (Phase.BEFORE, Phase.AFTER):
            if phase == Phase.AFTER:
                history.add(clearer.op("clear", None,
                                       meta=Meta(app=App.CLEARING, phase=Phase.CLEAR)))
            for app, k, v, reader in written:
                meta = Meta(want=v, app=app, phase=phase)
                if reader is not None:
                    op = history.add(reader.op("get", k, meta=meta))
                    if phase == Phase.AFTER and app == App.CLEARING and op.type == "ok" \
                            and op.value == v:
                        left.append(PendingRead(client=reader, key=k, want=None, meta=meta))
                elif storage is not None:
                    history.add(_raw(storage, "get", k, meta))
        settle(left, history, window=settle_window)
    return history
