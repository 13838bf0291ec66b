"""Verdicts and results: what a checker concluded, and how it compares.

Two vocabularies exist.  Sharing scenarios answer how far a write travels
(``shared``, ``eventual``, ``per-instance``, ``per-worker``, ``none``,
``partial``).  Property scenarios answer whether a property held
(``holds``, ``violated``).  Both may answer ``error`` (an operation
failed, so there is nothing to judge) or ``unknown`` (the checker itself
could not decide), and neither is ever turned into a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from .history import History

SHARING = ("shared", "eventual", "per-instance", "per-worker", "none", "partial")
PROPERTY = ("holds", "violated")
INCONCLUSIVE = ("error", "unknown")


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """A checker's conclusion with the evidence that supports it."""

    verdict: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in SHARING + PROPERTY + INCONCLUSIVE:
            raise ValueError(f"unknown verdict {self.verdict!r}")


def combine(verdicts: Iterable[str]) -> str:
    """Jepsen's rule for property verdicts: violated > unknown > holds."""
    seen = set(verdicts)
    for v in ("error", "violated", "unknown"):
        if v in seen:
            return v
    return "holds" if seen else "unknown"


def safely(check: Callable[[History], Verdict], history: History) -> Verdict:
    """Run a checker; a checker that crashes says ``unknown``, never a pass."""
    try:
        return check(history)
    except Exception as exc:  # noqa: BLE001 - any checker bug must become 'unknown'
        error = f"{type(exc).__name__}: {exc}"
        return Verdict(verdict="unknown", evidence={"checker_error": error})


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
        return self.verdict == self.expected

    def to_json(self) -> dict[str, Any]:
        # Not asdict: it would deep-copy the whole history only to drop it.
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "history"}
        data["ok"] = self.ok
        return data
