"""The ``stampede`` workloads: K concurrent requests for one cold key, across every worker.

Per trial, a fresh key is requested by :data:`PER_WORKER` clients on every
worker's private socket at once (released together by a barrier, as the
race scenarios do), then once more on each worker, one at a time, to learn
whether anything was stored.  The same is done for the seed's plain
cache-aside route and its ``@cache.cached`` and ``@cache.memoize`` twins
(``apps/user.py``).  Every slow call returns a fresh generation id, so a
trial's distinct ids among the concurrent replies are its slow calls.

Ops: ``f = "stampede:<variant>"``, ``key`` the cold name, ``value`` the
generation id, ``meta.trial`` the trial; the sequential reads after the
wave have ``meta.phase = "after"``; the memoize warm-up has ``meta.warm``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from ..client import WorkerClient
from ..history.names import Phase
from ..history.ops import History, Meta, Op
from .concurrent import together, trials_for
from .features import call
from .keys import Keyspace

#: The route of each variant, by the scenario id that reports it.
ROUTES = {"stampede": "/user/{}", "stampede-cached": "/user-cached/{}",
          "stampede-memoize": "/user-memo/{}"}
#: Concurrent requests per worker: two, so that a worker that serves its
#: requests one at a time (sync) is told apart from one whose threads or
#: greenlets race each other too (gthread, gevent).
PER_WORKER = 2
#: The smallest per-trial chance of a stampede the scenario is sized to
#: see: with K >= 4 requests released within a few ms and a 50 ms slow
#: call, by hand every trial on every shared backend had one; 0.5 leaves
#: room for a machine so loaded that one worker finishes before another starts.
MIN_RATE = 0.5
#: Trials so that such a stampede goes unseen with probability below 0.1 %.
TRIALS = trials_for(rate=MIN_RATE)


def op_name(variant: str) -> str:
    return f"stampede:{variant}"


def run(workers: Sequence[WorkerClient], variant: str, *, trials: int = TRIALS,
        per_worker: int = PER_WORKER) -> History:
    route = ROUTES[variant]
    f = op_name(variant)
    keys = Keyspace(variant)
    history = History()
    if variant == "stampede-memoize":
        # memoize keeps one version key per function; its first use stores
        # it, racing like any miss.  Stored once here, so the trials measure
        # the stampede on their own key, not the function's first use.
        warm = keys.fresh("warm")
        op = call(workers[0], f, "GET", route.format(warm), key=warm, trial=-1)
        history.add(replace(op, meta=Meta(trial=-1, warm=True)))
    for t in range(trials):
        name = keys.fresh(f"t{t}")
        url = route.format(name)
        steps = [partial(_one, w, f, url, name, t) for w in workers for _ in range(per_worker)]
        for op in together(steps):
            history.add(op)
        for w in workers:
            op = call(w, f, "GET", url, key=name, trial=t)
            history.add(replace(op, meta=Meta(trial=t, phase=Phase.AFTER)))
    history.notes.append({"variant": variant, "route": route, "trials": trials,
                          "requests_per_trial": per_worker * len(workers),
                          "per_worker": per_worker, "workers": len(workers),
                          "min_rate": MIN_RATE})
    return history


def _one(w: WorkerClient, f: str, url: str, name: str, trial: int) -> list[Op]:
    return [call(w, f, "GET", url, key=name, trial=trial)]
