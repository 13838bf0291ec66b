"""key-stability: are the keys of one call equal in every worker and every instance?

Per call (a cached view's URL, a memoized target with its arguments): keys
that differ between workers of one instance make it ``per-worker``; equal
within each instance but different between the two, ``per-instance``; equal
everywhere, ``stable``.  The row takes the worst call's verdict.  Each
unstable call is reported with two keys that differ and the part that
differs: a memory address, a ``hash()`` value (salted per interpreter), a
path, or other.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

from ..verdict import Conclusion, Verdict

_RANK = {Conclusion.STABLE: 0, Conclusion.PER_INSTANCE: 1, Conclusion.PER_WORKER: 2}
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
_INTEGER = re.compile(r"-?\d{6,}")


def check(instances: Sequence[Sequence[dict[str, Any]]]) -> Verdict:
    """``instances[i]`` holds one reply per worker of instance ``i``."""
    try:
        return _check(instances)
    except Exception as exc:  # noqa: BLE001 - a checker that crashes says unknown
        return Verdict(verdict=Conclusion.UNKNOWN,
                       evidence={"checker_error": f"{type(exc).__name__}: {exc}"})


def _check(instances: Sequence[Sequence[dict[str, Any]]]) -> Verdict:
    failed = [r for replies in instances for r in replies if "error" in r]
    if failed:
        return Verdict(verdict=Conclusion.ERROR, evidence={"worker_errors": failed[:4]})
    places = [{"instance": n, "pid": r["pid"], "cwd": r["cwd"], "root_path": r["root_path"]}
              for n, replies in enumerate(instances) for r in replies]
    calls: dict[tuple[str, str, str], list[tuple[int, dict[str, Any], dict[str, Any]]]] = {}
    for n, replies in enumerate(instances):
        for r in replies:
            for e in r["entries"]:
                calls.setdefault((e["kind"], e["name"], e["call"]), []).append((n, r, e))
    results, not_computed = [], []
    for (kind, name, call), seen in calls.items():
        errors = sorted({e["error"] for _, _, e in seen if "error" in e})
        if errors:
            not_computed.append({"kind": kind, "name": name, "call": call, "error": errors[0]})
            continue
        results.append(_judge(kind, name, call, seen))
    named_failed = [c for c in not_computed if c["kind"] == "memoized"]
    evidence: dict[str, Any] = {"instances": places, "calls": results}
    if not_computed:
        evidence["not_computed"] = not_computed
    if named_failed:
        # A target the user named (or the sample's own) must be computed.
        return Verdict(verdict=Conclusion.ERROR, evidence=evidence)
    if not results:
        evidence["reason"] = ("no @cache.cached view and no --memoized target: nothing to "
                              "compare; name memoized functions with --memoized")
        return Verdict(verdict=Conclusion.UNKNOWN, evidence=evidence)
    worst = max((Conclusion(c["verdict"]) for c in results), key=_RANK.__getitem__)
    evidence["counts"] = {v.value: sum(1 for c in results if c["verdict"] == v) for v in _RANK}
    return Verdict(verdict=worst, evidence=evidence)


def _judge(kind: str, name: str, call: str,
           seen: list[tuple[int, dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    keys = {f"{n}:{r['pid']}": e["key"] for n, r, e in seen}
    out: dict[str, Any] = {"kind": kind, "name": name, "call": call, "keys": keys}
    pair = None
    for n in sorted({n for n, _, _ in seen}):
        mine = [(r, e) for m, r, e in seen if m == n]
        differing = [(r, e) for r, e in mine if e["key"] != mine[0][1]["key"]]
        if differing:
            pair = (mine[0], differing[0])
            break
    if pair is not None:
        out["verdict"] = Conclusion.PER_WORKER.value
    else:
        first = [(r, e) for n, r, e in seen if n == 0]
        other = [(r, e) for n, r, e in seen if n != 0 and e["key"] != first[0][1]["key"]]
        if other:
            pair = (first[0], other[0])
        out["verdict"] = (Conclusion.PER_INSTANCE if other else Conclusion.STABLE).value
    if pair is not None:
        (ra, ea), (rb, eb) = pair
        out["differs"] = {"pids": [ra["pid"], rb["pid"]], "keys": [ea["key"], eb["key"]],
                          "part": _part(ra, ea, rb, eb)}
        if "material" in ea:
            out["differs"]["hashed"] = [ea["material"], eb["material"]]
    return out


def _part(ra: dict[str, Any], ea: dict[str, Any], rb: dict[str, Any],
          eb: dict[str, Any]) -> str:
    """What differs between two keys of one call: address, hash salt, path or other."""
    a, b = ea.get("material", ea["key"]), eb.get("material", eb["key"])
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    changed = " ".join(a[max(0, i1 - 12):i2 + 12] + " " + b[max(0, j1 - 12):j2 + 12]
                       for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")
    paths = {ra["cwd"], ra["root_path"], rb["cwd"], rb["root_path"]}
    if _ADDRESS.search(changed):
        return "address (a default repr embeds the object's memory address)"
    if any(p and (p in a or p in b) for p in paths):
        return "path (the key embeds the working directory or the code's absolute path)"
    if _INTEGER.search(changed):
        return "hash salt (hash() of a str differs per interpreter: PYTHONHASHSEED)"
    return "other"
