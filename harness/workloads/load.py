"""The ``load`` workload: the seed's wrk run through gunicorn's shared listener.

Traffic arrives as it would in production: wrk's 10 connections go to
gunicorn's public TCP port, and gunicorn decides which worker serves each
(unevenly: with gevent, one worker has been seen to take every request).
Then every worker reads every key once through its private socket, the
*probe*, so that whatever the routing did, each worker has asked for each
key: a shared cache answers it from another worker's entry, a per-worker
cache computes it again.  Last, every worker's own record (``apps/user.py``:
requests, hits and each slow call with its times, per key) is read through
its socket.

The history holds one ``probe`` op per probe, one ``slow-call`` op per
execution of the "database" call (from the request's start to its set),
one ``first-hit`` op per worker and key, and one ``slow-calls`` op per
read-back; wrk's figures and each worker's counts are in its notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from ..checkers.evidence import Baseline
from ..client import WorkerClient, exchange
from ..history.names import FIRST_HIT, PROBE, READ_BACK, SLOW_CALL
from ..history.ops import History, Op
from ..load import wrk
from ..topology.backends import BASELINE
from ..topology.ports import HOST
from .concurrent import together
from .keys import Keyspace

#: Keys wrk cycles through: few enough that each is requested hundreds of
#: times in a few seconds (steady hits), more than the 10 connections, so
#: the first round is all cold misses, some of them concurrent.
KEYS = 16
#: The read-back of a worker's record.
RECORD_URL = "/slow-calls?prefix={prefix}"


def run(workers: Sequence[WorkerClient], port: int, *, binary: str, duration_s: int,
        keys: int = KEYS) -> History:
    """Drive ``GET /user/<prefix>-<n>`` with wrk for ``duration_s``, then read every record."""
    # A prefix no earlier run used: the records and the cache hold only this run's keys.
    prefix = Keyspace("load").fresh("user").replace(":", "-")
    history = History()
    url = f"http://{HOST}:{port}/"
    outcome = wrk.run(binary, url, duration_s=duration_s, prefix=prefix, keys=keys)
    figures: dict[str, Any]
    if outcome.problem is not None:
        figures = {"error": outcome.problem}
    else:
        try:
            figures = wrk.parse(outcome.stdout).to_json()
        except wrk.OutputError as exc:
            figures = {"error": str(exc)}
    history.notes.append({"wrk": figures, "command": " ".join(outcome.command),
                          "wall_s": round(outcome.elapsed_s, 3), "keys": keys,
                          "prefix": prefix, "pids": [w.pid for w in workers]})
    for op in together([partial(_probe, w, prefix, keys) for w in workers]):
        history.add(op)
    for w in workers:
        read_record(history, w, prefix)
    return history


def record_key(prefix: str, n: int) -> str:
    """The key of wrk's ``n``-th name as the workers' records name it."""
    return f"plain/{prefix}-{n}"


def _probe(w: WorkerClient, prefix: str, keys: int) -> list[Op]:
    ops = []
    for n in range(keys):
        ex = exchange(w.socket_path, w.pid, "GET", f"/user/{prefix}-{n}")
        ops.append(Op(process=w.index, pid=w.pid, f=PROBE, key=record_key(prefix, n),
                      type=ex.type, value=ex.body.get("gen"), error=ex.error,
                      answered=ex.answered, start=ex.start, end=ex.end))
    return ops


def read_record(history: History, w: WorkerClient, prefix: str) -> None:
    """Add worker ``w``'s record of the keys under ``prefix`` to ``history``."""
    ex = exchange(w.socket_path, w.pid, "GET", RECORD_URL.format(prefix=prefix))
    history.add(Op(process=w.index, pid=w.pid, f=READ_BACK, key=prefix, type=ex.type,
                   error=ex.error, answered=ex.answered, start=ex.start, end=ex.end))
    if ex.type != "ok":
        return
    body = ex.body
    for key, calls in sorted(body.get("slow_calls", {}).items()):
        for start, end in calls:
            history.add(Op(process=w.index, pid=w.pid, f=SLOW_CALL, key=key, type="ok",
                           start=float(start), end=float(end)))
    for key, at in sorted(body.get("first_hit", {}).items()):
        history.add(Op(process=w.index, pid=w.pid, f=FIRST_HIT, key=key, type="ok",
                       start=float(at), end=float(at)))
    history.notes.append({"worker": w.pid, "served": body.get("served", {}),
                          "hits": body.get("hits", {}), "timeout_s": body.get("timeout_s"),
                          "slow_call_s": body.get("slow_call_s")})


def versus(figures: dict[str, Any], baseline: Baseline) -> dict[str, float | None]:
    """This backend's throughput and p99 as multiples of the no-cache baseline's."""
    def ratio(a: Any, b: Any) -> float | None:
        ok = isinstance(a, int | float) and isinstance(b, int | float) and b > 0
        return round(a / b, 3) if ok else None

    return {"requests_per_s": ratio(figures.get("requests_per_s"),
                                    baseline.get("requests_per_s")),
            "p99": ratio((figures.get("latency_ms") or {}).get("p99"),
                         (baseline.get("latency_ms") or {}).get("p99"))}


def baseline_of(evidence: dict[str, Any], *, measured: str) -> Baseline:
    """The no-cache baseline's figures, as every load row carries them."""
    if "requests_per_s" not in evidence:
        return {"backend": BASELINE.label, "measured": measured,
                "error": evidence.get("wrk_error") or evidence.get("reason") or "no figures"}
    return {"backend": BASELINE.label, "measured": measured,
            "requests_per_s": evidence.get("requests_per_s"),
            "latency_ms": evidence.get("latency_ms"), "hit_ratio": evidence.get("hit_ratio"),
            "requests": evidence.get("requests"), "errors": evidence.get("errors")}
