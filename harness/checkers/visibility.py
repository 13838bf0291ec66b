"""Who saw whose write: the sharing verdict from an N x N visibility matrix.

For each write (a ``set`` on worker i) and each reader j, the checker asks:
did j's first read return the written value (*immediate*), did a later
poll within the settle window return it (*late*, with the lag), or never
(*miss*)?  Aggregated over all rounds:

* ``shared``      every read saw every write at once;
* ``eventual``    every read saw every write, some only after a lag;
* ``per-worker``  writers always saw their own write, nobody else ever did;
* ``none``        not even the writer saw its write;
* ``per-instance`` (several gunicorn instances) every worker saw exactly
                  the writes made in its own instance;
* ``partial``     anything else (the evidence lists the cells).

Keys whose ``set`` was not ok are dropped (the write may or may not have
happened), and so are reads that were not ok; with every set refused the
matrix is empty and ``none``, which :mod:`harness.checkers` turns into
``error``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..history.ops import History, Op
from ..verdict import Conclusion, Verdict
from . import Facts, not_ok_keys, observing
from .evidence import Visibility

_MAX_SAMPLES = 5


@dataclass
class _Cell:
    immediate: int = 0
    late: int = 0
    miss: int = 0
    lags: list[float] = field(default_factory=list)

    def mark(self) -> str:
        total = self.immediate + self.late + self.miss
        if self.immediate == total:
            return "Y"
        if self.miss == total:
            return "-"
        if self.miss == 0:
            return "~"
        return f"{self.immediate + self.late}/{total}"


@observing
def check(history: History, facts: Facts) -> Verdict:
    """The sharing verdict; ``facts.instances[i]`` is the gunicorn instance of worker i.

    With several instances, writes seen by exactly the workers of the
    writer's own instance give ``per-instance``.
    """
    pids, instances = list(facts.pids), facts.instances
    if not any(op.f == "set" for op in history):
        raise ValueError("no set in the history: nothing was written to look for")
    refused = not_ok_keys(history, lambda op: op.f == "set")
    # The last write of each key is the one judged; reads count only once
    # that write completed, so warm-up reads of an older value are ignored.
    writes = {op.key: op for op in history if op.f == "set" and op.key not in refused}
    if not writes:
        return Verdict(verdict=Conclusion.NONE, evidence={
            "pids": pids, "writes": 0, "writes_dropped": len(refused)})
    n = len(pids)
    cells = [[_Cell() for _ in range(n)] for _ in range(n)]
    reads: dict[tuple[str | None, int], list[Op]] = defaultdict(list)
    for op in history:
        if (op.f == "get" and op.type == "ok" and op.key in writes
                and op.start >= writes[op.key].end):
            reads[(op.key, op.process)].append(op)
    stale = [op for ops in reads.values() for op in ops
             if op.value is not None and op.value != writes[op.key].args.get("value")]
    misses: list[dict[str, Any]] = []
    for key, w in writes.items():
        want = w.args.get("value")
        for reader in range(n):
            cell = cells[w.process][reader]
            seen = [op for op in reads[(key, reader)] if op.value == want]
            first = reads[(key, reader)][0] if reads[(key, reader)] else None
            if first is None:
                raise ValueError(f"write of {key!r} was never read on worker {reader}")
            if first.value == want:
                cell.immediate += 1
            elif seen:
                cell.late += 1
                cell.lags.append(seen[0].end - w.end)
            else:
                cell.miss += 1
                if len(misses) < _MAX_SAMPLES:
                    misses.append({"key": key, "writer_pid": w.pid,
                                   "reader_pid": pids[reader], "read": first.value})
    flat = [c for row in cells for c in row]
    diagonal = [cells[i][i] for i in range(n)]
    off = [cells[i][j] for i in range(n) for j in range(n) if i != j]
    if all(c.late == 0 and c.miss == 0 for c in flat):
        verdict = Conclusion.SHARED
    elif all(c.miss == 0 for c in flat):
        verdict = Conclusion.EVENTUAL
    elif all(c.miss == 0 for c in diagonal) and all(
            c.immediate == 0 and c.late == 0 for c in off):
        verdict = Conclusion.PER_WORKER
    elif all(c.immediate == 0 and c.late == 0 for c in flat):
        verdict = Conclusion.NONE
    elif instances is not None and all(
            (cells[i][j].miss == 0) if instances[i] == instances[j]
            else (cells[i][j].immediate + cells[i][j].late == 0)
            for i in range(n) for j in range(n)):
        verdict = Conclusion.PER_INSTANCE
    else:
        verdict = Conclusion.PARTIAL
    lags = [lag for c in flat for lag in c.lags]
    evidence: Visibility = {
        "pids": pids,
        # Row i = writes made on pids[i]; column j = reads on pids[j].
        # Y: always seen at once, ~: always seen, some late, -: never seen.
        "matrix": [[c.mark() for c in row] for row in cells],
    }
    if instances is not None:
        evidence["instances"] = list(instances)
    evidence["writes"] = len(writes)
    if refused:
        evidence["writes_dropped"] = len(refused)
    evidence["reads"] = sum(len(v) for v in reads.values())
    evidence["late_reads"] = sum(c.late for c in flat)
    evidence["missed_reads"] = sum(c.miss for c in flat)
    if stale:
        # An older value read after an overwrite: the clearest incoherence.
        evidence["stale_reads"] = len(stale)
        evidence["stale_samples"] = [
            {"key": op.key, "reader_pid": op.pid, "read": op.value} for op in stale[:_MAX_SAMPLES]
        ]
    if lags:
        evidence["max_lag_s"] = round(max(lags), 3)
    if misses:
        evidence["miss_samples"] = misses
    return Verdict(verdict=verdict, evidence=dict(evidence))

