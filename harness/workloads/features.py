"""Cached views and memoized functions, computed on one worker and read on all.

``apps/features.py`` returns a fresh generation id whenever a decorated
body really runs, so a read that returns the id computed on worker *i* is
a cache hit of *i*'s result.  Each sub-feature gets a fresh key per trial
and every worker takes a turn as the one that computes:

* ``compute`` on worker *i*, then ``read`` on every worker *j*;
* for features with an invalidation: ``held`` (read again on every *j*,
  to learn what *j* had cached), ``forget`` on *i*, ``after`` on every *j*.

On a backend that writes to a master and reads from replicas, every step
that writes (a compute, an invalidation, a reset) is followed by the
scenario's ``barrier``, which returns once the replicas have the write: the
reads then meet the write they follow, so a matrix shows how keys are
shared and not how fast the replicas were (that lag is ``visibility``'s
question, with its settle window).  Elsewhere the barrier does nothing.

Ops are recorded with ``f = "<feature>:<phase>"``, ``key`` = the fresh
token, ``value`` = the generation id, and ``args`` holding the trial, the
what was sent in ``args``, and the trial, the invalidation used and any
reply fields the checker reports in ``meta``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from ..client import WorkerClient, exchange
from ..history.names import Feature, Step, feature_op
from ..history.ops import History, Meta, Op
from ..topology.storage import no_barrier
from .keys import Keyspace
from .visibility import rounds_for

#: The app the feature scenarios serve instead of the demo service.
FEATURES_APP = "apps.features:app"

#: Waits until replicas have every write so far (see the module docstring).
Barrier = Callable[[], None]

#: Added to the TTL a CachedResponse reports before expiry is checked:
#: FileSystemCache and memcached store whole-second expiry times, so an
#: entry may outlive its TTL by up to a second (cachelib keeps expiry as
#: int(time()) + timeout).
EXPIRY_MARGIN = 1.0


def call(worker: WorkerClient, f: str, method: str, url: str, payload: Any = None, *,
         key: str, trial: int, how: str | None = None, observe: Sequence[str] = ()) -> Op:
    """One request to any app route, recorded like :meth:`WorkerClient.op`.

    ``value`` is the reply's generation id (``gen``), or its ``result`` for
    routes that compute nothing; ``observe`` names reply fields copied into
    ``meta.observed`` as evidence.  ``args`` holds what was sent.
    """
    args: dict[str, Any] = {"url": url, "method": method}
    if payload is not None:
        args["payload"] = payload
    ex = exchange(worker.socket_path, worker.pid, method, url, payload)
    kind, error = ex.type, ex.error
    if kind == "ok" and "gen" not in ex.body and "result" not in ex.body:
        # The route ran; what it did is unknown.
        kind, error = "info", f"reply has neither 'gen' nor 'result': {ex.body!r}"
    observed = {name: ex.body.get(name) for name in observe} if observe and ex.body else None
    return Op(process=worker.index, pid=worker.pid, f=f, key=key, args=args,
              meta=Meta(trial=trial, how=how, observed=observed), type=kind,
              value=ex.body.get("gen", ex.body.get("result")), error=error,
              answered=ex.answered, start=ex.start, end=ex.end)


def _spread(history: History, workers: Sequence[WorkerClient], feature: Feature, step: Step,
            url: str, *, key: str, trial: int, observe: Sequence[str] = ()) -> None:
    for w in workers:
        history.add(call(w, feature_op(feature, step), "GET", url, key=key, trial=trial,
                         observe=observe))


def _compute_and_read(history: History, workers: Sequence[WorkerClient], origin: WorkerClient,
                      feature: Feature, url: str, *, key: str, trial: int, barrier: Barrier,
                      observe: Sequence[str] = ()) -> None:
    history.add(call(origin, feature_op(feature, Step.COMPUTE), "GET", url, key=key,
                     trial=trial, observe=observe))
    barrier()
    _spread(history, workers, feature, Step.READ, url, key=key, trial=trial, observe=observe)


def _forget_round(history: History, workers: Sequence[WorkerClient], origin: WorkerClient,
                  feature: Feature, url: str, forget_url: str, *, key: str, trial: int,
                  barrier: Barrier, how: str | None = None) -> None:
    _compute_and_read(history, workers, origin, feature, url, key=key, trial=trial,
                      barrier=barrier)
    _spread(history, workers, feature, Step.HELD, url, key=key, trial=trial)
    history.add(call(origin, feature_op(feature, Step.FORGET), "POST", forget_url, key=key,
                     trial=trial, how=how))
    barrier()
    _spread(history, workers, feature, Step.AFTER, url, key=key, trial=trial)


def _trials(keys: Keyspace, workers: Sequence[WorkerClient], rounds: int | None
            ) -> Iterator[tuple[int, WorkerClient, Callable[[], str]]]:
    """Each trial of each origin worker in turn, with a maker of fresh keys for that origin."""
    for t in range(rounds if rounds is not None else rounds_for(len(workers))):
        for origin in workers:
            yield t, origin, partial(keys.fresh, f"w{origin.index}")


def run_cached_view(workers: Sequence[WorkerClient], *, rounds: int | None = None,
                    sleep: Callable[[float], None] = time.sleep,
                    barrier: Barrier = no_barrier) -> History:
    """The ``cached-view`` workload; waits once, for the CachedResponse TTL."""
    keys = Keyspace("cached-view")
    history = History()
    for t, origin, fresh in _trials(keys, workers, rounds):
        k = fresh()
        # Alternate the two ways a user invalidates a view: the 2.5 API and
        # the raw default key "view/<path>".
        how = "delete_cached" if (t + origin.index) % 2 == 0 else "delete"
        _forget_round(history, workers, origin, Feature.VIEW, f"/feat/view/{k}",
                      f"/feat/forget/view/{k}?how={how}", key=k, trial=t, how=how,
                      barrier=barrier)
        k = fresh()
        _compute_and_read(history, workers, origin, Feature.PLUGGABLE, f"/feat/pluggable/{k}",
                          key=k, trial=t, barrier=barrier)
        k = fresh()
        _compute_and_read(history, workers, origin, Feature.HELPER, f"/feat/helper?topic={k}",
                          key=k, trial=t, barrier=barrier)
        _post_body(history, workers, origin, fresh(), trial=t, barrier=barrier)
        _unless(history, workers, origin, fresh(), trial=t, barrier=barrier)
    _cached_response(history, workers, keys, sleep=sleep, barrier=barrier)
    return history


def _post_body(history: History, workers: Sequence[WorkerClient], origin: WorkerClient,
               k: str, *, trial: int, barrier: Barrier) -> None:
    url = "/feat/search"
    history.add(call(origin, feature_op(Feature.POST_BODY, Step.COMPUTE),
                     "POST", url, {"q": k, "trial": trial},
                     key=k, trial=trial))
    barrier()
    for w in workers:
        # Same body with its keys in the other order: the key must not care.
        history.add(call(w, feature_op(Feature.POST_BODY, Step.READ),
                         "POST", url, {"trial": trial, "q": k},
                         key=k, trial=trial))
        # A body never sent before must be computed, never served from cache.
        history.add(call(w, feature_op(Feature.POST_BODY, Step.OTHER), "POST", url,
                         {"q": k, "trial": trial, "other": w.index}, key=k, trial=trial))


def _unless(history: History, workers: Sequence[WorkerClient], origin: WorkerClient,
            k: str, *, trial: int, barrier: Barrier) -> None:
    url = f"/feat/unless/{k}"
    history.add(call(origin, feature_op(Feature.UNLESS, Step.COMPUTE),
                     "GET", url, key=k, trial=trial))
    barrier()
    for w in workers:
        # The bypassed call runs the body and must not overwrite the cached
        # entry, which the plain read right after it would reveal.
        history.add(call(w, feature_op(Feature.UNLESS, Step.BYPASS),
                         "GET", url + "?bypass=1", key=k, trial=trial))
        history.add(call(w, feature_op(Feature.UNLESS, Step.READ), "GET", url, key=k, trial=trial))


def _cached_response(history: History, workers: Sequence[WorkerClient], keys: Keyspace, *,
                     sleep: Callable[[float], None], barrier: Barrier) -> None:
    """Every worker computes one short-lived entry; one wait; every worker re-reads all."""
    fresh: list[str] = []
    for origin in workers:
        k = keys.fresh(f"w{origin.index}")
        fresh.append(k)
        _compute_and_read(history, workers, origin, Feature.CACHED_RESPONSE, f"/feat/short/{k}",
                          key=k, trial=0, observe=("ttl",), barrier=barrier)
    ttls = [(op.meta.observed or {}).get("ttl") for op in history
            if op.f == feature_op(Feature.CACHED_RESPONSE, Step.COMPUTE) and op.type == "ok"]
    ttl = max((float(t) for t in ttls if isinstance(t, int | float)), default=0.0)
    if ttl <= 0:
        return  # nothing was cached with a TTL; the checker reports the failed ops
    sleep(ttl + EXPIRY_MARGIN)
    for k in fresh:
        _spread(history, workers, Feature.CACHED_RESPONSE, Step.EXPIRED, f"/feat/short/{k}",
                key=k, trial=0)


def run_memoize(workers: Sequence[WorkerClient], *, rounds: int | None = None,
                barrier: Barrier = no_barrier) -> History:
    """The ``memoize`` workload: functions, methods and classmethods, with deletes."""
    keys = Keyspace("memoize")
    history = History()
    for t, origin, fresh in _trials(keys, workers, rounds):
        k = fresh()
        _forget_round(history, workers, origin, Feature.FUNCTION, f"/memo/f/{k}",
                      f"/memo/f/forget/{k}", key=k, trial=t, barrier=barrier)
        k = fresh()
        _forget_round(history, workers, origin, Feature.FUNCTION_ALL, f"/memo/f/{k}",
                      "/memo/f/forget", key=k, trial=t, barrier=barrier)
        k = fresh()
        _forget_round(history, workers, origin, Feature.ITEM, f"/memo/item/{k}",
                      f"/memo/item/{k}/forget", key=k, trial=t, barrier=barrier)
        k = fresh()
        _forget_round(history, workers, origin, Feature.CLASSMETHOD, f"/memo/cls/{k}",
                      f"/memo/cls/forget/{k}", key=k, trial=t, barrier=barrier)
        # The default-repr gotcha: keys contain the instance's address.
        k = fresh()
        _compute_and_read(history, workers, origin, Feature.SINGLETON,
                          f"/memo/plain/singleton/{k}",
                          key=k, trial=t, observe=("caller", "instance"), barrier=barrier)
        k = fresh()
        _compute_and_read(history, workers, origin, Feature.PER_REQUEST,
                          f"/memo/plain/fresh/{k}",
                          key=k, trial=t, observe=("caller", "instance"), barrier=barrier)
    return history


def run_template_fragment(workers: Sequence[WorkerClient], *, rounds: int | None = None,
                          barrier: Barrier = no_barrier) -> History:
    """The ``template-fragment`` workload: ``{% cache %}`` keys and their deletion.

    The default-key fragment has one key for the whole template, so each of
    its trials first deletes it on every worker (each worker's own copy, on
    a per-worker backend) and then computes on one worker and reads on all.
    """
    keys = Keyspace("template-fragment")
    history = History()
    for t, origin, fresh in _trials(keys, workers, rounds):
        k = fresh()
        for w in workers:
            history.add(call(w, feature_op(Feature.FRAGMENT_DEFAULT, Step.RESET),
                             "POST", "/frag/default/reset",
                             key=k, trial=t, observe=("key",)))
        barrier()
        _compute_and_read(history, workers, origin, Feature.FRAGMENT_DEFAULT, "/frag/default",
                          key=k, trial=t, barrier=barrier)
        k = fresh()
        _forget_round(history, workers, origin, Feature.FRAGMENT_NAMED,
                      f"/frag/card/{k}?lang=en",
                      f"/frag/card/{k}/forget?lang=en", key=k, trial=t,
                      how="make_template_fragment_key", barrier=barrier)
        for w in workers:
            # The same name and token with another vary-on value is another
            # fragment: it must render afresh, never come from the cache.
            history.add(call(w, feature_op(Feature.FRAGMENT_NAMED, Step.OTHER), "GET",
                             f"/frag/card/{k}?lang=w{w.index}", key=k, trial=t))
        k = fresh()
        _forget_round(history, workers, origin, Feature.FRAGMENT_DEL, f"/frag/card/{k}?lang=de",
                      f"/frag/card/{k}/del?lang=de", key=k, trial=t, how="del",
                      barrier=barrier)
        k = fresh()
        _compute_and_read(history, workers, origin, Feature.FRAGMENT_NONE, f"/frag/forever/{k}",
                          key=k, trial=t, barrier=barrier)
    return history
