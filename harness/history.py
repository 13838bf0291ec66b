"""Operations and histories: the record of what every worker saw.

Borrowed from Jepsen: an operation completes as ``ok``, ``fail`` or
``info``, and checkers judge a history without talking to workers.  What
each completion promises, and when the harness records it:

=====================  ========  ==========================================
what happened          type      what a checker may assume
=====================  ========  ==========================================
connect refused, the   ``fail``  surely no effect: the request was never
socket file missing              sent.  Checkers drop it.
reply 200 from our     ``ok``    it happened, and ``value`` is its result.
pid, result trusted
reply 200, but ``set``  ``info``  the client library swallowed a backend
-> False, ``inc`` ->    answered  error (python-memcached returns False or
None, ``clear`` ->               None when the server is dead or marked
False                            dead).  It took effect within
                                 [start, end] or not at all; ``value``
                                 keeps the reply's result.
reply non-200, or from ``info``  the app ran the operation and something
another pid            answered  failed after it may have taken effect
                                 (the write reached Redis, then the reply
                                 failed), or another worker ran it.
                                 Bounded to [start, end].
error after sending,   ``info``  nobody knows: the request may still be
or a timeout           not       processed at any later time.
                       answered
=====================  ========  ==========================================

Two false answers stay ``ok`` because they are legitimate results, not
hidden errors: ``add`` -> False means the key already existed, and
``delete`` -> False means the key was not found (Redis, memcached and
SimpleCache all answer so for a missing key).  A dead server that makes
them answer False is indistinguishable here; the failure-share rule of
:mod:`harness.checkers` and the other ops of the same run catch it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

OpType = Literal["ok", "fail", "info"]
#: Every completion type, in the order reports list them.
OP_TYPES: tuple[OpType, ...] = get_args(OpType)

#: The cache operations a worker performs (``POST /ops/<f>``).
CacheOp = Literal["get", "set", "delete", "add", "inc", "has", "clear"]
CACHE_OPS: tuple[CacheOp, ...] = get_args(CacheOp)

#: Results of an answered request that are a backend error the client
#: library swallowed, by operation: see the table above.
SWALLOWED: dict[str, tuple[Any, ...]] = {"set": (False,), "inc": (None,), "clear": (False,)}


@dataclass(frozen=True, kw_only=True)
class Meta:
    """What the harness knows about an op, beside what it sent; never sent.

    Names for ``phase``, ``role`` and ``app`` are in
    :mod:`harness.workloads.names`.
    """

    #: Where in its workload the op ran (before/after a clear, a restart...).
    phase: str | None = None
    #: The worker's part in a restart: the writer, a survivor, or the new one.
    role: str | None = None
    #: Which app wrote or read an entry in the blast-radius workload.
    app: str | None = None
    #: The value a read is expected to return, if it saw the write.
    want: Any = None
    trial: int | None = None
    restart: int | None = None
    #: How an invalidation was made (``delete_cached``, ``del``...).
    how: str | None = None
    #: Reply fields kept as evidence (a TTL, an instance's repr).
    observed: dict[str, Any] | None = None
    #: A read made only to fill worker-local layers, or a settle poll.
    warm: bool = False
    poll: bool = False

    def to_json(self) -> dict[str, Any]:
        """Only the fields that say something, to keep histories short."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != f.default}


@dataclass(frozen=True, kw_only=True)
class Op:
    """One completed cache operation on one worker.

    ``args`` is what was sent to the worker besides ``key``; ``meta`` is
    what the harness knows about the op and never sent.
    """

    process: int
    pid: int
    f: str
    key: str | None
    args: dict[str, Any] = field(default_factory=dict)
    meta: Meta = field(default_factory=Meta)
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
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["meta"] = self.meta.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Op:
        """An op from :meth:`to_json`; files older than ``meta`` and ``answered`` load too."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["meta"] = Meta(**(data.get("meta") or {}))
        return cls(**values)


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
        """Every op that is not ``ok``: ``fail`` and ``info`` alike."""
        return [op for op in self.ops if op.type != "ok"]

    def counts(self) -> dict[str, int]:
        """Ops by completion type, plus ``unanswered`` among the ``info`` ones."""
        by_type = Counter(op.type for op in self.ops)
        return {"ops": len(self.ops), **{t: by_type[t] for t in OP_TYPES},
                "unanswered": sum(op.type == "info" and not op.answered for op in self.ops)}
