"""The cached-view, memoize and template-fragment checkers' verdicts, on hand-built histories.

Histories are built the way :mod:`harness.workloads.features` records them,
from a small model of the cache: ``shared`` (one store), ``per-worker`` (a
store per worker) or ``none`` (nothing stored), so each verdict branch is
reached by the behaviour it names rather than by hand-placed values.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from histories import Ops

from harness.checkers import Facts, safely
from harness.checkers.features import (
    CACHED_VIEW_MATRICES,
    MEMOIZE_MATRICES,
    TEMPLATE_FRAGMENT_MATRICES,
    check_cached_view,
    check_memoize,
    check_template_fragment,
    forget_matrix,
    hit_matrix,
)
from harness.history.ops import History, Op

PIDS = [101, 102, 103]
FACTS = Facts(pids=tuple(PIDS))
N = len(PIDS)


class Model:
    """A cache as a backend of the given kind would behave, one store per scope."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.stores: dict[int, dict[str, str]] = {}
        self.ids = itertools.count()
        self.clock = itertools.count()
        self._op = Ops(pids=PIDS, took=0.5)

    def _store(self, worker: int) -> dict[str, str] | None:
        if self.kind == "none":
            return None
        return self.stores.setdefault(0 if self.kind == "shared" else worker, {})

    def fresh(self, worker: int) -> str:
        return f"{PIDS[worker]}-{next(self.ids)}"

    def get(self, worker: int, key: str, *, cached: bool = True) -> str:
        store = self._store(worker) if cached else None
        if store is not None and key in store:
            return store[key]
        value = self.fresh(worker)
        if store is not None:
            store[key] = value
        return value

    def forget(self, worker: int, key: str) -> None:
        store = self._store(worker)
        if store is not None:
            store.pop(key, None)

    def op(self, worker: int, f: str, key: str, value: Any, **meta: Any) -> Op:
        """An ``ok`` op of ``worker``, one tick of this model's clock after the last."""
        return self._op(f, key, value, process=worker, at=float(next(self.clock)), **meta)


def _matrix(h: History, m: Model, feature: str, key: str, origin: int,
            forget: bool = False) -> None:
    h.add(m.op(origin, f"{feature}:compute", key, m.get(origin, key)))
    for j in range(N):
        h.add(m.op(j, f"{feature}:read", key, m.get(j, key)))
    if forget:
        for j in range(N):
            h.add(m.op(j, f"{feature}:held", key, m.get(j, key)))
        m.forget(origin, key)
        h.add(m.op(origin, f"{feature}:forget", key, True, how="delete_cached"))
        for j in range(N):
            h.add(m.op(j, f"{feature}:after", key, m.get(j, key)))


def cached_view_history(kind: str, *, ttl_wait: float = 2.0,
                        tweak: Callable[[History, Model], None] | None = None) -> History:
    m = Model(kind)
    h = History()
    for origin in range(N):
        for feature in CACHED_VIEW_MATRICES:
            key = f"{feature}-{origin}"
            _matrix(h, m, feature, key, origin, forget=feature == "view")
            for j in range(N):
                if feature == "unless":
                    h.add(m.op(j, "unless:bypass", key, m.get(j, key, cached=False)))
                if feature == "post-body":
                    h.add(m.op(j, "post-body:other", key, m.get(j, f"{key}-other-{j}")))
        h.add(m.op(origin, "cached-response:compute", f"short-{origin}",
                   m.get(origin, f"short-{origin}"), observed={"ttl": 1}))
        for j in range(N):
            h.add(m.op(j, "cached-response:read", f"short-{origin}",
                       m.get(j, f"short-{origin}")))
    m.clock = itertools.count(int(next(m.clock) + ttl_wait))
    m.stores.clear()  # the TTL passed: every entry expired
    for origin in range(N):
        for j in range(N):
            h.add(m.op(j, "cached-response:expired", f"short-{origin}",
                       m.get(j, f"short-{origin}")))
    if tweak is not None:
        tweak(h, m)
    return h


def memoize_history(kind: str, *, singleton_same_repr: bool = False) -> History:
    m = Model(kind)
    h = History()
    for origin in range(N):
        for feature in MEMOIZE_MATRICES:
            _matrix(h, m, feature, f"{feature}-{origin}", origin, forget=True)
        for feature in ("singleton", "per-request"):
            key = f"{feature}-{origin}"
            # Default repr: the key includes an address, modelled per worker.
            for j in [origin, *range(N)]:
                caller = "<Plain at 0x1>" if singleton_same_repr else f"<Plain at 0x{j}>"
                store_key = key + (caller if feature == "singleton" else m.fresh(j))
                phase = "compute" if j == origin and not any(
                    op.key == key and op.f.endswith(":compute") for op in h) else "read"
                h.add(m.op(j, f"{feature}:{phase}", key, m.get(j, store_key),
                           observed={"caller": caller}))
    return h


@pytest.mark.parametrize("kind, verdict", [
    ("shared", "shared"), ("per-worker", "per-worker"), ("none", "none"),
])
def test_cached_view_verdict_follows_the_cache_model(kind: str, verdict: str) -> None:
    v = check_cached_view(cached_view_history(kind), FACTS)
    assert v.verdict == verdict, v.evidence
    assert v.evidence["waited_s"] >= 1.0
    assert v.evidence["cached-response"]["expired"] == N * N
    assert set(v.evidence["sharing"].values()) == {verdict}


def test_per_worker_invalidation_leaves_other_workers_stale() -> None:
    v = check_cached_view(cached_view_history("per-worker"), FACTS)
    forget = v.evidence["view:forget"]
    assert forget["matrix"] == [["x", "S", "S"], ["S", "x", "S"], ["S", "S", "x"]]
    assert (forget["cleared"], forget["stale"]) == (N, N * (N - 1))


def test_nothing_cached_makes_every_invalidation_vacuous() -> None:
    v = check_cached_view(cached_view_history("none"), FACTS)
    assert v.evidence["view:forget"]["vacuous"] == N * N
    assert v.evidence["view:forget"]["matrix"] == [["."] * N] * N


def _replace(h: History, index: int, **changes: Any) -> None:
    old = h.ops[index]
    h.ops[index] = replace(old, **changes)


def test_unless_serving_a_cached_value_is_partial() -> None:
    def served_cached(h: History, m: Model) -> None:
        i = next(n for n, op in enumerate(h) if op.f == "unless:bypass")
        compute = next(op for op in h if op.f == "unless:compute" and op.key == h.ops[i].key)
        _replace(h, i, value=compute.value)

    v = check_cached_view(cached_view_history("shared", tweak=served_cached), FACTS)
    assert v.verdict == "partial"
    assert v.evidence["violations"] == ["unless did not bypass the cache"]
    assert v.evidence["unless"]["bypass"]["fresh"] == N * N - 1


def test_other_post_body_hitting_the_cache_is_partial() -> None:
    def collided(h: History, m: Model) -> None:
        i = next(n for n, op in enumerate(h) if op.f == "post-body:other")
        compute = next(op for op in h if op.f == "post-body:compute")
        _replace(h, i, value=compute.value)

    v = check_cached_view(cached_view_history("shared", tweak=collided), FACTS)
    assert v.verdict == "partial"
    assert v.evidence["violations"] == ["a different POST body was served from cache"]


def test_cached_response_outliving_its_ttl_is_partial() -> None:
    def kept(h: History, m: Model) -> None:
        i = next(n for n, op in enumerate(h) if op.f == "cached-response:expired")
        compute = next(op for op in h if op.f == "cached-response:compute"
                       and op.key == h.ops[i].key)
        _replace(h, i, value=compute.value)

    v = check_cached_view(cached_view_history("shared", tweak=kept), FACTS)
    assert v.verdict == "partial"
    assert v.evidence["cached-response"]["expired"] == N * N - 1


def test_one_feature_disagreeing_is_partial() -> None:
    def helper_local(h: History, m: Model) -> None:
        # The helper's reads on other workers miss, as a per-process key would.
        for n, op in enumerate(h):
            if op.f == "helper:read" and op.key != f"helper-{op.process}":
                _replace(h, n, value=f"fresh-{n}")

    v = check_cached_view(cached_view_history("shared", tweak=helper_local), FACTS)
    assert v.verdict == "partial"
    assert v.evidence["sharing"]["helper"] == "per-worker"
    assert v.evidence["sharing"]["view"] == "shared"


def test_a_trial_with_a_non_ok_op_is_dropped_and_the_pass_is_unknown() -> None:
    h = cached_view_history("shared")
    _replace(h, 3, type="info", error="HTTP 500")
    v = safely(check_cached_view, h, FACTS)
    assert v.verdict == "unknown"
    assert v.evidence["op_counts"]["info"] == 1


def test_reading_before_the_ttl_passed_is_unknown() -> None:
    v = safely(check_cached_view, cached_view_history("shared", ttl_wait=0), FACTS)
    assert v.verdict == "unknown"
    assert "TTL" in v.evidence["checker_error"]


def test_crashing_checker_is_unknown() -> None:
    v = safely(check_cached_view, cached_view_history("shared"),
               Facts(pids=tuple(PIDS[:1])))
    assert v.verdict == "unknown"
    assert "checker_error" in v.evidence


def test_empty_history_is_unknown_not_a_pass() -> None:
    assert safely(check_memoize, History(), FACTS).verdict == "unknown"


@pytest.mark.parametrize("kind, verdict", [
    ("shared", "shared"), ("per-worker", "per-worker"), ("none", "none"),
])
def test_memoize_verdict_follows_the_cache_model(kind: str, verdict: str) -> None:
    v = check_memoize(memoize_history(kind), FACTS)
    assert v.verdict == verdict, v.evidence
    assert v.evidence["trials_per_feature"] == N


def test_default_repr_differing_per_worker_is_reported_not_judged() -> None:
    v = check_memoize(memoize_history("shared"), FACTS)
    assert v.verdict == "shared"
    singleton = v.evidence["default_repr"]["singleton"]
    assert singleton["pattern"] == "per-worker"
    assert singleton["same_repr_in_all_workers"] is False
    assert singleton["distinct_instance_reprs"] == N
    assert v.evidence["default_repr"]["per-request"]["same_worker_hits"] == 0


def test_default_repr_singleton_with_one_address_is_shared() -> None:
    v = check_memoize(memoize_history("shared", singleton_same_repr=True), FACTS)
    assert v.evidence["default_repr"]["singleton"]["pattern"] == "shared"
    assert v.evidence["default_repr"]["singleton"]["same_repr_in_all_workers"] is True


def test_delete_memoized_that_does_not_cross_is_partial_on_a_shared_cache() -> None:
    h = memoize_history("shared")
    # Worker 2 keeps serving its copy after worker 0 deleted: the deletion stayed local.
    held = {op.key: op.value for op in h if op.f == "item:held" and op.process == 2}
    for n, op in enumerate(h):
        if op.f == "item:after" and op.process == 2 and op.key == "item-0":
            _replace(h, n, value=held[op.key])
    cls, evidence = forget_matrix(h, "item", N)
    assert cls == "partial"
    assert evidence["matrix"][0] == ["x", "x", "S"]
    assert check_memoize(h, FACTS).verdict == "partial"


def test_hit_matrix_marks_mixed_cells_with_counts() -> None:
    h = History()
    m = Model("shared")
    for origin in range(N):
        for trial in range(2):
            _matrix(h, m, "view", f"k{origin}-{trial}", origin)
    # Worker 1 missed worker 0's first result: one miss in two trials.
    n = next(n for n, op in enumerate(h) if op.f == "view:read" and op.process == 1)
    _replace(h, n, value="other")
    cls, evidence = hit_matrix(h, "view", N)
    assert cls == "partial"
    assert evidence["matrix"][0] == ["Y", "1/2", "Y"]
    assert evidence["cross_worker_hits"] == N * (N - 1) * 2 - 1


def fragment_history(kind: str) -> History:
    m = Model(kind)
    h = History()
    for origin in range(N):
        for feature in TEMPLATE_FRAGMENT_MATRICES:
            key = f"{feature}-{origin}"
            if feature == "fragment-default":
                for j in range(N):
                    m.forget(j, key)
                    h.add(m.op(j, "fragment-default:reset", key, True,
                               observed={"key": "_template_fragment_cache_default.html2"}))
            _matrix(h, m, feature, key, origin, forget=feature == "fragment-named")
            if feature == "fragment-named":
                for j in range(N):
                    h.add(m.op(j, "fragment-named:other", key, m.get(j, f"{key}-lang-{j}")))
        _matrix(h, m, "fragment-del", f"fragment-del-{origin}", origin, forget=True)
    return h


@pytest.mark.parametrize("kind", ["shared", "per-worker", "none"])
def test_template_fragment_verdict_follows_the_cache_model(kind: str) -> None:
    v = check_template_fragment(fragment_history(kind), FACTS)
    assert v.verdict == kind, v.evidence
    assert set(v.evidence["sharing"]) == {
        "fragment-default", "fragment-named", "fragment-none",
        "fragment-named:forget", "fragment-del:forget"}
    assert v.evidence["fragment-default"]["cache_keys"] == [
        "_template_fragment_cache_default.html2"]


def test_fragment_with_another_vary_on_value_served_from_cache_is_partial() -> None:
    h = fragment_history("shared")
    i = next(n for n, op in enumerate(h) if op.f == "fragment-named:other")
    compute = next(op for op in h if op.f == "fragment-named:compute")
    _replace(h, i, value=compute.value)
    v = check_template_fragment(h, FACTS)
    assert v.verdict == "partial"
    assert v.evidence["violations"] == [
        "a fragment with another vary-on value was served from cache"]
