"""The linearizability search and verdict take any model, not just the cache register.

A toy model, a grow-only set per key (``insert(x)``, then ``members`` reads
the whole set), goes through the same search, shrinker and verdict as
:mod:`harness.checkers.register`.  If the search leaned on anything of the
register's, this model would be judged wrongly.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from histories import Ops

from harness.checkers import linearizable
from harness.checkers.model import Model, Part, Spec
from harness.checkers.wgl import INF, Answer, Call, search
from harness.history.ops import History, Op

CHECKERS = Path(linearizable.__file__).parent

def _any(known: frozenset[Any]) -> tuple[str, frozenset[Any]]:
    """A set nobody has looked at yet, holding at least ``known``."""
    return ("any", known)


class GrowOnlySet:
    """One grow-only set per key: ``insert`` adds ``value``, ``members`` answers the set."""

    name = "grow-only set"

    def init(self) -> frozenset[Any]:
        return frozenset()

    def unconstrained(self) -> Any:
        return _any(frozenset())

    def step(self, state: Any, inp: Any, out: Any) -> tuple[Any, ...]:
        f, x = inp
        if isinstance(state, tuple):  # not looked at yet
            if f == "insert":
                return (_any(state[1] | {x}),)
            return (out,) if state[1] <= out else ()  # the first look decides it
        if f == "insert":
            return (state | {x},)
        return (state,) if state == out else ()

    def key(self, state: Any) -> Hashable:
        return state  # type: ignore[no-any-return]

    def explains(self, writer: Any, reader: Any, out: Any) -> bool:
        return bool(writer[0] == "insert" and reader[0] == "members" and writer[1] in out)

    def compile(self, index: int, op: Op) -> Spec | None:
        if op.type == "fail" or (op.f == "members" and op.type != "ok"):
            return None
        out = frozenset(op.value) if op.f == "members" else None
        return Spec(input=(op.f, op.args.get("value")), output=out,
                    bounded=op.type == "ok" or op.answered, mutates=op.f == "insert")

    def partition(self, history: History, *, by_worker: bool) -> dict[Part, list[int]]:
        keyed: dict[Part, list[int]] = defaultdict(list)
        for index, op in enumerate(history.ops):
            assert op.key is not None
            keyed[(op.pid if by_worker else None, op.key)].append(index)
        return dict(keyed)


MODEL: Model = GrowOnlySet()


#: Worker ``process`` has pid 100 + process.
op = Ops(pids=range(100, 110))


def _insert(process: int, x: int, start: float, end: float) -> Op:
    return op("insert", "s", True, process=process, at=start, end=end, value=x)


def _members(process: int, xs: list[int], start: float, end: float) -> Op:
    return op("members", "s", xs, process=process, at=start, end=end)


#: insert(1) overlaps the read that misses it, and the next read sees it.
LINEARIZABLE = [_insert(0, 1, 0, 2), _members(1, [], 1, 3), _members(1, [1], 4, 5)]
#: insert(1) has returned before the read that misses it began: a stale read.
STALE = [_insert(0, 1, 0, 1), _insert(0, 2, 2, 3), _members(1, [2], 4, 5)]


def _calls(ops: list[Op]) -> list[Call]:
    calls = []
    for i, op in enumerate(ops):
        spec = MODEL.compile(i, op)
        assert spec is not None
        calls.append(Call(index=i, inp=spec.input, out=spec.output, start=op.start,
                          end=op.end if spec.bounded else INF, mutates=spec.mutates))
    return calls


def test_the_search_answers_for_a_model_that_is_not_the_register() -> None:
    def answer(ops: list[Op], limit: int = 10_000) -> Answer:
        return search(_calls(ops), MODEL, initial=MODEL.init(), limit=limit, deadline=None)[0]

    assert answer(LINEARIZABLE) is Answer.OK
    assert answer(STALE) is Answer.ILLEGAL
    # Out of steps is its own answer, never a pass.
    assert answer(LINEARIZABLE, limit=1) is Answer.UNKNOWN


def test_the_verdict_and_its_counterexample_come_from_the_model_passed_in() -> None:
    good = linearizable.check(MODEL, History(ops=LINEARIZABLE))
    assert good.verdict == "holds"
    assert good.evidence["model"] == "one grow-only set per key"
    bad = linearizable.check(MODEL, History(ops=STALE))
    assert bad.verdict == "violated"
    cx = bad.evidence["counterexample"]
    # The read that missed insert(1) is to blame, whatever the set held before;
    # insert(1) is what it missed, and insert(2), which the read did see, is
    # shown as where its value came from.
    assert (cx["culprits"], cx["ops"], cx["verified"]) == ([2], [0, 1, 2], True)
    assert (cx["sources"], cx["initial"]) == ([1], "any")
    # Each worker alone is linearizable: one set per worker, as SimpleCache has one dict.
    apart = [_insert(0, 1, 0, 1), _members(1, [], 2, 3)]
    per_worker = linearizable.classify(MODEL, History(ops=apart))
    assert per_worker.verdict == "per-worker"
    assert per_worker.evidence["finding"].endswith("each worker has its own grow-only set")


def test_the_search_and_the_shrinker_import_no_model() -> None:
    for module in ("wgl.py", "shrink.py", "model.py"):
        tree = ast.parse((CHECKERS / module).read_text())
        imported = {node.module for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module}
        assert "register" not in imported, f"{module} imports the register model"
