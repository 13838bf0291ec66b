"""Which write a read saw, and which operations surely came before which.

The session and fault checkers judge a read by the write whose value it
returned, its *source*.  Workloads write each value at most once, so a
value names its write; a value stored by no write, or by several (two
``inc`` s reaching the same count), names none, and such a read is not
judged.  Order is real time on one monotonic clock, with Jepsen's
completion types (:mod:`harness.history.ops`): an answered op took effect, if
at all, by its ``end``; an op without a reply may take effect at any later
time; a ``fail`` never happened.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from typing import Any

from ..history.names import OPS, OpKind
from ..history.ops import History, Op
from .register import freeze

_NEVER = float("inf")
_NOTHING = OpKind(name="get")


def _kind(op: Op) -> OpKind:
    """What ``op`` does, from :data:`~harness.history.names.OPS`; an op outside it does nothing."""
    return OPS.get(op.f, _NOTHING)


def stores(op: Op) -> bool:
    """Whether ``op`` is a write: it stores a value a later read may return (set, add, inc)."""
    return _kind(op).stores


def sets_key(op: Op) -> bool:
    """Whether ``op`` writes or removes its own key: any write, or a delete (not a clear)."""
    kind = _kind(op)
    return kind.keyed and kind.mutates


def stored(op: Op) -> Any:
    """The value ``op`` stores if it takes effect, frozen; None when it names none.

    An ``inc`` names its value only when its answer says it (``ok``, a number).
    """
    if op.type == "fail":
        return None
    if _kind(op).stores_arg:
        value = op.args.get("value")
        return None if value is None else freeze(value)
    if op.f == "inc" and op.type == "ok" and _number(op.value):
        return freeze(op.value)
    return None


def acknowledged(op: Op) -> bool:
    """Answered ``ok`` and positive: the op surely took effect within its interval.

    ``set``, ``add``, ``delete`` and ``clear`` answering False say nothing
    of their effect (see :mod:`.register`), nor does an ``inc`` answering None.
    """
    if op.type != "ok":
        return False
    if op.f == "inc":
        return _number(op.value)
    return _kind(op).mutates and op.value is True


def effect_end(op: Op) -> float:
    """The latest time ``op`` can take effect: its end if answered, else never bounded."""
    return op.end if op.type == "ok" or op.answered else _NEVER


def surely_before(a: Op, b: Op) -> bool:
    """Whether ``a`` took effect, if at all, before ``b`` started."""
    return a.type != "fail" and effect_end(a) < b.start


def changes(op: Op, key: str | None) -> bool:
    """Whether ``op`` may have changed ``key``: a write or delete of it, or any clear."""
    return op.type != "fail" and (not _kind(op).keyed or (op.key == key and sets_key(op)))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_as(value: Any) -> list[Any]:
    """The stored values a ``get`` answering ``value`` may have read, frozen.

    A counter stored as its digits reads back as a string (see :mod:`.register`).
    """
    out = [freeze(value)]
    if isinstance(value, str):
        try:
            n = int(value)
        except ValueError:
            return out
        if str(n) == value:
            out.append(n)
    return out


class Sources:
    """Each read's source: the one write that stored the value it returned."""

    def __init__(self, history: History) -> None:
        self.ops = history.ops
        self._writers: dict[tuple[str | None, Any], list[int]] = defaultdict(list)
        for index, op in enumerate(history.ops):
            value = stored(op)
            if value is not None:
                self._writers[(op.key, value)].append(index)

    def of(self, read: Op) -> int | None:
        """The index of the write ``read`` saw; None for a miss or an unsourced value."""
        if read.value is None:
            return None
        found = {i for v in _read_as(read.value) for i in self._writers.get((read.key, v), ())}
        return found.pop() if len(found) == 1 else None


class Removals:
    """The deletes and clears of a history (``fail`` aside), asked by interval."""

    def __init__(self, history: History) -> None:
        self._ops = history.ops
        self._by_key: dict[str | None, list[int]] = defaultdict(list)
        for index, op in enumerate(history.ops):
            kind = _kind(op)
            if kind.removes and op.type != "fail":
                self._by_key[op.key if kind.keyed else None].append(index)
        self._tables: dict[str | None, tuple[list[float], list[float]]] = {}

    def between(self, key: str | None, after: float, before: float) -> bool:
        """Whether a delete of ``key`` or a clear may have taken effect in (``after``, ``before``).

        That is one that started before ``before`` and may take effect later than ``after``.
        """
        starts, latest = self._table(key)
        n = bisect_left(starts, before)
        return n > 0 and latest[n - 1] > after

    def _table(self, key: str | None) -> tuple[list[float], list[float]]:
        """Starts in order, and for each prefix the latest time one of them may take effect."""
        if key in self._tables:
            return self._tables[key]
        ops = sorted((self._ops[i] for i in (*self._by_key.get(key, ()),
                                             *self._by_key.get(None, ()))),
                     key=lambda op: op.start)
        latest: list[float] = []
        for op in ops:
            latest.append(max(effect_end(op), latest[-1] if latest else -_NEVER))
        self._tables[key] = ([op.start for op in ops], latest)
        return self._tables[key]
