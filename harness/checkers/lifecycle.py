"""Judges worker-lifecycle histories: restarts and values written before the fork.

``restart`` (a property): values written before a worker was replaced
must be readable on its replacement.

* ``holds``    every key its writer could read before the restart was read
  on the new worker;
* ``violated`` the new worker missed some of them (SimpleCache: the values
  lived in the dead worker's memory, or in the survivors', never in the
  new one's);
* ``none``     no writer could read its own key back (NullCache).

``import_write`` (a sharing verdict) on a value the app wrote at import:

* ``shared``   every worker read the value written by one process that is
  not a worker (the preloading master), i.e. it was inherited or stored;
* ``per-worker`` each worker read a value written by itself (the app was
  imported in every worker, so there was no preload);
* ``none``     no worker read it; ``partial`` anything else.

Both judge ``ok`` reads only: a read that was not ok is dropped, and a
key whose writer could not read it back is not held against the new worker.
"""

from __future__ import annotations

from typing import Any

from ..history.names import Phase, Role
from ..history.ops import History
from ..verdict import Conclusion, Verdict
from . import Facts, observing


@observing
def check_restart(history: History, facts: Facts) -> Verdict:
    ok = [op for op in history if op.type == "ok"]
    readable = {op.key for op in ok
                if op.meta.phase == Phase.BEFORE and op.value == op.meta.want}
    after = [op for op in ok if op.meta.phase == Phase.AFTER]
    new = [op for op in after if op.meta.role == Role.NEW]
    if not new:
        raise ValueError("no read on a replacement worker in the history")
    survivors = [op for op in after if op.meta.role == Role.SURVIVOR]
    judged = [op for op in new if op.key in readable]
    seen = sum(op.value == op.meta.want for op in judged)
    evidence: dict[str, Any] = {
        "restarts": history.notes,
        "keys_written": len({op.key for op in history if op.f == "set"}),
        "readable_before": len(readable),
        "new_worker_reads": len(judged),
        "new_worker_hits": seen,
        "survivor_own_reads": len(survivors),
        "survivor_own_hits": sum(op.value == op.meta.want for op in survivors),
    }
    if not readable:
        return Verdict(verdict=Conclusion.NONE, evidence=evidence)
    verdict = Conclusion.HOLDS if seen == len(judged) else Conclusion.VIOLATED
    return Verdict(verdict=verdict, evidence=evidence)


@observing
def check_import_write(history: History, facts: Facts) -> Verdict:
    pids = list(facts.pids)
    reads = [op for op in history if op.meta.phase == Phase.IMPORT and op.type == "ok"]
    if len({op.pid for op in reads}) != len(pids):
        raise ValueError(f"import-time value read on {len(reads)} workers, expected {len(pids)}")
    writers: dict[int, Any] = {}
    for op in reads:
        value = op.value
        writers[op.pid] = value.get("pid") if isinstance(value, dict) else None
    evidence: dict[str, Any] = {"pids": pids, "written_by": {str(k): v for k, v in
                                                            writers.items()}}
    found = [w for w in writers.values() if w is not None]
    if not found:
        verdict = Conclusion.NONE
    elif len(found) == len(pids) and len(set(found)) == 1 and found[0] not in pids:
        verdict = Conclusion.SHARED
        evidence["master_pid"] = found[0]
    elif all(writers[p] == p for p in pids):
        verdict = Conclusion.PER_WORKER
    else:
        verdict = Conclusion.PARTIAL
    return Verdict(verdict=verdict, evidence=evidence)
