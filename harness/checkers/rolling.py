"""rolling-deploy: do two Flask-Caching versions read each other's entries?

``shared`` when every kind of entry (plain set, cached view, memoized
function) written by either version is read by the other; ``per-instance``
when none is; ``partial`` otherwise, with the kinds that did not cross and
both sides' keys.  ``none`` when not even the writer reads its own entries
back (NullCache); ``error`` when an operation failed, since a missing read
then says nothing about the versions.
"""

from __future__ import annotations

from typing import Any

from ..verdict import Conclusion, Verdict


def check(facts: dict[str, Any], versions: dict[str, str]) -> Verdict:
    try:
        return _check(facts, versions)
    except Exception as exc:  # noqa: BLE001 - a checker that crashes says unknown
        return Verdict(verdict=Conclusion.UNKNOWN,
                       evidence={"checker_error": f"{type(exc).__name__}: {exc}"})


def _check(facts: dict[str, Any], versions: dict[str, str]) -> Verdict:
    runs = [(kind, direction, r) for kind, per in facts.items()
            for direction, r in per.items() if direction != "keys"]
    evidence: dict[str, Any] = {"versions": versions, "entries": facts}
    failed = [f"{kind} {direction}: {e}" for kind, direction, r in runs for e in r["errors"]]
    if failed:
        evidence["failed_ops"] = failed[:6]
        return Verdict(verdict=Conclusion.ERROR, evidence=evidence)
    if not any(r["self_read"] for _, _, r in runs):
        return Verdict(verdict=Conclusion.NONE, evidence=evidence)
    crossed = {f"{kind} {direction}": r["read"] for kind, direction, r in runs}
    evidence["not_read_by_the_other_version"] = [k for k, ok in crossed.items() if not ok]
    if all(crossed.values()):
        return Verdict(verdict=Conclusion.SHARED, evidence=evidence)
    if not any(crossed.values()):
        return Verdict(verdict=Conclusion.PER_INSTANCE, evidence=evidence)
    return Verdict(verdict=Conclusion.PARTIAL, evidence=evidence)
