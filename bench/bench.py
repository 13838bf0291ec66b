"""Time ``coherence run`` on its defaults and compare it with the floor of what it must do.

The floor of one default run (5 backends, sync x 4 workers, every scenario) is the sum of

1. gunicorn boot-to-ready time of each default backend, measured here with
   :func:`harness.topology.gunicorn.serve` exactly as the harness starts it;
2. the cache requests the run made (counted from its report.json, see :func:`account`)
   times the median loopback round trip of a ``get`` on that backend's workers;
3. the waits scenarios make on purpose: one full settle window per visibility result
   whose verdict is per-worker, none or partial, plus every ``evidence["waited_s"]``.

Run ``python bench/bench.py [--repeat N]``; results go to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from harness import backends
from harness.backends import ServerKind
from harness.options import DEFAULT_APP, PROJECT_ROOT
from harness.topology.gunicorn import GunicornSpec, serve
from harness.topology.ports import HOST, free_port, reachable
from harness.workloads.settle import DEFAULT_SETTLE

RESULTS = Path(__file__).resolve().parent / "results"
COHERENCE = Path(sys.executable).with_name("coherence")
#: Verdicts whose pending reads keep polling until the settle window ends.
SETTLED = ("per-worker", "none", "partial")


def _server_cmd(kind: ServerKind, port: int) -> list[str]:
    if kind == "redis":
        return ["redis-server", "--port", str(port), "--bind", HOST,
                "--save", "", "--appendonly", "no"]
    return ["memcached", "-l", HOST, "-p", str(port), "-U", "0",
            *(["-u", "root"] if os.geteuid() == 0 else [])]


@contextmanager
def cache_servers() -> Iterator[tuple[dict[ServerKind, str], float]]:
    """Start redis-server and memcached once; yield their urls and the start time."""
    procs: list[subprocess.Popen[bytes]] = []
    urls: dict[ServerKind, str] = {}
    try:
        t0 = time.perf_counter()
        for kind in backends.SERVER_KINDS:
            port = free_port()
            procs.append(subprocess.Popen(_server_cmd(kind, port), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
            deadline = time.monotonic() + 10
            while reachable(HOST, port, timeout=0.2) is not None:
                if procs[-1].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} did not accept connections on port {port}")
                time.sleep(0.005)
            urls[kind] = f"redis://{HOST}:{port}/0" if kind == "redis" else f"{HOST}:{port}"
        yield urls, time.perf_counter() - t0
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)  # its own group, started above
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def measure_floor(urls: dict[ServerKind, str], rtt_requests: int) -> dict[str, dict[str, float]]:
    """Per default backend: boot-to-ready, median get RTT, and (not floor) shutdown time."""
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        for name in backends.DEFAULT_BACKENDS:
            b = backends.resolve(name)
            workdir = Path(tmp) / name
            (workdir / "cache").mkdir(parents=True)
            config = b.cache_config(cache_dir=str(workdir / "cache"),
                                    server_urls={k: urls[k] for k in b.servers})
            spec = GunicornSpec(app=DEFAULT_APP, app_root=PROJECT_ROOT, workers=4, config=config)
            t0 = time.perf_counter()
            with serve(spec, workdir) as g:
                boot = time.perf_counter() - t0
                rtts = []
                for i in range(rtt_requests):
                    op = g.workers[i % len(g.workers)].op("get", "bench:rtt")
                    if op.type != "ok":
                        raise RuntimeError(f"{name}: get failed: {op.error}")
                    rtts.append(op.end - op.start)
                t1 = time.perf_counter()
            out[name] = {"boot_s": boot, "rtt_s": statistics.median(rtts),
                         "stop_s": time.perf_counter() - t1}
    return out


def timed_run(report_dir: Path) -> dict[str, Any]:
    """Run ``coherence run --report-dir`` and time it, stamping each output line."""
    cmd = [str(COHERENCE), "run", "--report-dir", str(report_dir)]
    lines: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    # Own session: Ctrl-C reaches only us, and we send the child exactly one SIGINT,
    # which it answers by stopping every process it started.
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.perf_counter() - t0, line.rstrip()))
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    wall = time.perf_counter() - t0
    verdicts = [t for t, text in lines if text.startswith("[")]
    started = next((t for t, text in lines if text.startswith("running ")), float("nan"))
    return {"wall_s": wall, "exit": code, "to_first_progress_line_s": started,
            "last_verdict_to_exit_s": wall - verdicts[-1] if verdicts else float("nan"),
            "output": [f"{t:7.3f} {text}" for t, text in lines]}


def account(report: dict[str, Any]) -> dict[str, Any]:
    """Requests per backend and deliberate waits, from one run's report.json.

    Per result: ``evidence["requests"]`` if present, else the sum of the integer fields
    ``writes``, ``reads``, ``ops``, ``*_ops`` and ``*requests``.  For a settled visibility
    result the polls (reads beyond one per writer x reader) run inside the settle window,
    which is counted whole in (3), so they are left out of (2).
    """
    settle = float(report.get("run", {}).get("settle_s", DEFAULT_SETTLE))
    requests: dict[str, int] = {}
    polls, windows, waited = 0, 0, 0.0
    for r in report["results"]:
        ev: dict[str, Any] = r.get("evidence") or {}
        ints = {k: v for k, v in ev.items() if isinstance(v, int) and not isinstance(v, bool)}
        n = ints["requests"] if "requests" in ints else sum(
            v for k, v in ints.items()
            if k in ("writes", "reads", "ops") or k.endswith(("_ops", "requests")))
        if "matrix" in ev and r["verdict"] in SETTLED:
            windows += 1
            p = max(0, ints.get("reads", 0) - ints.get("writes", 0) * len(ev.get("pids", [])))
            polls, n = polls + p, n - p
        if isinstance(ev.get("waited_s"), int | float):
            waited += float(ev["waited_s"])
        requests[r["backend"]] = requests.get(r["backend"], 0) + n
    return {"requests": requests, "settle_polls_excluded": polls, "settle_windows": windows,
            "settle_s": settle, "waited_s": waited, "waits_s": windows * settle + waited}


def one_repeat(urls: dict[ServerKind, str], rtt_requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        run = timed_run(Path(tmp))
        path = Path(tmp) / "latest" / "report.json"
        if not path.exists():
            sys.exit("coherence run wrote no report:\n" + "\n".join(run["output"]))
        acc = account(json.loads(path.read_text("utf-8")))
    per = measure_floor(urls, rtt_requests)
    fallback = statistics.median(v["rtt_s"] for v in per.values())
    boot = sum(v["boot_s"] for v in per.values())
    req = sum(n * per.get(b, {"rtt_s": fallback})["rtt_s"] for b, n in acc["requests"].items())
    floor = boot + req + acc["waits_s"]
    return {**run, **acc, "backends": per, "boot_sum_s": boot, "requests_x_rtt_s": req,
            "request_count": sum(acc["requests"].values()), "floor_s": floor,
            "ratio": run["wall_s"] / floor,
            "gunicorn_stop_sum_s": sum(v["stop_s"] for v in per.values())}


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def _term(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt  # so every finally block runs on SIGTERM too


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (median reported)")
    ap.add_argument("--rtt-requests", type=int, default=200, help="gets per backend for RTT")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _term)
    with cache_servers() as (urls, server_start):
        runs = []
        for i in range(args.repeat):
            runs.append(one_repeat(urls, args.rtt_requests))
            print(f"run {i + 1}/{args.repeat}: wall {runs[-1]['wall_s']:.2f} s, "
                  f"floor {runs[-1]['floor_s']:.2f} s, exit {runs[-1]['exit']}", flush=True)
    keys = ("wall_s", "boot_sum_s", "requests_x_rtt_s", "waits_s", "floor_s",
            "to_first_progress_line_s", "last_verdict_to_exit_s", "gunicorn_stop_sum_s")
    med: dict[str, Any] = {k: _med(runs, k) for k in keys}
    med["ratio"] = med["wall_s"] / med["floor_s"]
    last = runs[-1]
    rtt = statistics.median(v["rtt_s"] for v in last["backends"].values())
    rows = [
        ("wall time of `coherence run`", med["wall_s"], ""),
        ("(1) gunicorn boot-to-ready, sum", med["boot_sum_s"], f"{len(last['backends'])} x 4"),
        ("(2) requests x median RTT", med["requests_x_rtt_s"],
         f"{last['request_count']} x ~{rtt * 1e3:.2f} ms"),
        ("(3) deliberate waits", med["waits_s"],
         f"{last['settle_windows']} x {last['settle_s']:g} s settle + {last['waited_s']:g} s"),
        ("floor = (1)+(2)+(3)", med["floor_s"], ""),
        ("not in floor: start to first progress line", med["to_first_progress_line_s"], ""),
        ("not in floor: gunicorn shutdown, sum", med["gunicorn_stop_sum_s"], ""),
        ("not in floor: last verdict line to exit", med["last_verdict_to_exit_s"], ""),
        ("not in floor: redis+memcached start (once)", server_start, ""),
    ]
    print(f"\nmedian of {args.repeat} run(s), {os.cpu_count()} CPUs")
    for label, value, note in rows:
        print(f"  {label:44} {value:7.2f} s  {note}")
    print(f"  {'ratio wall / floor':44} {med['ratio']:7.2f} x  (goal <= 1.5)")
    RESULTS.mkdir(exist_ok=True)
    out = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "repeat": args.repeat,
           "server_start_s": server_start, "median": med, "runs": runs}
    (RESULTS / "latest.json").write_text(json.dumps(out, indent=2) + "\n", "utf-8")
    print(f"\nwrote {RESULTS / 'latest.json'}")
    return 0 if all(r["exit"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
