"""app-views: each of the app's own cached views and memoized functions, across the workers.

For every target the first worker lists (:mod:`harness.worker.appviews`),
in this order, each call answering how often the undecorated function ran
in that worker:

1. ``warm``: a call on worker 0 (it learns the key a view uses there);
2. for each other worker *j*: ``reset``, the target invalidated on *j* and
   on worker 0, so that neither holds a copy of its own (from earlier
   traffic, or from another target that calls this one), then ``origin``,
   a call on worker 0, which must compute, and ``read``, a call on *j*:
   served from worker 0's result, or computed again?
3. ``again``: a call on worker 0: did it keep its own result?
4. for each worker *j*: ``forget`` on worker 0 (the app's way), then
   ``after`` on *j*: does *j* compute afresh?

The workers run the same code, so each finds the same targets by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..client import WorkerClient, request
from ..topology.storage import no_barrier
from ..worker.protocol import ROUTE_PREFIX, VIEW_ACTIONS
from .features import FEATURES_APP, Barrier

LIST, CALL, FORGET = VIEW_ACTIONS

#: The arguments the sample app's memoized targets are called with, when it is the app.
SAMPLE_ARGS: dict[str, Any] = {
    "apps.features:compute": ["a"], "apps.features:Plain.value": ["a"],
    "apps.features:PriceList.price": [3], "apps.features:NamedPriceList.price": [3],
    "apps.features:Registry.lookup": ["a"],
}


def samples(*, app: str, sample_args: dict[str, Any]) -> dict[str, Any]:
    """The user's ``--sample-args``, with the sample app's own beneath them."""
    return {**SAMPLE_ARGS, **sample_args} if app == FEATURES_APP else dict(sample_args)


def ask(worker: WorkerClient, body: dict[str, Any]) -> dict[str, Any]:
    """One ``POST <prefix>/views``; a reply the harness could not read is ``unanswered``."""
    try:
        reply = request(worker.socket_path, "POST", f"{ROUTE_PREFIX}/views", body)
    except OSError as exc:
        return {"pid": worker.pid, "unanswered": f"{type(exc).__name__}: {exc}"}
    if reply.status != 200 or not isinstance(reply.body, dict) or reply.pid != worker.pid:
        return {"pid": worker.pid,
                "unanswered": f"HTTP {reply.status} from pid {reply.pid}: {str(reply.body)[:200]}"}
    return reply.body


def run(workers: Sequence[WorkerClient], *, memoized: Sequence[str],
        samples: dict[str, Any], barrier: Barrier = no_barrier) -> dict[str, Any]:
    """The listing and every target's steps: what :func:`harness.checkers.appviews.check` judges.

    ``barrier`` returns once the backend's replicas hold every write so far
    (RedisSentinelCache reads from replicas), so no step reads behind the last.
    """
    base = {"memoized": list(memoized), "samples": samples}
    first = workers[0]
    listing = ask(first, {**base, "do": LIST})
    if "targets" not in listing:
        return {"workers": [w.pid for w in workers], "listing": listing, "targets": []}
    out = []
    for target in listing["targets"]:
        record: dict[str, Any] = {**target, "steps": []}
        out.append(record)
        if "error" in target:
            continue
        plan = [("warm", first, CALL)]
        for w in workers[1:]:
            plan += [("reset", w, FORGET), ("reset", first, FORGET), ("origin", first, CALL),
                     ("read", w, CALL)]
        plan += [("again", first, CALL)]
        for w in workers:
            plan += [("forget", first, FORGET), ("after", w, CALL)]
        for phase, worker, do in plan:
            reply = ask(worker, {**base, "do": do, "name": target["name"]})
            record["steps"].append({"phase": phase, "do": do, **reply, "pid": worker.pid})
            barrier()
            if "error" in reply or "unanswered" in reply:
                break  # the first failure is the answer; the rest would repeat it
    return {"workers": [w.pid for w in workers], "targets": out}
