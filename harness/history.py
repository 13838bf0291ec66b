"""Operations and histories: the record of what every worker saw.

Borrowed from Jepsen: an operation completes as ``ok`` (it happened, with
this result), ``fail`` (it did not happen) or ``info`` (we cannot tell).
Checkers judge a history; they never talk to workers themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

OpType = Literal["ok", "fail", "info"]


@dataclass(frozen=True, kw_only=True)
class Op:
    """One completed cache operation on one worker."""

    process: int
    pid: int
    f: str
    key: str | None
    args: dict[str, Any] = field(default_factory=dict)
    type: OpType
    value: Any = None
    error: str | None = None
    start: float = 0.0
    end: float = 0.0
    #: Whether the worker replied.  An op that got a reply, whatever it said,
    #: had any effect it had before ``end``; one that got none (a timeout, a
    #: reset connection) may still take effect at any later time.
    answered: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(kw_only=True)
class History:
    """An append-only list of operations, in completion order."""

    ops: list[Op] = field(default_factory=list)
    #: Events that are not cache operations but explain them, such as a
    #: worker being replaced; checkers may quote them as evidence.
    notes: list[dict[str, Any]] = field(default_factory=list)

    def add(self, op: Op) -> Op:
        self.ops.append(op)
        return op

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def failures(self) -> list[Op]:
        return [op for op in self.ops if op.type != "ok"]
