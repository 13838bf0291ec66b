"""invalidation-race: cold memoized and cached calls, invalidated by another worker mid-compute.

The sample app's race targets (``apps/race.py``: ``race_compute`` and
its twin ``race_compute_all``, ``RaceItem.token``, ``race_view``) stamp each
run of their body with a token and the worker's wall clock when it started,
then compute for ``RACE_COMPUTE`` seconds.  ``delete_memoized(fn)`` gets the
twin to itself: its version reset would orphan the entries of the other
trials running beside it, and hide their races.  A trial takes a fresh argument and one of the
app's invalidations (``GET /race/kinds``: ``delete_memoized(fn)``,
``delete_memoized(fn, x)``, ``delete_memoized(instance.method)``,
``cache.delete(view key)`` and, on Flask-Caching 2.5+, ``delete_cached``):

1. ``read``: a cold call on one worker, and, :data:`FORGET_AFTER` seconds
   later while that call computes, ``forget`` on another worker;
2. ``after``: once both returned (and the replicas hold every write), a
   read on every worker.

The workers are paired for each wave (0 with 1, 2 with 3, ...; roles swap
every wave), so ``len(workers) // 2`` trials run at once, released together.

Clocks: op times are the controller's ``time.monotonic()``; tokens carry
the worker's ``time.time()``.  Both wall clocks are the same host's
CLOCK_REALTIME, so the run records one pair (``wall - monotonic`` on the
controller, before and after) and every reply's own ``now``, which the
checker holds against its op's [start, end] to measure the error.

Ops: ``f`` from :class:`~harness.history.names.Race`, ``key`` the trial's
argument, ``value`` the token (``gen``) or the invalidation's result,
``meta.trial``, ``meta.how`` the invalidation, ``meta.observed`` the reply's
``started``/``pid``/``x``/``fresh``/``now``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from ..client import WorkerClient, exchange
from ..history.names import Race
from ..history.ops import History, Op
from ..topology.storage import no_barrier
from .concurrent import together, trials_for
from .features import Barrier, call

#: The smallest per-trial chance of a stale read the run is sized to see.
MIN_RATE = 0.05
#: Trials so that such a race goes unseen with probability below 0.1 %: 135.
TRIALS = trials_for(rate=MIN_RATE)
#: When the invalidation is sent after the cold read: inside the target's
#: 25 ms compute (apps/features.py RACE_COMPUTE), well after its token's stamp.
FORGET_AFTER = 0.01
#: The reply fields kept as evidence.
OBSERVED = ("started", "pid", "x", "fresh", "now")
ROUTES = {"memo": "/race/memo/{}", "memo-all": "/race/memo-all/{}", "item": "/race/item/{}",
          "view": "/race/view/{}"}


def clock_pair() -> float:
    """The controller's wall clock minus its monotonic clock, read back to back."""
    return time.time() - time.monotonic()


def kinds(worker: WorkerClient) -> dict[str, Any]:
    """The app's invalidations (``GET /race/kinds``), or why it has none."""
    ex = exchange(worker.socket_path, worker.pid, "GET", "/race/kinds")
    if ex.type != "ok" or not isinstance(ex.body.get("result"), list):
        return {"error": f"GET /race/kinds answered {ex.error or ex.body!r}; "
                         "the invalidation-race needs the sample app's race targets"}
    return dict(ex.body)


def run(workers: Sequence[WorkerClient], *, trials: int = TRIALS,
        barrier: Barrier = no_barrier) -> History:
    history = History()
    listed = kinds(workers[0])
    before = clock_pair()
    note: dict[str, Any] = {"trials": trials, "workers": len(workers), "min_rate": MIN_RATE,
                            "forget_after": FORGET_AFTER, "clock_pair_before": before}
    history.notes.append(note)
    if "error" in listed:
        note["error"] = listed["error"]
        return history
    hows: list[str] = listed["result"]
    routes: dict[str, str] = listed["routes"]
    note.update(invalidations=hows, delete_cached=listed.get("delete_cached"))
    if len(workers) < 2:
        note["error"] = "one worker: no other worker to invalidate from"
        return history
    run_id = secrets.token_hex(3)
    pairs = len(workers) // 2
    trial = 0
    wave = 0
    while trial < trials:
        plan = []
        for p in range(min(pairs, trials - trial)):
            a, b = workers[2 * p], workers[2 * p + 1]
            reader, forgetter = (a, b) if wave % 2 == 0 else (b, a)
            how = hows[trial % len(hows)]
            plan.append((trial, f"{run_id}-{trial}", how, ROUTES[routes[how]], reader, forgetter))
            trial += 1
        steps = []
        for t, x, how, route, reader, forgetter in plan:
            steps.append(partial(_read, reader, Race.READ, route.format(x), x, t, how))
            steps.append(partial(_forget, forgetter, x, t, how))
        for op in together(steps):
            history.add(op)
        barrier()
        reads = [partial(_after, w, [(t, x, how, route) for t, x, how, route, *_ in plan])
                 for w in workers]
        for op in together(reads):
            history.add(op)
        wave += 1
    note["clock_pair_after"] = clock_pair()
    return history


def _read(w: WorkerClient, f: str, url: str, x: str, trial: int, how: str) -> list[Op]:
    return [call(w, f, "GET", url, key=x, trial=trial, how=how, observe=OBSERVED)]


def _forget(w: WorkerClient, x: str, trial: int, how: str) -> list[Op]:
    time.sleep(FORGET_AFTER)
    return [call(w, Race.FORGET, "POST", f"/race/forget/{x}", {"how": how}, key=x,
                 trial=trial, how=how, observe=("how", "now"))]


def _after(w: WorkerClient, plan: list[tuple[int, str, str, str]]) -> list[Op]:
    return [call(w, Race.AFTER, "GET", route.format(x), key=x, trial=t, how=how,
                 observe=OBSERVED) for t, x, how, route in plan]
