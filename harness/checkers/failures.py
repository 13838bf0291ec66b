"""Ops a fault explains: those that failed in a fault window, and those aimed at retired workers.

The fault checker (:mod:`.faults`) reports both apart from its findings;
its docstring says what ``failed_during_fault`` and ``worker_gone`` mean.
"""

from __future__ import annotations

from collections import defaultdict

from ..history.ops import History, Op
from .evidence import WorkerGone


def retired(history: History) -> set[int]:
    """Pids of the workers the nemesis replaced (``value["retired"]`` of its actions)."""
    return {int(pid) for f in history.faults if isinstance(f.value, dict)
            for pid in f.value.get("retired") or ()}


def gone(op: Op, retired_pids: set[int]) -> bool:
    """Whether ``op`` never reached its worker because that worker had been retired."""
    return op.pid in retired_pids and (op.type == "fail" or (op.type == "info"
                                                             and not op.answered))


def failed_during(history: History) -> dict[str, dict[str, int]]:
    """Ops not ok that overlapped a fault window: ``fail`` and ``info`` per worker pid.

    Requests to a retired worker that never reached it are left out: see
    ``worker_gone`` in the module docstring.
    """
    windows = history.windows()
    out = retired(history)
    by_worker: dict[int, dict[str, int]] = defaultdict(lambda: {"fail": 0, "info": 0})
    for op in history:
        if op.type != "ok" and not gone(op, out) and any(
                w.start <= op.end and op.start <= w.end for w in windows):
            by_worker[op.pid][op.type] += 1
    return {str(pid): by_worker[pid] for pid in sorted(by_worker)}


def worker_gone(history: History) -> WorkerGone | None:
    """Requests to retired workers that never reached them; None when no worker was retired."""
    out = retired(history)
    if not out:
        return None
    by_worker: dict[int, int] = defaultdict(int)
    for op in history:
        if gone(op, out):
            by_worker[op.pid] += 1
    return {"count": sum(by_worker.values()),
            "by_worker": {str(pid): by_worker[pid] for pid in sorted(by_worker)}}
