"""The linearizability checker on hand-built histories: what it accepts, rejects and blames."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from histories import Ops

from harness.checkers import register, safely
from harness.checkers.linearizable import check, classify
from harness.history.names import OpType
from harness.history.ops import History, Op

#: Worker ``process`` has pid 100 + process unless given another.
op = Ops(pids=range(100, 1000))


def _verdict(*ops: Op, **kwargs: Any) -> str:
    return check(register.MODEL, History(ops=list(ops)), **kwargs).verdict


# --- histories that are linearizable -------------------------------------------------------


def test_sequential_writes_and_reads_hold() -> None:
    assert _verdict(
        op("set", "k", True, process=0, at=0, end=1, value="a"),
        op("get", "k", "a", process=1, at=2, end=3),
        op("set", "k", True, process=1, at=4, end=5, value="b"),
        op("get", "k", "b", process=0, at=6, end=7),
        op("delete", "k", True, process=0, at=8, end=9),
        op("get", "k", None, process=1, at=10, end=11),
    ) == "holds"


@pytest.mark.parametrize("seen", ["a", "b"])
def test_a_read_after_concurrent_writes_may_see_either(seen: str) -> None:
    assert _verdict(
        op("set", "k", True, process=0, at=0, end=2, value="a"),
        op("set", "k", True, process=1, at=1, end=3, value="b"),
        op("get", "k", seen, process=2, at=4, end=5),
    ) == "holds"


def test_reads_after_concurrent_writes_must_agree_on_the_order() -> None:
    assert _verdict(
        op("set", "k", True, process=0, at=0, end=2, value="a"),
        op("set", "k", True, process=1, at=1, end=3, value="b"),
        op("get", "k", "a", process=2, at=4, end=5),
        op("get", "k", "b", process=2, at=6, end=7),  # nothing wrote b after a was read
    ) == "violated"


def test_add_wins_only_on_an_absent_key_and_inc_counts_from_zero() -> None:
    assert _verdict(
        op("add", "k", True, process=0, at=0, end=1, value=10),
        op("add", "k", False, process=1, at=2, end=3, value=20),
        op("get", "k", 10, process=1, at=4, end=5),
        op("inc", "k", 13, process=0, at=6, end=7, delta=3),
        op("has", "k", True, process=1, at=8, end=9),
        op("inc", "n", 2, process=0, at=10, end=11, delta=2),  # absent counts as 0
    ) == "holds"


def test_delete_result_does_not_constrain_only_its_effect() -> None:
    # cachelib backends disagree on what delete returns; it must not matter.
    assert _verdict(
        op("set", "k", True, process=0, at=0, end=1, value="a"),
        op("delete", "k", False, process=1, at=2, end=3),
        op("has", "k", False, process=0, at=4, end=5),
    ) == "holds"


def test_clear_empties_every_key() -> None:
    base = [op("set", "a", True, process=0, at=0, end=1, value=1),
            op("set", "b", True, process=0, at=2, end=3, value=2),
            op("clear", None, True, process=1, at=4, end=5)]
    assert _verdict(*base, op("get", "a", None, process=0, at=6, end=7),
                    op("get", "b", None, process=0, at=6, end=7)) == "holds"
    assert _verdict(*base, op("get", "b", 2, process=0, at=6, end=7)) == "violated"


def test_touching_intervals_are_concurrent() -> None:
    write = op("set", "k", True, process=0, at=0, end=1, value="a")
    # The read was invoked at the instant the write returned: it may precede it.
    assert _verdict(write, op("get", "k", None, process=1, at=1, end=2)) == "holds"
    assert _verdict(write, op("get", "k", None, process=1, at=1.001, end=2)) == "violated"


def test_failed_ops_are_dropped() -> None:
    failed = op("set", "k", process=0, at=0, end=1, type="fail", value="a")
    assert _verdict(failed, op("get", "k", None, process=1, at=2, end=3)) == "holds"
    assert _verdict(failed, op("get", "k", "a", process=1, at=2, end=3)) == "violated"


# --- info: may have happened, at any time after its start -------------------------------------


def test_an_info_write_may_explain_a_later_read() -> None:
    assert _verdict(
        op("set", "k", True, process=0, at=0, end=1, value="a"),
        op("set", "k", process=1, at=2, end=3, type="info", answered=False, value="b"),
        op("get", "k", "a", process=0, at=10, end=11),  # not yet, or never
        op("get", "k", "b", process=0, at=12, end=13),  # now it has happened
    ) == "holds"


def test_an_info_write_happens_at_most_once() -> None:
    assert _verdict(
        op("set", "k", process=1, at=0, end=1, type="info", answered=False, value="b"),
        op("get", "k", "b", process=0, at=2, end=3),
        op("set", "k", True, process=0, at=4, end=5, value="a"),
        op("get", "k", "b", process=0, at=6, end=7),
    ) == "violated"


def test_info_ops_cannot_explain_a_value_nobody_wrote() -> None:
    assert _verdict(
        op("set", "k", process=1, at=0, end=1, type="info", answered=False, value="b"),
        op("inc", "k", process=2, at=0, end=1, type="info", answered=False, delta=1),
        op("get", "k", "c", process=0, at=2, end=3),
    ) == "violated"


def test_an_info_write_cannot_take_effect_before_it_started() -> None:
    assert _verdict(
        op("get", "k", "b", process=0, at=0, end=1),
        op("set", "k", process=1, at=2, end=3, type="info", answered=False, value="b"),
    ) == "violated"


def test_a_refused_set_is_treated_as_info() -> None:
    # cachelib's set answers False when the backend refused; it may still have stored.
    refused = op("set", "k", False, process=0, at=0, end=1, value="a")
    assert _verdict(refused, op("get", "k", None, process=1, at=2, end=3)) == "holds"
    assert _verdict(refused, op("get", "k", "a", process=1, at=2, end=3)) == "holds"


# --- the classic anomalies, and what the counterexample names ------------------------------


def test_stale_read_is_violated_and_the_counterexample_names_its_ops() -> None:
    ops = [op("set", "k", True, process=0, at=2 * n, end=2 * n + 1, value=n) for n in range(20)]
    ops += [op("get", "k", n, process=1, at=2 * n + 0.5, end=2 * n + 0.9) for n in range(20)]
    ops.sort(key=lambda op: op.end)
    ops.append(op("get", "k", 17, process=1, at=100, end=101))  # 19 was written last
    v = check(register.MODEL, History(ops=ops))
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
    v = check(register.MODEL, History(ops=[op("inc", "k", 1, process=0, at=0, end=1, delta=1),
                                           op("inc", "k", 1, process=1, at=2, end=3, delta=1)]))
    assert v.verdict == "violated"
    assert v.evidence["counterexample"]["ops"] == [0, 1]


def test_concurrent_incs_returning_the_same_value_are_violated() -> None:
    assert _verdict(op("inc", "k", 1, process=0, at=0, end=2, delta=1),
                    op("inc", "k", 1, process=1, at=1, end=3, delta=1)) == "violated"


def test_two_winning_adds_on_a_fresh_key_are_violated() -> None:
    assert _verdict(op("add", "k", True, process=0, at=0, end=2, value="a"),
                    op("add", "k", True, process=1, at=1, end=3, value="b")) == "violated"


def test_a_read_of_a_value_nobody_wrote_is_blamed_with_the_write_it_missed() -> None:
    v = check(register.MODEL, History(ops=[op("set", "k", True, process=0, at=0, end=1, value="a"),
                                           op("get", "k", "zzz", process=1, at=2, end=3)]))
    assert v.evidence["counterexample"]["ops"] == [0, 1]


def test_a_first_read_of_a_value_nobody_wrote_is_blamed_alone() -> None:
    # Only an absent start makes this wrong, and the counterexample says so.
    v = check(register.MODEL, History(ops=[
        op("get", "k", "zzz", process=1, at=0, end=1),
        op("set", "k", True, process=0, at=2, end=3, value="a")]))
    cx = v.evidence["counterexample"]
    assert (cx["ops"], cx["initial"]) == ([0], "absent")


def test_one_broken_key_is_enough_and_others_are_counted() -> None:
    v = check(register.MODEL, History(ops=[op("set", "a", True, process=0, at=0, end=1, value=1),
                                           op("get", "a", 1, process=0, at=2, end=3),
                                           op("get", "b", "ghost", process=0, at=2, end=3)]))
    assert (v.verdict, v.evidence["keys"], v.evidence["violated_keys"]) == ("violated", 2, 1)
    assert v.evidence["counterexample"]["key"] == "b"


# --- budget: running out is unknown, never holds ------------------------------------------


def _pathological(writers: int = 16) -> list[Op]:
    """Concurrent distinct writes, then a read no order explains: every subset is a state."""
    ops = [op("set", "hot", True, process=i, at=0, end=1 + i / 100, value=i)
           for i in range(writers)]
    return ops + [op("get", "hot", "never", process=99, at=5, end=6)]


def test_spent_budget_is_unknown_with_the_reason() -> None:
    v = check(register.MODEL, History(ops=_pathological()), max_steps_per_key=2_000)
    assert v.verdict == "unknown"
    assert v.evidence["unknown_keys"] == 1
    assert "budget" in v.evidence["reason"]


def test_a_linearizable_history_out_of_budget_is_unknown_not_holds() -> None:
    ops = [op("set", "k", True, process=0, at=2 * n, end=2 * n + 1, value=n) for n in range(10)]
    assert _verdict(*ops, max_steps=3) == "unknown"
    assert _verdict(*ops, deadline_s=0) == "unknown"


def test_a_proven_violation_beats_an_unknown_key() -> None:
    ops = _pathological() + [op("inc", "k", 1, process=0, at=0, end=1),
                             op("inc", "k", 1, process=1, at=2, end=3)]
    v = check(register.MODEL, History(ops=ops), max_steps_per_key=2_000)
    assert (v.verdict, v.evidence["unknown_keys"], v.evidence["violated_keys"]) \
        == ("violated", 1, 1)


def test_nothing_to_judge_is_unknown() -> None:
    v = check(register.MODEL, History(ops=[
        op("set", "k", process=0, at=0, end=1, type="fail", value=1)]))
    assert v.verdict == "unknown"
    assert "nothing to judge" in v.evidence["reason"]


def test_an_op_outside_the_model_is_refused_and_safely_unknown() -> None:
    h = History(ops=[op("memoize:compute", "k", 1, process=0, at=0, end=1)])
    with pytest.raises(ValueError, match="'memoize:compute', outside the register model"):
        check(register.MODEL, h)
    assert safely(check, h).verdict == "unknown"


# --- per worker ------------------------------------------------------------------------------


def _per_worker_register() -> History:
    """Each worker keeps its own dict: a write is seen only where it was made."""
    return History(ops=[
        op("set", "k", True, process=0, at=0, end=1, pid=1, value="a"),
        op("get", "k", None, process=1, at=2, end=3, pid=2),
        op("get", "k", "a", process=0, at=4, end=5, pid=1),
        op("set", "k", True, process=1, at=6, end=7, pid=2, value="b"),
        op("get", "k", "a", process=0, at=8, end=9, pid=1),
        op("clear", None, True, process=0, at=10, end=11, pid=1),
        op("get", "k", "b", process=1, at=12, end=13, pid=2),
    ])


def test_a_per_worker_register_is_per_worker_linearizable() -> None:
    h = _per_worker_register()
    assert check(register.MODEL, h).verdict == "violated"
    assert check(register.MODEL, h, by_worker=True).verdict == "holds"
    v = classify(register.MODEL, h)
    assert v.verdict == "per-worker"
    assert "per-worker linearizable" in v.evidence["finding"]


def test_classify_holds_when_linearizable_and_violated_when_broken_per_worker_too() -> None:
    good = History(ops=[op("set", "k", True, process=0, at=0, end=1, pid=1, value="a"),
                        op("get", "k", "a", process=1, at=2, end=3, pid=2)])
    assert classify(register.MODEL, good).verdict == "holds"
    lost = History(ops=[op("inc", "k", 1, process=0, at=0, end=1, pid=1),
                        op("inc", "k", 1, process=1, at=2, end=3, pid=1)])
    assert classify(register.MODEL, lost).verdict == "violated"


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
        ops.append(op(f, key, _apply(store, f, key, args), process=rng.randrange(4), at=2 * i,
                      end=2 * i + 1, **args))
    return ops


@pytest.mark.parametrize("seed", range(30))
def test_random_sequential_histories_hold_and_any_wrong_read_is_caught(seed: int) -> None:
    ops = _random_sequential(seed)
    assert _verdict(*ops) == "holds"
    reads = [i for i, op in enumerate(ops) if op.f == "get"]
    i = random.Random(seed).choice(reads)
    # With no overlap there is one order, so any other result is wrong.
    wrong = "mutant" if ops[i].value is not None else 12345
    ops[i] = op("get", ops[i].key, wrong, process=ops[i].process, at=ops[i].start, end=ops[i].end)
    v = check(register.MODEL, History(ops=ops))
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
            ops.append(op(f, key, process=c, at=start, end=end, type="info", answered=False,
                          **args))
            continue
        result = _apply(store, f, key, args)
        ops.append(op(f, key, None if kind == "info" else result, process=c, at=start, end=end,
                      type=kind, answered=kind != "info", **args))
    return sorted(ops, key=lambda op: op.end)


@pytest.mark.parametrize("seed", range(30))
def test_random_concurrent_histories_linearizable_by_construction_hold(seed: int) -> None:
    assert _verdict(*_random_concurrent(seed)) == "holds"


def test_a_refused_inc_is_treated_as_info_and_a_garbled_one_is_refused() -> None:
    refused = op("inc", "k", None, process=0, at=0, end=1, delta=1)
    assert _verdict(refused, op("get", "k", 1, process=1, at=2, end=3)) == "holds"
    assert _verdict(refused, op("get", "k", None, process=1, at=2, end=3)) == "holds"
    with pytest.raises(ValueError, match="inc returned 'abc', not a number"):
        check(register.MODEL, History(ops=[op("inc", "k", "abc", process=0, at=0, end=1)]))


def test_a_counter_read_back_as_digits_matches_its_integer() -> None:
    # Some backends store an inc'ed key as text; the value is the same.
    assert _verdict(op("inc", "k", 1, process=0, at=0, end=1),
                    op("get", "k", "1", process=1, at=2, end=3)) == "holds"


def test_an_op_completing_before_its_invocation_is_refused() -> None:
    with pytest.raises(ValueError, match="one monotonic clock"):
        check(register.MODEL, History(ops=[op("set", "k", True, process=0, at=2, end=1, value=1)]))


# --- state identity: 1, 1.0 and True are different values -----------------------------------


@pytest.mark.parametrize("float_first", [True, False])
def test_int_float_and_bool_states_are_distinct_in_either_list_order(float_first: bool) -> None:
    # Only "set 1.0, then set 1" explains the int read and the int increment.
    sets = [op("set", "k", True, process=0, at=0, end=2, value=1.0),
            op("set", "k", True, process=1, at=1, end=3, value=1)]
    tail = [op("get", "k", 1, process=2, at=4, end=5),
            op("inc", "k", 2, process=2, at=6, end=7, delta=1)]
    assert _verdict(*(sets if float_first else sets[::-1]), *tail) == "holds"
    # And the read of the int cannot be a read of the float.
    only_float = [sets[0], op("get", "k", 1, process=2, at=4, end=5)]
    assert _verdict(*only_float) == "violated"


@pytest.mark.parametrize("order", [0, 1])
def test_a_refused_set_of_an_int_may_have_stored_it(order: int) -> None:
    # The history of the issue: inc -> 2 (an int) needs the refused set's int 1.
    sets = [op("set", "k", True, process=0, at=0, end=1, value=1.0),
            op("set", "k", False, process=1, at=2, end=3, value=1)]
    inc = op("inc", "k", 2, process=0, at=4, end=5, delta=1)
    assert _verdict(*(sets if order == 0 else sets[::-1]), inc) == "holds"
    # Without the refused set, inc on the float 1.0 gives the float 2.0, never the int 2.
    assert _verdict(sets[0], inc) == "violated"
    assert _verdict(sets[0], op("inc", "k", 2.0, process=0, at=4, end=5, delta=1)) == "holds"


def test_a_bool_is_not_an_int_to_reads_but_inc_counts_true_as_one() -> None:
    stored_true = op("set", "k", True, process=0, at=0, end=1, value=True)
    assert _verdict(stored_true, op("get", "k", 1, process=1, at=2, end=3)) == "violated"
    assert _verdict(stored_true, op("get", "k", True, process=1, at=2, end=3)) == "holds"
    # cachelib/base.py:217: (True or 0) + 1 == 2.
    assert _verdict(stored_true, op("inc", "k", 2, process=1, at=2, end=3, delta=1)) == "holds"
    assert _verdict(stored_true, op("inc", "k", True, process=1, at=2, end=3, delta=1,
                                    type="info")) == "holds"


# --- answered negatively: within its own interval, or not at all ----------------------------


@pytest.mark.parametrize("refused", [
    op("set", "k", False, process=0, at=0, end=1, value="a"),
    op("set", "k", process=0, at=0, end=1, type="info", value="a"),  # answered=True: HTTP 500
])
def test_a_refused_write_cannot_take_effect_after_its_reply(refused: Op) -> None:
    # Read absent after the refusal: it did not store, and cannot store later.
    assert _verdict(refused, op("get", "k", None, process=1, at=2, end=3),
                    op("get", "k", "a", process=1, at=4, end=5)) == "violated"
    # Unanswered, it still might.
    lost = replace(refused, type="info", answered=False)
    assert _verdict(lost, op("get", "k", None, process=1, at=2, end=3),
                    op("get", "k", "a", process=1, at=4, end=5)) == "holds"


def test_an_inc_answering_none_and_a_clear_answering_false_are_bounded_too() -> None:
    inc = op("inc", "k", None, process=0, at=0, end=1, delta=5)
    assert _verdict(inc, op("get", "k", None, process=1, at=2, end=3),
                    op("get", "k", 5, process=1, at=4, end=5)) == "violated"
    assert _verdict(inc, op("get", "k", 5, process=1, at=2, end=3)) == "holds"
    base = [op("set", "k", True, process=0, at=0, end=1, value="a"),
            op("clear", None, False, process=1, at=2, end=3)]
    assert _verdict(*base, op("get", "k", "a", process=0, at=4, end=5)) == "holds"
    assert _verdict(*base, op("get", "k", None, process=0, at=4, end=5),
                    op("get", "k", "a", process=0, at=6, end=7)) == "violated"


# --- the model follows cachelib -----------------------------------------------------------


def test_a_stored_none_is_present_for_has_and_add() -> None:
    stored = op("set", "k", True, process=0, at=0, end=1, value=None)
    assert _verdict(stored, op("get", "k", None, process=1, at=2, end=3),
                    op("has", "k", True, process=1, at=4, end=5),
                    op("add", "k", False, process=1, at=6, end=7, value=1)) == "holds"
    assert _verdict(stored, op("has", "k", False, process=1, at=2, end=3)) == "violated"
    assert _verdict(stored, op("add", "k", True, process=1, at=2, end=3, value=1)) == "violated"
    # BaseCache.inc: (None or 0) + 3.
    assert _verdict(stored, op("inc", "k", 3, process=1, at=2, end=3, delta=3)) == "holds"


def test_inc_on_a_non_number_never_succeeds_and_on_falsy_values_counts_from_zero() -> None:
    text = op("set", "k", True, process=0, at=0, end=1, value="x")
    assert _verdict(text, op("inc", "k", 1, process=1, at=2, end=3, delta=1)) == "violated"
    # The TypeError is an HTTP 500: info, answered, and the value stays.
    assert _verdict(text, op("inc", "k", process=1, at=2, end=3, type="info", delta=1),
                    op("get", "k", "x", process=1, at=4, end=5)) == "holds"
    for falsy in (0.0, False, "", [], {}):
        assert _verdict(op("set", "k", True, process=0, at=0, end=1, value=falsy),
                        op("inc", "k", 2, process=1, at=2, end=3, delta=2)) == "holds", falsy
    assert _verdict(op("set", "k", True, process=0, at=0, end=1, value=1.5),
                    op("inc", "k", 2.5, process=1, at=2, end=3, delta=1)) == "holds"


def test_an_add_answering_false_on_an_absent_key_may_have_stored() -> None:
    # FileSystemCache: the file was written, then chmod or stat failed.
    refused = op("add", "k", False, process=0, at=0, end=1, value="a")
    assert _verdict(refused, op("get", "k", "a", process=1, at=2, end=3)) == "holds"
    assert _verdict(refused, op("get", "k", None, process=1, at=2, end=3)) == "holds"
    assert _verdict(refused, op("get", "k", None, process=1, at=2, end=3),
                    op("get", "k", "a", process=1, at=4, end=5)) == "violated"


def test_clear_is_checked_per_key_which_accepts_a_non_atomic_clear() -> None:
    # A clear seen by key a before a's write and by key b after b's write:
    # no single instant fits both, yet each key alone is fine (FileSystemCache
    # removes file by file).  Per-key checking accepts it, by design.
    assert _verdict(
        op("set", "a", True, process=0, at=0, end=10, value=1),
        op("set", "b", True, process=1, at=0, end=10, value=2),
        op("clear", None, True, process=2, at=0, end=10),
        op("get", "a", 1, process=0, at=11, end=12),
        op("get", "b", None, process=1, at=11, end=12),
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
    v = check(register.MODEL, History(ops=ops))
    if v.verdict != "violated":
        return  # the mutation happened to be explainable
    cx = v.evidence["counterexample"]
    assert cx["verified"] is True, cx["verification"]
    # Any initial state includes absent, so the window alone must be violated.
    assert check(register.MODEL, _window_history(ops, cx)).verdict == "violated"
    if cx["initial"] == "absent":
        innocent = _window_history(ops, cx, culprits=False)
        assert check(register.MODEL, innocent).verdict in ("holds", "unknown")


def test_a_source_write_that_would_blame_another_op_is_left_out() -> None:
    ops = [op("set", "k", True, process=0, at=0, end=1, value="old"),
           op("set", "k", True, process=0, at=2, end=3, value="new"),
           op("get", "k", "new", process=1, at=4, end=5),
           op("get", "k", "old", process=1, at=6, end=7)]
    cx = check(register.MODEL, History(ops=ops)).evidence["counterexample"]
    assert (cx["ops"], cx["culprits"], cx["sources"], cx["verified"]) == ([2, 3], [3], [], True)
