"""The numbers a result's card shows large: counts and fault figures found in its evidence.

Checkers nest their evidence freely, so the numbers are looked for by name
at any depth; the fault checkers' figures come from one table,
:data:`FAULT_STATS`, each with its own way of being shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from ..checkers.evidence import (
    FaultEvidence,
    LostWrites,
    Recovery,
    SilentAfterRecovery,
    StaleReads,
    key_of,
    keys_of,
)

#: Evidence counts shown first and large when a result has them.
PROMINENT = ("lost_updates", "winners", "trials", "ops", "trials_per_feature", "writes",
             "reads", "late_reads", "missed_reads", "stale_reads", "failed_ops")
#: At most this many of them, so deeply nested evidence stays readable.
_MAX_PROMINENT = 10


def count(value: Any) -> str | None:
    """A number from the evidence, rendered short; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return f"{value:g}" if isinstance(value, float) else str(value)


def _seconds(value: Any) -> str | None:
    """A duration in seconds, in ms below one second."""
    if count(value) is None:
        return None
    return f"{value * 1000:.3g} ms" if abs(value) < 1 else f"{value:.3g} s"


def _length(value: Any) -> str | None:
    return str(len(value)) if isinstance(value, list) else None


def _length_of(shape: Any, key: str) -> Callable[[Any], str | None]:
    """The length of the list under ``key`` of a dict of ``shape``."""
    keys_of(shape, key)
    return lambda value: _length(value.get(key)) if isinstance(value, dict) else None


def _ratio(shape: Any, part: str, whole: str) -> Callable[[Any], str | None]:
    """``{part} of {whole}`` from a dict of ``shape``; ``{part}`` alone without ``whole``."""
    keys_of(shape, part, whole)

    def show(value: Any) -> str | None:
        if not isinstance(value, dict) or count(value.get(part)) is None:
            return None
        of = count(value.get(whole))
        return f"{count(value[part])}" + (f" of {of}" if of is not None else "")
    return show


def _durations(shape: Any, *names: str) -> Callable[[Any], str | None]:
    """Durations under ``names`` of a dict of ``shape``, joined by ``·``; a missing one: ``-``."""
    keys_of(shape, *names)

    def show(value: Any) -> str | None:
        if not isinstance(value, dict) or all(count(value.get(k)) is None for k in names):
            return None
        return " · ".join(_seconds(value.get(k)) or "-" for k in names)
    return show


_lost_of = _ratio(LostWrites, "count", "acked")


def _lost(value: Any) -> str | None:
    shown = _lost_of(value)
    lost = cast(LostWrites, value)
    if shown is None or count(lost.get("percent")) is None:
        return shown
    return f"{shown} ({count(lost['percent'])}%)"


def _silent(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    silent = cast(SilentAfterRecovery, value)
    if count(silent.get("count")) is None:
        return None
    span = silent.get("window")
    if isinstance(span, list) and len(span) == 2 and all(count(t) is not None for t in span):
        return f"{count(silent['count'])} over {_seconds(span[1] - span[0])}"
    return count(silent["count"])


#: The fault checkers' numbers: (evidence key, label, formatter), shown
#: first and large wherever the key is in the evidence.  A formatter
#: answers None for a value of another shape (``stale_reads`` is a plain
#: count in the sharing checkers), which then goes to the generic counts.
FAULT_STATS: tuple[tuple[str, str, Callable[[Any], str | None]], ...] = (
    (key_of(FaultEvidence, "stale_reads"), "stale reads", _ratio(StaleReads, "count", "reads")),
    (key_of(FaultEvidence, "stale_reads"), "stale read age p50 · p99 · max",
     _durations(StaleReads, "age_p50", "age_p99", "age_max")),
    (key_of(FaultEvidence, "recovery"), "recovery after fault, reads · writes (max)",
     _durations(Recovery, "max_read", "max_write")),
    (key_of(FaultEvidence, "recovery"), "workers never recovered",
     _length_of(Recovery, "unrecovered")),
    (key_of(FaultEvidence, "lost_writes"), "lost writes", _lost),
    (key_of(FaultEvidence, "failed_during_fault"), "ops failed during a fault", count),
    (key_of(FaultEvidence, "silent_after_recovery"), "silent failures after recovery", _silent),
    (key_of(FaultEvidence, "windows"), "fault windows", _length),
)


def fault_stats(walked: list[tuple[str, Any]]) -> list[tuple[str, str, str]]:
    """(path, label, value) for each :data:`FAULT_STATS` row found, in the table's order.

    One found below the top level is labelled with where it was.
    """
    out = []
    for key, label, show in FAULT_STATS:
        for path, value in walked:
            where, _, name = path.rpartition(".")
            shown = show(value) if name == key else None
            if shown is not None:
                out.append((path, f"{label} ({where})" if where else label, shown))
    return out


def walk(evidence: dict[str, Any], depth: int = 3) -> list[tuple[str, Any]]:
    """Every (dotted path, value) in nested dicts, shallowest first; lists are leaves.

    Checkers nest their evidence by model ("global", "per_worker") or by
    sub-check ("unique_winner", "linearizability"), so counts and
    counterexamples are looked for below the top level too.
    """
    out: list[tuple[str, Any]] = []
    level: list[tuple[str, dict[str, Any]]] = [("", evidence)]
    for _ in range(depth):
        below: list[tuple[str, dict[str, Any]]] = []
        for prefix, node in level:
            for key, value in node.items():
                path = f"{prefix}{key}"
                out.append((path, value))
                if isinstance(value, dict):
                    below.append((f"{path}.", value))
        level = below
    return out


def stats(evidence: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """Counts from the evidence: fault numbers and well-known counts at any depth, then the rest.

    The fault checkers' numbers come from :data:`FAULT_STATS`.  A list
    under a well-known name is shown as its length, a small dict of numbers
    (``winners`` per trial, say) in full; everything else is left to the
    full evidence below.
    """
    # A counterexample's fields are shown with it, not as counts.
    walked = [(p, v) for p, v in walk(evidence) if "counterexample" not in p.split(".")]
    faults = fault_stats(walked)
    out: list[tuple[str, str, bool]] = [(label, shown, True) for _, label, shown in faults]
    # What a fault row showed, its parts included, is not shown again.
    shown_paths = {p for p, _, _ in faults}
    walked = [(p, v) for p, v in walked
              if p not in shown_paths and not any(p.startswith(f"{s}.") for s in shown_paths)]
    named = sorted(((PROMINENT.index(p.rsplit(".", 1)[-1]), n, p, v)
                    for n, (p, v) in enumerate(walked) if p.rsplit(".", 1)[-1] in PROMINENT),
                   key=lambda t: (t[0], t[1]))
    for _, _, path, value in named[:_MAX_PROMINENT]:
        shown = count(value)
        if shown is None and isinstance(value, list):
            shown = str(len(value))
        elif shown is None and isinstance(value, dict) and 0 < len(value) <= 4 \
                and all(count(v) is not None for v in value.values()):
            # A small histogram, such as winners per trial {"1": 30, "2": 1}.
            shown = ", ".join(f"{k}: {count(v)}" for k, v in value.items())
        if shown is not None:
            out.append((path, shown, True))
    taken = {p for p, _, _ in out} | shown_paths
    for key, value in evidence.items():
        shown = count(value)
        # A key ending in _at is a moment on the run's clock (healed_at), not a count.
        if key not in taken and shown is not None and not key.endswith("_at"):
            out.append((key, shown, False))
    return out
