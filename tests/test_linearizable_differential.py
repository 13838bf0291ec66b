"""The linearizability search against a brute-force decider written here, from the spec alone.

The decider shares no code with :mod:`harness.checkers.register` or the
search.  It describes what a backend may *do* (the new contents of the key
and the reply, for every behaviour some cachelib backend has) rather than
what a reply allows, and it enumerates, key by key, every subset of the ops
that need not have happened and every order of them that respects real
time.  Random small histories from a fixed seed must get the same verdict
from both, and every counterexample the checker reports must be judged not
linearizable by the decider too.  ``bench/differential.py`` runs many more.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from histories import Ops

from harness.checkers import register
from harness.checkers.linearizable import check
from harness.history.names import OpType
from harness.history.ops import History, Op

ABSENT = ("absent",)
#: Stands for "the backend raised": HTTP 500, recorded as an answered ``info``.
ERROR = ("error",)
Store = tuple[Any, ...]  # ABSENT, or ("has", value)


def same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down: ``1``, ``1.0`` and ``True`` differ."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def behaviours(store: Store, f: str, args: dict[str, Any]) -> list[tuple[Store, Any]]:
    """Every (new contents, reply) some backend can produce from ``store``."""
    held = None if store == ABSENT else store[1]
    if f == "get":
        replies = [held]
        if type(held) is int:  # a counter kept as digits reads back as text
            replies.append(str(held))
        return [(store, r) for r in replies]
    if f == "has":
        return [(store, store != ABSENT)]
    unchanged = (store, False)
    if f == "set":
        new = ("has", args["value"])
        return [(new, True), (new, False), unchanged]  # False: a backend error
    if f == "add":
        if store != ABSENT:
            return [unchanged]
        new = ("has", args["value"])
        return [(new, True), (new, False), unchanged]
    if f in ("delete", "clear"):
        return [(ABSENT, True), (ABSENT, False), unchanged]
    assert f == "inc"
    delta = int(args.get("delta", 1))
    out: list[tuple[Store, Any]] = [(store, ERROR), (store, None)]  # INCRBY refused; set failed
    try:
        total = (held or 0) + delta
    except TypeError:
        return out
    return [*out, (("has", total), total), (("has", total), None)]


def accepts(op: Op, reply: Any) -> bool:
    """Whether ``op``'s recorded outcome is what the backend replied."""
    if op.type == "info":
        return True
    if op.f in ("get", "inc"):
        return reply is not ERROR and same(op.value, reply)
    return reply is not ERROR and bool(op.value) == reply


def _orders(ops: list[Op], store: Store, placed: frozenset[int],
            before: dict[int, set[int]]) -> Iterator[bool]:
    """Yields True once some real-time order of ``ops`` runs from ``store``."""
    if len(placed) == len(ops):
        yield True
        return
    for i, op in enumerate(ops):
        if i in placed or not before[i] <= placed:
            continue
        for new in _distinct([new for new, reply in behaviours(store, op.f, op.args)
                              if accepts(op, reply)]):
            yield from _orders(ops, new, placed | {i}, before)


def _distinct(stores: list[Store]) -> list[Store]:
    """Each possible new content once: two behaviours leaving the same one are one branch."""
    kept: list[Store] = []
    for s in stores:
        if not any(len(s) == len(k) and (s == ABSENT or same(s[1], k[1])) for k in kept):
            kept.append(s)
    return kept


def key_linearizable(ops: list[Op], initial: Store = ABSENT) -> bool:
    """Brute force over every subset of ``info`` ops and every real-time order."""
    ops = [op for op in ops if op.type != "fail"]
    optional = [i for i, op in enumerate(ops) if op.type == "info"]
    for mask in range(1 << len(optional)):
        dropped = {optional[b] for b in range(len(optional)) if mask >> b & 1}
        kept = [op for i, op in enumerate(ops) if i not in dropped]
        ends = [math.inf if op.type == "info" and not op.answered else op.end for op in kept]
        # a precedes b when a returned before b was invoked; touching is concurrent.
        before = {b: {a for a in range(len(kept)) if ends[a] < kept[b].start}
                  for b in range(len(kept))}
        if any(_orders(kept, initial, frozenset(), before)):
            return True
    return False


def linearizable(ops: list[Op]) -> bool:
    """Every key on its own, each ``clear`` joining every key (clear is per key)."""
    keys = {op.key for op in ops if op.key is not None}
    return all(key_linearizable([op for op in ops if op.key in (k, None)]) for k in keys)


VALUES: list[Any] = [0, 1, 2, 1.0, 2.0, 0.0, True, False, None, "x"]
FS = ["get", "get", "set", "set", "add", "inc", "inc", "has", "delete", "clear"]


def random_history(rng: random.Random) -> list[Op]:
    """A small history run against a random backend, then perhaps with one reply changed."""
    processes = rng.randint(2, 4)
    keys = ["a", "b"][: rng.randint(1, 2)]
    planned = []
    for p in range(processes):
        t = rng.randint(0, 2)
        for _ in range(rng.randint(1, 3)):
            start = t
            end = start + rng.randint(0, 3)  # 0: an op with no duration
            t = end + rng.randint(0, 1)  # 0: the next op touches it
            f = rng.choice(FS)
            args: dict[str, Any] = {}
            if f in ("set", "add"):
                args["value"] = rng.choice(VALUES)
            elif f == "inc":
                args["delta"] = rng.choice([1, 2])
            key = None if f == "clear" else rng.choice(keys)
            planned.append((rng.uniform(start, end), p, f, key, args, start, end))
    stores: dict[str, Store] = dict.fromkeys(keys, ABSENT)
    ops = []
    for _, p, f, key, args, start, end in sorted(planned, key=lambda x: x[0]):
        fate = rng.random()
        type_: OpType = "fail" if fate < 0.05 else "info" if fate < 0.15 else "ok"
        answered = type_ != "info" or rng.random() < 0.5
        reply: Any = None
        if type_ == "ok" or (type_ == "info" and rng.random() < 0.5):
            # One reply for the op; a clear's keys each do something that fits it.
            for n, k in enumerate([key] if key is not None else keys):
                options = behaviours(stores[k], f, args)
                if n:
                    options = [b for b in options if b[1] == reply] or options
                stores[k], reply = rng.choice(options)
        if reply is ERROR:
            type_, answered = "info", True
        value = reply if type_ == "ok" else None
        ops.append(Op(process=p, pid=100 + p, f=f, key=key, args=args, type=type_,
                      value=value, start=float(start), end=float(end), answered=answered))
    if ops and rng.random() < 0.6:
        i = rng.randrange(len(ops))
        op = ops[i]
        if op.type == "ok" and op.f == "get":
            ops[i] = replace(op, value=rng.choice([*VALUES, 3, 4, 3.0]))
        elif op.type == "ok" and op.f == "inc":
            ops[i] = replace(op, value=rng.choice([0, 1, 2, 3, 4, 1.0, 2.0, 3.0]))
        elif op.type == "ok":
            ops[i] = replace(op, value=not op.value)
    return sorted(ops, key=lambda op: op.end)


def window_ops(history: list[Op], cx: dict[str, Any]) -> list[Op]:
    """The counterexample as a history of its own, cut ops without their reply."""
    cut = set(cx["cut"])
    return [replace(history[i], type="info", answered=False) if i in cut else history[i]
            for i in cx["ops"]]


def initial_states(ops: list[Op]) -> list[Store]:
    """Contents a key could have held before a window, enough to tell it apart."""
    seen: list[Any] = [*VALUES, 3, 4, 3.0, -1, -1.0]
    for op in ops:
        seen += [op.args.get("value"), op.value]
        if op.f == "inc" and isinstance(op.value, int | float):
            seen.append(op.value - int(op.args.get("delta", 1)))
    stores: list[Store] = [ABSENT]
    for v in seen:
        if not isinstance(v, list | dict) and not any(s != ABSENT and same(s[1], v)
                                                      for s in stores):
            stores.append(("has", v))
    return stores


def verify_counterexample(history: list[Op], cx: dict[str, Any]) -> None:
    """The window fails from every initial state its ``initial`` allows; its culprits matter."""
    assert cx["verified"] is True, cx["verification"]
    ops = window_ops(history, cx)
    starts = [ABSENT] if cx["initial"] == "absent" else initial_states(ops)
    for store in starts:
        assert not key_linearizable(ops, store), (store, cx["describe"])
    innocent = [op for i, op in zip(cx["ops"], ops, strict=True) if i not in cx["culprits"]]
    assert any(key_linearizable(innocent, store) for store in starts), cx["describe"]


def run(seed: int, count: int, on_each: Callable[[int], None] | None = None
        ) -> tuple[int, int, list[str]]:
    """Checks ``count`` random histories; returns (violated, holds, disagreements)."""
    rng = random.Random(seed)
    violated = holds = 0
    disagreements = []
    for n in range(count):
        ops = random_history(rng)
        verdict = check(register.MODEL, History(ops=ops))
        if "nothing to judge" in verdict.evidence.get("reason", ""):
            continue  # no key has an op that constrains anything: unknown, rightly
        expected = linearizable(ops)
        if verdict.verdict != ("holds" if expected else "violated"):
            disagreements.append(f"history {n}: decider {expected}, checker {verdict.verdict}: "
                                 + "; ".join(map(repr, ops)))
        elif not expected:
            violated += 1
            verify_counterexample(ops, verdict.evidence["counterexample"])
        else:
            holds += 1
        if on_each is not None:
            on_each(n)
    return violated, holds, disagreements


@pytest.mark.parametrize("seed", range(4))
def test_the_search_agrees_with_brute_force_on_random_small_histories(seed: int) -> None:
    violated, holds, disagreements = run(seed, 1000)
    assert disagreements == []
    # Both verdicts are common, so agreement is not agreement on one answer.
    assert violated > 150 and holds > 150, (violated, holds)


def test_the_decider_itself_tells_types_and_refusals_apart() -> None:
    """The decider must be able to say no, or agreement would prove nothing."""
    op = Ops(pids=(1,))

    assert key_linearizable([op("set", "k", True, at=0, end=1, value=1.0),
                             op("inc", "k", 2.0, at=2, end=3, delta=1)])
    assert not key_linearizable([op("set", "k", True, at=0, end=1, value=1.0),
                                 op("inc", "k", 2, at=2, end=3, delta=1)])
    assert key_linearizable([op("set", "k", True, at=0, end=1, value=1.0),
                             op("set", "k", False, at=2, end=3, value=1),
                             op("inc", "k", 2, at=4, end=5, delta=1)])
    assert not key_linearizable([op("set", "k", False, at=0, end=1, value="a"),
                                 op("get", "k", None, at=2, end=3),
                                 op("get", "k", "a", at=4, end=5)])
