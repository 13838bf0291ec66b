"""The linearizability checker on hand-built histories: what it accepts, rejects and blames."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from harness.checkers.linearizable import check, classify
from harness.history.names import OpType
from harness.history.ops import History, Op
from harness.verdict import safely


def _op(process: int, f: str, key: str | None, start: float, end: float, result: object = None,
        *, type: OpType = "ok", pid: int | None = None, answered: bool = True,
        **args: object) -> Op:
    """An operation; ``args`` are the request's (value=..., delta=...)."""
    return Op(process=process, pid=100 + process if pid is None else pid, f=f, key=key,
              args=dict(args), type=type, value=result, start=start, end=end,
              answered=answered)


def _verdict(*ops: Op, **kwargs: Any) -> str:
    return check(History(ops=list(ops)), **kwargs).verdict


# --- histories that are linearizable -------------------------------------------------------


def test_sequential_writes_and_reads_hold() -> None:
    assert _verdict(
        _op(0, "set", "k", 0, 1, True, value="a"),
        _op(1, "get", "k", 2, 3, "a"),
        _op(1, "set", "k", 4, 5, True, value="b"),
        _op(0, "get", "k", 6, 7, "b"),
        _op(0, "delete", "k", 8, 9, True),
        _op(1, "get", "k", 10, 11, None),
    ) == "holds"


@pytest.mark.parametrize("seen", ["a", "b"])
def test_a_read_after_concurrent_writes_may_see_either(seen: str) -> None:
    assert _verdict(
        _op(0, "set", "k", 0, 2, True, value="a"),
        _op(1, "set", "k", 1, 3, True, value="b"),
        _op(2, "get", "k", 4, 5, seen),
    ) == "holds"


def test_reads_after_concurrent_writes_must_agree_on_the_order() -> None:
    assert _verdict(
        _op(0, "set", "k", 0, 2, True, value="a"),
        _op(1, "set", "k", 1, 3, True, value="b"),
        _op(2, "get", "k", 4, 5, "a"),
        _op(2, "get", "k", 6, 7, "b"),  # nothing wrote b after a was read
    ) == "violated"


def test_add_wins_only_on_an_absent_key_and_inc_counts_from_zero() -> None:
    assert _verdict(
        _op(0, "add", "k", 0, 1, True, value=10),
        _op(1, "add", "k", 2, 3, False, value=20),
        _op(1, "get", "k", 4, 5, 10),
        _op(0, "inc", "k", 6, 7, 13, delta=3),
        _op(1, "has", "k", 8, 9, True),
        _op(0, "inc", "n", 10, 11, 2, delta=2),  # absent counts as 0
    ) == "holds"


def test_delete_result_does_not_constrain_only_its_effect() -> None:
    # cachelib backends disagree on what delete returns; it must not matter.
    assert _verdict(
        _op(0, "set", "k", 0, 1, True, value="a"),
        _op(1, "delete", "k", 2, 3, False),
        _op(0, "has", "k", 4, 5, False),
    ) == "holds"


def test_clear_empties_every_key() -> None:
    base = [_op(0, "set", "a", 0, 1, True, value=1), _op(0, "set", "b", 2, 3, True, value=2),
            _op(1, "clear", None, 4, 5, True)]
    assert _verdict(*base, _op(0, "get", "a", 6, 7, None), _op(0, "get", "b", 6, 7, None)) \
        == "holds"
    assert _verdict(*base, _op(0, "get", "b", 6, 7, 2)) == "violated"


def test_touching_intervals_are_concurrent() -> None:
    write = _op(0, "set", "k", 0, 1, True, value="a")
    # The read was invoked at the instant the write returned: it may precede it.
    assert _verdict(write, _op(1, "get", "k", 1, 2, None)) == "holds"
    assert _verdict(write, _op(1, "get", "k", 1.001, 2, None)) == "violated"


def test_failed_ops_are_dropped() -> None:
    failed = _op(0, "set", "k", 0, 1, type="fail", value="a")
    assert _verdict(failed, _op(1, "get", "k", 2, 3, None)) == "holds"
    assert _verdict(failed, _op(1, "get", "k", 2, 3, "a")) == "violated"


# --- info: may have happened, at any time after its start -------------------------------------


def test_an_info_write_may_explain_a_later_read() -> None:
    assert _verdict(
        _op(0, "set", "k", 0, 1, True, value="a"),
        _op(1, "set", "k", 2, 3, type="info", answered=False, value="b"),
        _op(0, "get", "k", 10, 11, "a"),  # not yet, or never
        _op(0, "get", "k", 12, 13, "b"),  # now it has happened
    ) == "holds"


def test_an_info_write_happens_at_most_once() -> None:
    assert _verdict(
        _op(1, "set", "k", 0, 1, type="info", answered=False, value="b"),
        _op(0, "get", "k", 2, 3, "b"),
        _op(0, "set", "k", 4, 5, True, value="a"),
        _op(0, "get", "k", 6, 7, "b"),
    ) == "violated"


def test_info_ops_cannot_explain_a_value_nobody_wrote() -> None:
    assert _verdict(
        _op(1, "set", "k", 0, 1, type="info", answered=False, value="b"),
        _op(2, "inc", "k", 0, 1, type="info", answered=False, delta=1),
        _op(0, "get", "k", 2, 3, "c"),
    ) == "violated"


def test_an_info_write_cannot_take_effect_before_it_started() -> None:
    assert _verdict(
        _op(0, "get", "k", 0, 1, "b"),
        _op(1, "set", "k", 2, 3, type="info", answered=False, value="b"),
    ) == "violated"


def test_a_refused_set_is_treated_as_info() -> None:
    # cachelib's set answers False when the backend refused; it may still have stored.
    refused = _op(0, "set", "k", 0, 1, False, value="a")
    assert _verdict(refused, _op(1, "get", "k", 2, 3, None)) == "holds"
    assert _verdict(refused, _op(1, "get", "k", 2, 3, "a")) == "holds"


# --- the classic anomalies, and what the counterexample names ------------------------------


def test_stale_read_is_violated_and_the_counterexample_names_its_ops() -> None:
    ops = [_op(0, "set", "k", 2 * n, 2 * n + 1, True, value=n) for n in range(20)]
    ops += [_op(1, "get", "k", 2 * n + 0.5, 2 * n + 0.9, n) for n in range(20)]
    ops.sort(key=lambda op: op.end)
    ops.append(_op(1, "get", "k", 100, 101, 17))  # 19 was written last
    v = check(History(ops=ops))
    assert v.verdict == "violated"
    cx = v.evidence["counterexample"]
    saw19 = max(i for i, op in enumerate(ops) if op.value == 19 and op.f == "get")
    # The last sight of the newer value and the stale read.  The write of 17
    # is not added as a source: written before 19 was read, it would make
    # the read of 19 the contradiction, and the stale read look innocent.
    assert cx["ops"] == [saw19, len(ops) - 1]
    assert cx["culprits"] == [len(ops) - 1]
    assert (cx["initial"], cx["minimal"], cx["sources"]) == ("any", True, [])
    assert cx["verified"] is True
    assert "get('k') -> 17" in cx["describe"][-1]


def test_lost_update_two_incs_returning_one_is_violated() -> None:
    v = check(History(ops=[_op(0, "inc", "k", 0, 1, 1, delta=1),
                           _op(1, "inc", "k", 2, 3, 1, delta=1)]))
    assert v.verdict == "violated"
    assert v.evidence["counterexample"]["ops"] == [0, 1]


def test_concurrent_incs_returning_the_same_value_are_violated() -> None:
    assert _verdict(_op(0, "inc", "k", 0, 2, 1, delta=1),
                    _op(1, "inc", "k", 1, 3, 1, delta=1)) == "violated"


def test_two_winning_adds_on_a_fresh_key_are_violated() -> None:
    assert _verdict(_op(0, "add", "k", 0, 2, True, value="a"),
                    _op(1, "add", "k", 1, 3, True, value="b")) == "violated"


def test_a_read_of_a_value_nobody_wrote_is_blamed_with_the_write_it_missed() -> None:
    v = check(History(ops=[_op(0, "set", "k", 0, 1, True, value="a"),
                           _op(1, "get", "k", 2, 3, "zzz")]))
    assert v.evidence["counterexample"]["ops"] == [0, 1]


def test_a_first_read_of_a_value_nobody_wrote_is_blamed_alone() -> None:
    # Only an absent start makes this wrong, and the counterexample says so.
    v = check(History(ops=[_op(1, "get", "k", 0, 1, "zzz"),
                           _op(0, "set", "k", 2, 3, True, value="a")]))
    cx = v.evidence["counterexample"]
    assert (cx["ops"], cx["initial"]) == ([0], "absent")


def test_one_broken_key_is_enough_and_others_are_counted() -> None:
    v = check(History(ops=[_op(0, "set", "a", 0, 1, True, value=1),
                           _op(0, "get", "a", 2, 3, 1),
                           _op(0, "get", "b", 2, 3, "ghost")]))
    assert (v.verdict, v.evidence["keys"], v.evidence["violated_keys"]) == ("violated", 2, 1)
    assert v.evidence["counterexample"]["key"] == "b"


# --- budget: running out is unknown, never holds ------------------------------------------


def _pathological(writers: int = 16) -> list[Op]:
    """Concurrent distinct writes, then a read no order explains: every subset is a state."""
    ops = [_op(i, "set", "hot", 0, 1 + i / 100, True, value=i) for i in range(writers)]
    return ops + [_op(99, "get", "hot", 5, 6, "never")]


def test_spent_budget_is_unknown_with_the_reason() -> None:
    v = check(History(ops=_pathological()), max_steps_per_key=2_000)
    assert v.verdict == "unknown"
    assert v.evidence["unknown_keys"] == 1
    assert "budget" in v.evidence["reason"]


def test_a_linearizable_history_out_of_budget_is_unknown_not_holds() -> None:
    ops = [_op(0, "set", "k", 2 * n, 2 * n + 1, True, value=n) for n in range(10)]
    assert _verdict(*ops, max_steps=3) == "unknown"
    assert _verdict(*ops, deadline_s=0) == "unknown"


def test_a_proven_violation_beats_an_unknown_key() -> None:
    ops = _pathological() + [_op(0, "inc", "k", 0, 1, 1), _op(1, "inc", "k", 2, 3, 1)]
    v = check(History(ops=ops), max_steps_per_key=2_000)
    assert (v.verdict, v.evidence["unknown_keys"], v.evidence["violated_keys"]) \
        == ("violated", 1, 1)


def test_nothing_to_judge_is_unknown() -> None:
    v = check(History(ops=[_op(0, "set", "k", 0, 1, type="fail", value=1)]))
    assert v.verdict == "unknown"
    assert "nothing to judge" in v.evidence["reason"]


def test_an_op_outside_the_model_is_refused_and_safely_unknown() -> None:
    h = History(ops=[_op(0, "memoize:compute", "k", 0, 1, 1)])
    with pytest.raises(ValueError, match="'memoize:compute', outside the register model"):
        check(h)
    assert safely(check, h).verdict == "unknown"


# --- per worker ------------------------------------------------------------------------------


def _per_worker_register() -> History:
    """Each worker keeps its own dict: a write is seen only where it was made."""
    return History(ops=[
        _op(0, "set", "k", 0, 1, True, pid=1, value="a"),
        _op(1, "get", "k", 2, 3, None, pid=2),
        _op(0, "get", "k", 4, 5, "a", pid=1),
        _op(1, "set", "k", 6, 7, True, pid=2, value="b"),
        _op(0, "get", "k", 8, 9, "a", pid=1),
        _op(0, "clear", None, 10, 11, True, pid=1),
        _op(1, "get", "k", 12, 13, "b", pid=2),
    ])


def test_a_per_worker_register_is_per_worker_linearizable() -> None:
    h = _per_worker_register()
    assert check(h).verdict == "violated"
    assert check(h, by_worker=True).verdict == "holds"
    v = classify(h)
    assert v.verdict == "per-worker"
    assert "per-worker linearizable" in v.evidence["finding"]


def test_classify_holds_when_linearizable_and_violated_when_broken_per_worker_too() -> None:
    good = History(ops=[_op(0, "set", "k", 0, 1, True, pid=1, value="a"),
                        _op(1, "get", "k", 2, 3, "a", pid=2)])
    assert classify(good).verdict == "holds"
    lost = History(ops=[_op(0, "inc", "k", 0, 1, 1, pid=1), _op(1, "inc", "k", 2, 3, 1, pid=1)])
    assert classify(lost).verdict == "violated"


# --- randomised self-check against a real model ------------------------------------------


def _apply(store: dict[str, Any], f: str, key: str | None, args: dict[str, Any]) -> Any:
    if f == "get":
        return store.get(key or "")
    if f == "set":
        store[key or ""] = args["value"]
        return True
    if f == "add":
        if key in store:
            return False
        store[key or ""] = args["value"]
        return True
    if f == "delete":
        return store.pop(key or "", None) is not None
    if f == "has":
        return key in store
    if f == "inc":
        store[key or ""] = store.get(key or "", 0) + args["delta"]
        return store[key or ""]
    store.clear()
    return True


def _random_sequential(seed: int, n: int = 40) -> list[Op]:
    rng = random.Random(seed)
    store: dict[str, Any] = {}
    ops = []
    for i in range(n):
        f = rng.choice(["get", "get", "set", "add", "inc", "delete", "has", "clear"])
        key = None if f == "clear" else rng.choice(["a", "b"])
        args: dict[str, Any] = {"value": i * 100} if f in ("set", "add") else {}
        if f == "inc":
            args["delta"] = rng.randint(1, 3)
        ops.append(_op(rng.randrange(4), f, key, 2 * i, 2 * i + 1, _apply(store, f, key, args),
                       **args))
    return ops


@pytest.mark.parametrize("seed", range(30))
def test_random_sequential_histories_hold_and_any_wrong_read_is_caught(seed: int) -> None:
    ops = _random_sequential(seed)
    assert _verdict(*ops) == "holds"
    reads = [i for i, op in enumerate(ops) if op.f == "get"]
    i = random.Random(seed).choice(reads)
    # With no overlap there is one order, so any other result is wrong.
    wrong = "mutant" if ops[i].value is not None else 12345
    ops[i] = _op(ops[i].process, "get", ops[i].key, ops[i].start, ops[i].end, wrong)
    v = check(History(ops=ops))
    assert v.verdict == "violated"
    assert i in v.evidence["counterexample"]["culprits"]


def _random_concurrent(seed: int, n: int = 60) -> list[Op]:
    """Overlapping ops whose results come from the model at a point inside each interval."""
    rng = random.Random(seed)
    planned = []
    free_at = [0.0, 0.0, 0.0, 0.0]
    for i in range(n):
        c = rng.randrange(len(free_at))
        start = free_at[c] + rng.uniform(0, 1)
        end = start + rng.uniform(0.5, 4)
        free_at[c] = end
        f = rng.choice(["get", "get", "set", "add", "inc", "delete", "has", "clear"])
        key = None if f == "clear" else rng.choice(["a", "b"])
        args: dict[str, Any] = {"value": i * 100} if f in ("set", "add") else {}
        if f == "inc":
            args["delta"] = 1
        kind: OpType = "info" if rng.random() < 0.1 else "ok"
        planned.append((rng.uniform(start, end), c, f, key, start, end, kind, args))
    store: dict[str, Any] = {}
    ops = []
    for _, c, f, key, start, end, kind, args in sorted(planned, key=lambda p: p[0]):
        if kind == "info" and rng.random() < 0.5:
            # It never happened.
            ops.append(_op(c, f, key, start, end, type="info", answered=False, **args))
            continue
        result = _apply(store, f, key, args)
        ops.append(_op(c, f, key, start, end, None if kind == "info" else result, type=kind,
                       answered=kind != "info", **args))
    return sorted(ops, key=lambda op: op.end)


@pytest.mark.parametrize("seed", range(30))
def test_random_concurrent_histories_linearizable_by_construction_hold(seed: int) -> None:
    assert _verdict(*_random_concurrent(seed)) == "holds"


def test_a_refused_inc_is_treated_as_info_and_a_garbled_one_is_refused() -> None:
    refused = _op(0, "inc", "k", 0, 1, None, delta=1)
    assert _verdict(refused, _op(1, "get", "k", 2, 3, 1)) == "holds"
    assert _verdict(refused, _op(1, "get", "k", 2, 3, None)) == "holds"
    with pytest.raises(ValueError, match="inc returned 'abc', not a number"):
        check(History(ops=[_op(0, "inc", "k", 0, 1, "abc")]))


def test_a_counter_read_back_as_digits_matches_its_integer() -> None:
    # Some backends store an inc'ed key as text; the value is the same.
    assert _verdict(_op(0, "inc", "k", 0, 1, 1), _op(1, "get", "k", 2, 3, "1")) == "holds"


def test_an_op_completing_before_its_invocation_is_refused() -> None:
    with pytest.raises(ValueError, match="one monotonic clock"):
        check(History(ops=[_op(0, "set", "k", 2, 1, True, value=1)]))


# --- state identity: 1, 1.0 and True are different values -----------------------------------


@pytest.mark.parametrize("float_first", [True, False])
def test_int_float_and_bool_states_are_distinct_in_either_list_order(float_first: bool) -> None:
    # Only "set 1.0, then set 1" explains the int read and the int increment.
    sets = [_op(0, "set", "k", 0, 2, True, value=1.0), _op(1, "set", "k", 1, 3, True, value=1)]
    tail = [_op(2, "get", "k", 4, 5, 1), _op(2, "inc", "k", 6, 7, 2, delta=1)]
    assert _verdict(*(sets if float_first else sets[::-1]), *tail) == "holds"
    # And the read of the int cannot be a read of the float.
    only_float = [sets[0], _op(2, "get", "k", 4, 5, 1)]
    assert _verdict(*only_float) == "violated"


@pytest.mark.parametrize("order", [0, 1])
def test_a_refused_set_of_an_int_may_have_stored_it(order: int) -> None:
    # The history of the issue: inc -> 2 (an int) needs the refused set's int 1.
    sets = [_op(0, "set", "k", 0, 1, True, value=1.0), _op(1, "set", "k", 2, 3, False, value=1)]
    inc = _op(0, "inc", "k", 4, 5, 2, delta=1)
    assert _verdict(*(sets if order == 0 else sets[::-1]), inc) == "holds"
    # Without the refused set, inc on the float 1.0 gives the float 2.0, never the int 2.
    assert _verdict(sets[0], inc) == "violated"
    assert _verdict(sets[0], _op(0, "inc", "k", 4, 5, 2.0, delta=1)) == "holds"


def test_a_bool_is_not_an_int_to_reads_but_inc_counts_true_as_one() -> None:
    stored_true = _op(0, "set", "k", 0, 1, True, value=True)
    assert _verdict(stored_true, _op(1, "get", "k", 2, 3, 1)) == "violated"
    assert _verdict(stored_true, _op(1, "get", "k", 2, 3, True)) == "holds"
    # cachelib/base.py:217: (True or 0) + 1 == 2.
    assert _verdict(stored_true, _op(1, "inc", "k", 2, 3, 2, delta=1)) == "holds"
    assert _verdict(stored_true, _op(1, "inc", "k", 2, 3, True, delta=1, type="info")) \
        == "holds"


# --- answered negatively: within its own interval, or not at all ----------------------------


@pytest.mark.parametrize("refused", [
    _op(0, "set", "k", 0, 1, False, value="a"),
    _op(0, "set", "k", 0, 1, type="info", value="a"),  # answered=True: HTTP 500
])
def test_a_refused_write_cannot_take_effect_after_its_reply(refused: Op) -> None:
    # Read absent after the refusal: it did not store, and cannot store later.
    assert _verdict(refused, _op(1, "get", "k", 2, 3, None), _op(1, "get", "k", 4, 5, "a")) \
        == "violated"
    # Unanswered, it still might.
    lost = replace(refused, type="info", answered=False)
    assert _verdict(lost, _op(1, "get", "k", 2, 3, None), _op(1, "get", "k", 4, 5, "a")) \
        == "holds"


def test_an_inc_answering_none_and_a_clear_answering_false_are_bounded_too() -> None:
    inc = _op(0, "inc", "k", 0, 1, None, delta=5)
    assert _verdict(inc, _op(1, "get", "k", 2, 3, None), _op(1, "get", "k", 4, 5, 5)) \
        == "violated"
    assert _verdict(inc, _op(1, "get", "k", 2, 3, 5)) == "holds"
    base = [_op(0, "set", "k", 0, 1, True, value="a"), _op(1, "clear", None, 2, 3, False)]
    assert _verdict(*base, _op(0, "get", "k", 4, 5, "a")) == "holds"
    assert _verdict(*base, _op(0, "get", "k", 4, 5, None), _op(0, "get", "k", 6, 7, "a")) \
        == "violated"


# --- the model follows cachelib -----------------------------------------------------------


def test_a_stored_none_is_present_for_has_and_add() -> None:
    stored = _op(0, "set", "k", 0, 1, True, value=None)
    assert _verdict(stored, _op(1, "get", "k", 2, 3, None), _op(1, "has", "k", 4, 5, True),
                    _op(1, "add", "k", 6, 7, False, value=1)) == "holds"
    assert _verdict(stored, _op(1, "has", "k", 2, 3, False)) == "violated"
    assert _verdict(stored, _op(1, "add", "k", 2, 3, True, value=1)) == "violated"
    # BaseCache.inc: (None or 0) + 3.
    assert _verdict(stored, _op(1, "inc", "k", 2, 3, 3, delta=3)) == "holds"


def test_inc_on_a_non_number_never_succeeds_and_on_falsy_values_counts_from_zero() -> None:
    text = _op(0, "set", "k", 0, 1, True, value="x")
    assert _verdict(text, _op(1, "inc", "k", 2, 3, 1, delta=1)) == "violated"
    # The TypeError is an HTTP 500: info, answered, and the value stays.
    assert _verdict(text, _op(1, "inc", "k", 2, 3, type="info", delta=1),
                    _op(1, "get", "k", 4, 5, "x")) == "holds"
    for falsy in (0.0, False, "", [], {}):
        assert _verdict(_op(0, "set", "k", 0, 1, True, value=falsy),
                        _op(1, "inc", "k", 2, 3, 2, delta=2)) == "holds", falsy
    assert _verdict(_op(0, "set", "k", 0, 1, True, value=1.5),
                    _op(1, "inc", "k", 2, 3, 2.5, delta=1)) == "holds"


def test_an_add_answering_false_on_an_absent_key_may_have_stored() -> None:
    # FileSystemCache: the file was written, then chmod or stat failed.
    refused = _op(0, "add", "k", 0, 1, False, value="a")
    assert _verdict(refused, _op(1, "get", "k", 2, 3, "a")) == "holds"
    assert _verdict(refused, _op(1, "get", "k", 2, 3, None)) == "holds"
    assert _verdict(refused, _op(1, "get", "k", 2, 3, None), _op(1, "get", "k", 4, 5, "a")) \
        == "violated"


def test_clear_is_checked_per_key_which_accepts_a_non_atomic_clear() -> None:
    # A clear seen by key a before a's write and by key b after b's write:
    # no single instant fits both, yet each key alone is fine (FileSystemCache
    # removes file by file).  Per-key checking accepts it, by design.
    assert _verdict(
        _op(0, "set", "a", 0, 10, True, value=1),
        _op(1, "set", "b", 0, 10, True, value=2),
        _op(2, "clear", None, 0, 10, True),
        _op(0, "get", "a", 11, 12, 1),
        _op(1, "get", "b", 11, 12, None),
    ) == "holds"


# --- counterexamples re-check on their own -------------------------------------------------


def _window_history(ops: list[Op], cx: dict[str, Any], *, culprits: bool = True) -> History:
    cut = set(cx["cut"])
    return History(ops=[replace(ops[i], type="info", answered=False) if i in cut else ops[i]
                        for i in cx["ops"] if culprits or i not in cx["culprits"]])


@pytest.mark.parametrize("seed", range(40))
def test_every_counterexample_re_checks_as_violated(seed: int) -> None:
    ops = _random_concurrent(seed, n=30)
    rng = random.Random(seed)
    writes = [i for i, op in enumerate(ops) if op.type == "ok" and op.f in ("get", "inc")]
    i = rng.choice(writes)
    ops[i] = replace(ops[i], value=7777 if ops[i].f == "inc" else rng.choice([None, 0, 100]))
    v = check(History(ops=ops))
    if v.verdict != "violated":
        return  # the mutation happened to be explainable
    cx = v.evidence["counterexample"]
    assert cx["verified"] is True, cx["verification"]
    # Any initial state includes absent, so the window alone must be violated.
    assert check(_window_history(ops, cx)).verdict == "violated"
    if cx["initial"] == "absent":
        assert check(_window_history(ops, cx, culprits=False)).verdict in ("holds", "unknown")


def test_a_source_write_that_would_blame_another_op_is_left_out() -> None:
    ops = [_op(0, "set", "k", 0, 1, True, value="old"), _op(0, "set", "k", 2, 3, True, value="new"),
           _op(1, "get", "k", 4, 5, "new"), _op(1, "get", "k", 6, 7, "old")]
    cx = check(History(ops=ops)).evidence["counterexample"]
    assert (cx["ops"], cx["culprits"], cx["sources"], cx["verified"]) == ([2, 3], [3], [], True)
