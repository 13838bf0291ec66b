"""Did one app's ``clear()`` stay inside that app?

Judges :mod:`harness.workloads.blast`.  Only entries that were readable
before the clear count: what was never stored cannot be wiped.

* ``holds``    every neighbour and foreign entry readable before the clear
  is still readable after it, and the clearing app's own entries are gone;
* ``violated`` the clear wiped a neighbour's or a foreign entry, or left
  the clearing app's own entries in place;
* ``none``     nothing was readable before the clear (NullCache);
* ``error``    an operation failed.
"""

from __future__ import annotations

from typing import Any

from ..history import History
from ..verdict import Verdict
from . import failed

GROUPS = ("clearing", "neighbour", "foreign")


def check(history: History) -> Verdict:
    bad = failed(history)
    if bad is not None:
        return bad
    clears = [op for op in history if op.f == "clear"]
    if not clears:
        raise ValueError("no clear() in the history")
    reads: dict[tuple[str, str | None], dict[str, bool]] = {}
    for op in history:
        phase = op.args.get("phase")
        if op.f == "get" and phase in ("before", "after"):
            seen = op.value == op.args.get("want")
            reads.setdefault((str(op.args["app"]), op.key), {})[str(phase)] = seen
    evidence: dict[str, Any] = {"clears": len(clears)}
    for group in GROUPS:
        entries = [v for (app, _), v in reads.items() if app == group]
        before = [v for v in entries if v.get("before")]
        evidence[group] = {
            "written": len(entries),
            "readable_before": len(before),
            "readable_after": sum(bool(v.get("after")) for v in before),
        }
    if not any(op.args.get("app") == "foreign" for op in history):
        evidence["foreign"] = "no shared storage to write into"
    stored = [g for g in GROUPS if isinstance(evidence[g], dict)]
    if all(evidence[g]["readable_before"] == 0 for g in stored):
        return Verdict(verdict="none", evidence=evidence)
    wiped = [g for g in ("neighbour", "foreign") if g in stored
             and evidence[g]["readable_after"] < evidence[g]["readable_before"]]
    problems = [f"clear() wiped {g} entries" for g in wiped]
    if evidence["clearing"]["readable_after"]:
        problems.append("clear() left the clearing app's own entries")
    if problems:
        evidence["violations"] = problems
    return Verdict(verdict="violated" if problems else "holds", evidence=evidence)
