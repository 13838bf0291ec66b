"""Hand-built histories for the checker and report tests: one builder of ops and faults.

A test file makes one :class:`Ops` for its workers (their pids, how long an
op takes, a clock for ops given no time), and calls it as
``op(f, key, result, pid=..., at=...)``.  Keywords name the request's
arguments (``value``, ``timeout``, ``delta``) or the harness's
:class:`~harness.history.ops.Meta` fields (``phase``, ``trial``, ``app``...),
and the builder puts each where the workload would.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from harness.history.faults import Fault
from harness.history.names import OpType
from harness.history.ops import History, Meta, Op

#: The request's arguments; every other keyword is a :class:`Meta` field.
SENT = ("value", "timeout", "delta")
_META = {f.name for f in fields(Meta)}


@dataclass(frozen=True, kw_only=True)
class Ops:
    """Builds the ops of one test file's workers.

    ``pids[i]`` is the pid of worker index ``i`` (the op's ``process``): give
    an op either, and the other follows; neither is worker 0.  Without
    ``pids``, an op's ``process`` is its ``pid``.  An op lasts ``took``
    unless given an ``end``; one given no ``at`` starts at the next tick of
    ``clock``.  ``meta`` is every op's metadata before its own fields.
    """

    pids: Sequence[int] | None = None
    took: float = 0.01
    clock: Iterator[int] | None = None
    meta: Meta = field(default_factory=Meta)

    def __call__(self, f: str, key: str | None = None, result: Any = None, *,
                 pid: int | None = None, process: int | None = None, at: float | None = None,
                 end: float | None = None, type: OpType = "ok", answered: bool = True,
                 error: str | None = None, args: dict[str, Any] | None = None,
                 **named: Any) -> Op:
        """One completed op: ``f`` on ``key`` answered ``result``.

        ``args``, when given, is sent as it is, beside the request keywords.
        """
        unknown = sorted(k for k in named if k not in SENT and k not in _META)
        if unknown:
            raise TypeError(f"op() got {unknown!r}, which are neither request arguments "
                            f"{SENT!r} nor Meta fields; pass raw arguments as args=")
        process, pid = self._who(process, pid)
        if at is None:
            if self.clock is None:
                raise TypeError("op() needs at= when its Ops has no clock")
            at = float(next(self.clock))
        sent = {**(args or {}), **{k: v for k, v in named.items() if k in SENT}}
        meta = replace(self.meta, **{k: v for k, v in named.items() if k in _META})
        return Op(process=process, pid=pid, f=f, key=key, args=sent, meta=meta, type=type,
                  value=result, error=error, start=at,
                  end=at + self.took if end is None else end, answered=answered)

    def _who(self, process: int | None, pid: int | None) -> tuple[int, int]:
        if self.pids is None:
            who = pid if pid is not None else process if process is not None else 0
            return (who if process is None else process), (who if pid is None else pid)
        if pid is None:
            pid = self.pids[process or 0]
        return (self.pids.index(pid) if process is None else process), pid


def fault(f: str, target: str, at: float, end: float | None = None, **kw: Any) -> Fault:
    """A nemesis action ``f`` on ``target`` from ``at`` (to ``end``, or 0.1 s later)."""
    return Fault(f=f, target=target, start=at, end=at + 0.1 if end is None else end, **kw)


def history(*ops: Op, faults: Iterable[Fault] = ()) -> History:
    """A history of ``ops`` in this order, and the nemesis's ``faults``."""
    return History(ops=list(ops), faults=list(faults))
