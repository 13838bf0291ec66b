"""Clear blast radius: what else does one app's ``clear()`` wipe?

Two apps share one backend: the *clearing* app and a *neighbour* app with
another ``CACHE_KEY_PREFIX``, plus a *foreign* entry that no Flask app
wrote, put straight into the storage (a raw Redis or memcached client, or
a file in the cache directory).  Each round writes fresh keys in all
three, reads them back, calls ``clear()`` once in the clearing app, and
reads them all again.  Ops carry ``args["app"]`` (clearing, neighbour,
foreign) and ``args["phase"]`` (before, after) for the checker.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..client import WorkerClient
from ..history import History, Op
from ..topology.storage import Storage
from .keys import Keyspace

#: Rounds of write, read, clear, read; each clear is one trial.
ROUNDS = 3
#: Fresh keys per app per round.
KEYS_PER_ROUND = 4
#: The foreign entries are recorded as this process, with this pid.
FOREIGN_PROCESS = -1


def _raw(storage: Storage, f: str, key: str, **args: object) -> Op:
    start = time.monotonic()
    try:
        if f == "set":
            storage.put(key, str(args["value"]))
            value: object = True
        else:
            value = storage.get(key)
    except Exception as exc:  # noqa: BLE001 - any client error is an unjudgeable op
        # The call returned, but whether the storage applied it is unknown.
        return Op(process=FOREIGN_PROCESS, pid=0, f=f, key=key, args=dict(args), type="info",
                  error=f"{type(exc).__name__}: {exc}", start=start, end=time.monotonic())
    return Op(process=FOREIGN_PROCESS, pid=0, f=f, key=key, args=dict(args), type="ok",
              value=value, start=start, end=time.monotonic())


def run(clearer: WorkerClient, neighbours: Sequence[WorkerClient], storage: Storage | None, *,
        rounds: int = ROUNDS, per_round: int = KEYS_PER_ROUND) -> History:
    keys = Keyspace("blast")
    history = History()
    for r in range(rounds):
        written: list[tuple[str, str, str, WorkerClient | None]] = []
        for n in range(per_round):
            k, v = keys.fresh(f"a{r}-{n}"), keys.value()
            history.add(clearer.op("set", k, value=v, app="clearing", phase="write"))
            written.append(("clearing", k, v, clearer))
            for w in neighbours:
                k, v = keys.fresh(f"b{r}-{n}-w{w.index}"), keys.value()
                history.add(w.op("set", k, value=v, app="neighbour", phase="write"))
                written.append(("neighbour", k, v, w))
            if storage is not None:
                # No prefix of either app: a neighbour that is not Flask-Caching.
                k, v = f"foreign-{keys.fresh(f'{r}-{n}')}".replace(":", "-"), keys.value()
                history.add(_raw(storage, "set", k, value=v, app="foreign", phase="write"))
                written.append(("foreign", k, v, None))
        for phase in ("before", "after"):
            if phase == "after":
                history.add(clearer.op("clear", None, app="clearing", phase="clear"))
            for app, k, v, reader in written:
                if reader is not None:
                    history.add(reader.op("get", k, want=v, app=app, phase=phase))
                elif storage is not None:
                    history.add(_raw(storage, "get", k, want=v, app=app, phase=phase))
    return history
