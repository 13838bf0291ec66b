"""Verdicts and results: what a checker concluded, and how it compares.

Three vocabularies exist.  Sharing scenarios answer how far a write
travels (``shared``, ``eventual``, ``per-instance``, ``per-worker``,
``none``, ``partial``; ``key-stability`` answers how far a key is the
same, with ``stable`` for all of them; ``app-views`` adds ``stale``: an
invalidation that missed a worker sharing the entry).  Property scenarios answer whether
a property held (``holds``, ``violated``, or ``broken`` when the app raised
on most attempts).  Fault scenarios answer ``holds`` or the worst harm the fault
did (``stale``, ``lost``, ``silent``, ``unrecovered``; see
:mod:`harness.checkers.faults`), and ``failure-safety`` whether the cache
failed safe with its server down (``raises``, ``lies``, ``unrecovered``; see
:mod:`harness.checkers.safety`).  All may answer ``error`` (the run could
not observe what it meant to judge) or ``unknown`` (the checker itself
could not decide), and none is ever turned into a pass.
:class:`Conclusion` names them all, once; the groups below are derived
from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from .history.ops import History


class Conclusion(StrEnum):
    """Every verdict a checker may return, in the order reports list them."""

    SHARED = "shared"
    #: key-stability: every process computes the same key for the same call.
    STABLE = "stable"
    HOLDS = "holds"
    EVENTUAL = "eventual"
    PER_INSTANCE = "per-instance"
    PER_WORKER = "per-worker"
    PARTIAL = "partial"
    NONE = "none"
    VIOLATED = "violated"
    #: The app raised on most attempts of one of the workload's operations:
    #: the feature does not work on this backend (proven, like violated).
    BROKEN = "broken"
    STALE = "stale"
    #: Acknowledged writes gone after a fault that left the cache's storage alone.
    LOST = "lost"
    #: A key written with a timeout that the storage holds with none.
    IMMORTAL = "immortal"
    #: An effect applied more often than it was asked for (a retried increment).
    DUPLICATED = "duplicated"
    #: With the cache server down, a cache call raised through to the app.
    RAISES = "raises"
    SILENT = "silent"
    #: With the cache server down, the cache answered as if it had stored or held data.
    LIES = "lies"
    #: Requests a worker held past the harness's request timeout.
    STALLED = "stalled"
    UNRECOVERED = "unrecovered"
    ERROR = "error"
    UNKNOWN = "unknown"


#: Between the verdicts of an expectation that accepts any one of several
#: (``lost|stale|silent``): where upstream makes the finding depend on which
#: threads of a worker met a fault.
ANY_OF = "|"


def accepts(expected: str, verdict: str) -> bool:
    """Whether ``verdict`` is the one ``expected`` names, or one of those it names."""
    return verdict in expected.split(ANY_OF)


PROPERTY = (Conclusion.HOLDS, Conclusion.VIOLATED, Conclusion.BROKEN)
#: A fault's harm, mildest first; ``holds`` when it did none.
FAULT = (Conclusion.STALE, Conclusion.IMMORTAL, Conclusion.LOST, Conclusion.DUPLICATED,
         Conclusion.RAISES, Conclusion.SILENT, Conclusion.LIES, Conclusion.STALLED,
         Conclusion.UNRECOVERED)
#: Findings proven from ``ok`` operations: they stand whatever else failed.
PROVEN = (Conclusion.VIOLATED, *FAULT)
INCONCLUSIVE = (Conclusion.ERROR, Conclusion.UNKNOWN)


@dataclass(frozen=True, init=False)
class Verdict:
    """A checker's conclusion with the evidence that supports it.

    ``verdict`` may be given by name; an unknown name is refused.
    """

    verdict: Conclusion
    evidence: dict[str, Any] = field(default_factory=dict)

    def __init__(self, *, verdict: Conclusion | str,
                 evidence: dict[str, Any] | None = None) -> None:
        try:
            conclusion = Conclusion(verdict)
        except ValueError:
            raise ValueError(f"unknown verdict {verdict!r}; use one of "
                             f"{', '.join(Conclusion)}") from None
        object.__setattr__(self, "verdict", conclusion)
        object.__setattr__(self, "evidence", {} if evidence is None else evidence)


@dataclass(frozen=True, kw_only=True)
class Result:
    """One row of a report: a verdict in context, compared to its expectation."""

    backend: str
    worker_class: str
    workers: int
    preload: bool
    scenario: str
    verdict: str
    expected: str | None
    evidence: dict[str, Any] = field(default_factory=dict)
    #: The processes the row ran on, one dict each: ``kind`` (server kind or
    #: ``gunicorn``), ``role`` (master, replica, sentinel, node, arbiter,
    #: worker...), ``port`` (or ``socket``), ``pid``.
    topology: list[dict[str, Any]] = field(default_factory=list)
    #: The operations the verdict rests on; written beside the report as
    #: JSON lines, never inlined into report.json.
    history: History | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool | None:
        """True/False against the expectation; None when there is none.

        ``error`` and ``unknown`` are never ok, even with no expectation.
        """
        if self.verdict in INCONCLUSIVE:
            return False
        if self.expected is None:
            return None
        return accepts(self.expected, self.verdict)

    def to_json(self) -> dict[str, Any]:
        # Not asdict: it would deep-copy the whole history only to drop it.
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "history"}
        data["ok"] = self.ok
        return data
