"""Operations and histories: the record of what every worker saw, and its file format.

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from .faults import NEMESIS, Fault, FaultWindow, fault_windows
from .names import OP_TYPES, OPS, OpType

#: How long the harness waits for a worker's reply: generous for a loopback
#: round trip, short enough that a wedged worker fails the scenario quickly
#: instead of hanging the run.  A request unanswered for this long stalled
#: its worker (the fault checker's ``stalled``).
REQUEST_TIMEOUT = 10.0

@dataclass(frozen=True, kw_only=True)
class Meta:
    """What the harness knows about an op, beside what it sent; never sent.

    Names for ``phase``, ``role`` and ``app`` are in
    :mod:`harness.history.names`.
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
    #: The client the op was made for, when that is not its ``process``: a
    #: user whose requests gunicorn may hand to any worker, as a browser's
    #: are.  Session guarantees are judged per client and per worker.
    client: int | None = None

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


def record_from_json(data: dict[str, Any]) -> Op | Fault:
    """A history file line: a nemesis action or a worker's op."""
    return Fault.from_json(data) if data.get("process") == NEMESIS else Op.from_json(data)


@dataclass(kw_only=True)
class History:
    """An append-only list of operations, in completion order.

    ``ops`` holds the workers' cache operations only, so a checker that
    knows nothing of faults never meets one; the nemesis's actions are in
    ``faults``.  :meth:`records` merges both, as the history file holds them.
    """

    ops: list[Op] = field(default_factory=list)
    #: Events that are not cache operations but explain them, such as a
    #: worker being replaced; checkers may quote them as evidence.
    notes: list[dict[str, Any]] = field(default_factory=list)
    #: The nemesis's actions, in completion order.
    faults: list[Fault] = field(default_factory=list)

    def add(self, op: Op) -> Op:
        self.ops.append(op)
        return op

    def fault(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    @classmethod
    def from_records(cls, records: Iterable[Op | Fault]) -> History:
        """A history from :meth:`records` (a history file's lines), split again."""
        history = cls()
        for r in records:
            if isinstance(r, Fault):
                history.fault(r)
            else:
                history.add(r)
        return history

    def records(self) -> list[Op | Fault]:
        """Client and nemesis ops together, as saved: the client ops keep their order.

        Checkers and reports number client ops by their place in
        :attr:`ops`, so those are never reordered; each fault goes in before
        the first client op that ended after it.
        """
        faults = sorted(self.faults, key=lambda f: f.end)
        out: list[Op | Fault] = []
        i = 0
        for op in self.ops:
            while i < len(faults) and faults[i].end <= op.end:
                out.append(faults[i])
                i += 1
            out.append(op)
        out += faults[i:]
        return out

    def windows(self) -> list[FaultWindow]:
        """The fault windows of this history; see :func:`fault_windows`."""
        end = max((op.end for op in self.records()), default=0.0)
        return fault_windows(self.faults, until=end)

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


def is_negative(op: Op) -> bool:
    """An ``ok`` write whose answer says nothing about its effect (``says_nothing`` in ``OPS``)."""
    kind = OPS.get(op.f)
    return op.type == "ok" and kind is not None and kind.says_nothing(op.value)
