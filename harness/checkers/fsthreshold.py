"""Checker for ``fs-threshold``: the cache directory against what the workers were told.

The history's ``cache_dir`` note is the directory after every worker
answered (:mod:`harness.workloads.fsthreshold`): the item count cachelib
keeps in its count file, every entry with its expiry and value, and the
temp files.  Values are unique, so each entry names the write that made it.
``violated`` when any of these is proven:

* **count drift**: the count file is not the number of entries on disk,
  after the mix or after any count trial (the ``count_trials`` note: a
  clear, then fresh sets under the threshold on every worker at once, where
  a lost update can only leave the count short);
* **temp files**: a set's temp file was left behind (nothing ever removes
  one: ``_list_dir`` skips them, ``clear`` too);
* **refused but landed**: ``set`` answered False for a write whose value was
  later read back, or is on disk;
* **prune order**: a live entry was pruned while one that expires earlier,
  written before it, survived: a prune deletes in expiry order;
* **leaked temp file**: a worker SIGKILLed while it wrote left its temp file
  (the ``killed_write`` note), and a ``clear`` after it left it too.

Live entries pruned under the threshold are counted, not blamed: that is
what a threshold does.  A live entry is a key's last acknowledged write
that no delete of it, and no clear, could have removed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from ..history.names import Phase
from ..history.ops import History, Op
from ..verdict import Conclusion, Verdict
from . import Facts, observing

_MAX_SAMPLES = 5


def _snapshot(history: History) -> dict[str, Any]:
    for note in history.notes:
        if "cache_dir" in note:
            snap: dict[str, Any] = note["cache_dir"]
            return snap
    raise ValueError("the history has no cache_dir note: the directory was never read")


def _live(history: History) -> dict[str, Op]:
    """Each key's last ok set that no delete of the key, and no clear, may have undone."""
    removals = [op for op in history if op.f == "clear" or op.f == "delete"]
    sets: dict[str, list[Op]] = defaultdict(list)
    for op in history:
        if op.f == "set" and op.key is not None:
            sets[op.key].append(op)
    live: dict[str, Op] = {}
    for key, ops in sets.items():
        acked = [op for op in ops if op.type == "ok"]
        if not acked:
            continue
        last = max(acked, key=lambda op: op.end)
        if any(r.end > last.start and (r.f == "clear" or r.key == key) for r in removals):
            continue
        live[key] = last
    return live


@observing
def check(history: History, facts: Facts) -> Verdict:
    killed = next((n["killed_write"] for n in history.notes if "killed_write" in n), None)
    counted = next((n["count_trials"] for n in history.notes if "count_trials" in n), None)
    if counted is None:
        raise ValueError("the history has no count_trials note: the count trials never ran")
    # A missing count file is a count of 0 to cachelib (file.py:94-96, ``or 0``).
    short = [t for t in counted["trials"] if (t["count_file"] or 0) != t["entries"]]
    # The killed write and the clear after it came after the snapshot.
    history = History(ops=[op for op in history if op.meta.phase != Phase.FINAL],
                      notes=history.notes)
    snap = _snapshot(history)
    count, entries = snap["count_file"], snap["entries"]
    if count is None:
        raise ValueError(f"no count file in {snap['path']!r}: not a FileSystemCache with a "
                         "threshold, so there is no count to check")
    writes = {op.args.get("value"): op for op in history if op.f == "set"}
    on_disk: dict[str | None, Op] = {}
    foreign = 0
    for entry in entries:
        op = writes.get(entry["value"])
        if op is None:
            foreign += 1
        else:
            on_disk[op.key] = op
    read_back = {op.value for op in history if op.f == "get" and op.type == "ok"}
    refused = [op for op in history if op.f == "set" and op.type == "info" and op.answered
               and op.value is False]
    landed = [op for op in refused
              if op.args.get("value") in read_back or on_disk.get(op.key) is op]

    live = _live(history)
    pruned = {k: op for k, op in live.items() if k not in on_disk}
    to_wall = snap["clock"]["wall"] - snap["clock"]["monotonic"]
    expiry = {e["value"]: e["expires"] for e in entries}
    inversions: list[dict[str, Any]] = []
    for key, p in pruned.items():
        # Its expiry is at least the second its set started in, plus its timeout.
        p_expires = math.floor(p.start + to_wall) + int(p.args.get("timeout") or 0)
        for q_key, q in on_disk.items():
            q_expires = expiry[q.args.get("value")]
            if q_key in live and q.end < p.start and q_expires < p_expires:
                inversions.append({"pruned": key, "pruned_expires_from": p_expires,
                                   "survivor": q_key, "survivor_expires": q_expires})
                break

    drift = count - len(entries)
    temps = snap["temp_files"]
    evidence: dict[str, Any] = {
        "count_file": count, "entries_on_disk": len(entries), "count_drift": drift,
        "temp_files": len(temps), "foreign_entries": foreign,
        "unreadable_files": len(snap["unreadable"]),
        "sets": sum(op.f == "set" for op in history),
        "sets_answered_false": len(refused), "false_but_landed": len(landed),
        "deletes": sum(op.f == "delete" for op in history),
        "clears": sum(op.f == "clear" for op in history),
        "count_trials": len(counted["trials"]), "count_trials_planned": counted["planned"],
        "count_trials_off": len(short),
        "live_entries": len(live), "live_pruned": len(pruned),
        "prune_order_inversions": len(inversions), "workers": facts.workers,
    }
    leaked = bool(killed and killed["killed"] and killed["after_clear"])
    if killed is not None:
        evidence["killed_write"] = killed
    if temps:
        evidence["temp_samples"] = temps[:_MAX_SAMPLES]
    if landed:
        evidence["landed_samples"] = [{"key": op.key, "pid": op.pid, "value": op.args.get("value")}
                                      for op in landed[:_MAX_SAMPLES]]
    if short:
        evidence["count_trial_samples"] = short[:_MAX_SAMPLES]
    if inversions:
        evidence["inversion_samples"] = inversions[:_MAX_SAMPLES]
    violated = bool(drift or short or temps or landed or inversions or leaked)
    return Verdict(verdict=Conclusion.VIOLATED if violated else Conclusion.HOLDS,
                   evidence=evidence)
