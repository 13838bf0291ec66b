"""Checkers: judge a history and return a verdict with evidence.

Each checker is a function ``check(history, *, workers) -> Verdict``; it
reads only the history, so the same history always gives the same verdict.
"""

from __future__ import annotations

from ..history import History
from ..verdict import Verdict

#: Failed operations quoted in an ``error`` verdict's evidence.
MAX_SAMPLES = 5


def failed(history: History) -> Verdict | None:
    """``error`` when any operation failed: an incomplete history judges nothing."""
    failures = history.failures()
    if not failures:
        return None
    return Verdict(verdict="error", evidence={
        "failed_ops": len(failures),
        "samples": [{"pid": op.pid, "f": op.f, "key": op.key, "type": op.type,
                     "error": op.error} for op in failures[:MAX_SAMPLES]],
    })
