"""Did one app's ``clear()`` stay inside that app?

Judges :mod:`harness.workloads.blast`.  Only entries that were readable
before the clear count: what was never stored cannot be wiped.

* ``holds``    every neighbour and foreign entry readable before the clear
  is still readable after it, and the clearing app's own entries are gone;
* ``violated`` the clear wiped a neighbour's or a foreign entry, or left
  the clearing app's own entries in place;
* ``none``     nothing was readable before the clear (NullCache);
* ``error``    a clear was not ok: what it wiped cannot be told.

An entry counts only when both its reads, before and after the clear,
were ok: a missing read after the clear must not pass for a wipe.  Its
state after the clear is its last read then: a clearing app's entry that a
replica still served right after the clear is read again within the settle
window (:mod:`harness.workloads.blast`), and counts as gone if it went
(``gone_after_settling`` says how many went late).
"""

from __future__ import annotations

from typing import Any

from ..history.names import App, Phase
from ..history.ops import History
from ..verdict import Conclusion, Verdict
from . import Facts, describe, observing

GROUPS = tuple(App)


@observing
def check(history: History, facts: Facts) -> Verdict:
    clears = [op for op in history if op.f == "clear"]
    if not clears:
        raise ValueError("no clear() in the history")
    unsure = [op for op in clears if op.type != "ok"]
    if unsure:
        return Verdict(verdict=Conclusion.ERROR, evidence={
            "clears": len(clears), "clears_not_ok": [describe(op) for op in unsure],
            "reason": "a clear() was not ok: what it wiped cannot be told"})
    reads: dict[tuple[str, str | None], dict[str, bool]] = {}
    for op in history:
        phase = op.meta.phase
        if op.f == "get" and op.type == "ok" and phase in (Phase.BEFORE, Phase.AFTER):
            seen = op.value == op.meta.want
            entry = reads.setdefault((str(op.meta.app), op.key), {})
            entry.setdefault(f"first {phase}", seen)
            entry[str(phase)] = seen  # the last read of the phase decides
    evidence: dict[str, Any] = {"clears": len(clears)}
    for group in GROUPS:
        entries = [v for (app, _), v in reads.items() if app == group]
        before = [v for v in entries if v.get("before") and "after" in v]
        evidence[group] = {
            "written": len(entries),
            "readable_before": len(before),
            "readable_after": sum(bool(v.get("after")) for v in before),
        }
        late = sum(bool(v.get("first after")) and not v.get("after") for v in before)
        if late:
            evidence[group]["gone_after_settling"] = late
    if not any(op.meta.app == App.FOREIGN for op in history):
        evidence["foreign"] = "no shared storage to write into"
    stored = [g for g in GROUPS if isinstance(evidence[g], dict)]
    if all(evidence[g]["readable_before"] == 0 for g in stored):
        return Verdict(verdict=Conclusion.NONE, evidence=evidence)
    wiped = [g for g in (App.NEIGHBOUR, App.FOREIGN) if g in stored
             and evidence[g]["readable_after"] < evidence[g]["readable_before"]]
    problems = [f"clear() wiped {g} entries" for g in wiped]
    if evidence[App.CLEARING]["readable_after"]:
        problems.append("clear() left the clearing app's own entries")
    if problems:
        evidence["violations"] = problems
    return Verdict(verdict=Conclusion.VIOLATED if problems else Conclusion.HOLDS,
                   evidence=evidence)
