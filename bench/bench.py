"""Time ``coherence run`` on its defaults and compare it with the floor of what it must do.

The floor of one default run (5 backends, sync x 4 workers, every scenario) is the sum of

1. gunicorn boot-to-ready time of each default backend, measured here with
   :func:`harness.topology.gunicorn.serve` exactly as the harness starts it;
2. the cache requests the run made times the median loopback round trip of a ``get``
   on that backend's workers (requests are counted exactly, see :data:`SHIM`);
3. the waits scenarios make on purpose: one full settle window per result in which a
   read never caught up (``missed_reads`` or ``stale_reads`` > 0), plus every
   ``evidence["waited_s"]`` (TTL and CachedResponse expiry waits).

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
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from harness import backends
from harness.backends import ServerKind
from harness.options import DEFAULT_APP, PROJECT_ROOT
from harness.topology.gunicorn import GunicornSpec, serve
from harness.topology.ports import HOST, free_port, reachable
from harness.workloads.features import FEATURES_APP
from harness.workloads.settle import DEFAULT_SETTLE

RESULTS = Path(__file__).resolve().parent / "results"
SERVER_CMD: dict[ServerKind, list[str]] = {
    "redis": ["redis-server", "--bind", HOST, "--save", "", "--appendonly", "no", "--port"],
    "memcached": ["memcached", "-l", HOST, "-U", "0",
                  *(["-u", "root"] if os.geteuid() == 0 else []), "-p"],
}
#: What the ``coherence`` console script runs, plus a counter on every request the harness
#: sends through a worker socket, keyed by topology workdir (``<Backend>_syncx4[-name]``)
#: and kind: ``whoami`` (boot probes), ``poll`` (settle re-reads) or ``op`` (the rest).
SHIM = """
import atexit, collections, json, os, sys
from harness import client
from harness.cli import main
counts, send = collections.Counter(), client._UnixConnection.request
def request(self, method, url, body=None, *args, **kwargs):
    kind = ("whoami" if url.startswith("/__coherence__/") else
            "poll" if body and '"poll": true' in body else "op")
    counts[os.path.basename(os.path.dirname(os.path.dirname(self._path))) + " " + kind] += 1
    return send(self, method, url, body, *args, **kwargs)
client._UnixConnection.request = request
atexit.register(lambda: open(os.environ["BENCH_COUNTS"], "w").write(json.dumps(counts)))
sys.exit(main())
"""


@contextmanager
def cache_servers() -> Iterator[tuple[dict[ServerKind, str], float]]:
    """Start redis-server and memcached once; yield their urls and the start time."""
    procs: list[subprocess.Popen[bytes]] = []
    urls: dict[ServerKind, str] = {}
    try:
        t0 = time.perf_counter()
        for kind, cmd in SERVER_CMD.items():
            port = free_port()
            procs.append(subprocess.Popen([*cmd, str(port)], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True))
            deadline = time.monotonic() + 10
            while reachable(HOST, port, timeout=0.2) is not None:
                if procs[-1].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} did not accept connections on port {port}")
                time.sleep(0.005)
            urls[kind] = f"redis://{HOST}:{port}/0" if kind == "redis" else f"{HOST}:{port}"
        yield urls, time.perf_counter() - t0
    finally:
        for p in procs:  # each leads its own process group, started above
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with suppress(ProcessLookupError):
                    os.killpg(p.pid, sig)
                with suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=5)
                    break


def measure_floor(urls: dict[ServerKind, str], rtt_requests: int) -> dict[str, dict[str, float]]:
    """Per default backend and app: boot-to-ready, median get RTT (demo app), stop time."""
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        for name in backends.DEFAULT_BACKENDS:
            b, out[name] = backends.resolve(name), {}
            for prefix, app in (("", DEFAULT_APP), ("features_", FEATURES_APP)):
                workdir = Path(tmp) / f"{prefix}{name}"
                (workdir / "cache").mkdir(parents=True)
                config = b.cache_config(cache_dir=str(workdir / "cache"),
                                        server_urls={k: urls[k] for k in b.servers})
                spec = GunicornSpec(app=app, app_root=PROJECT_ROOT, workers=4, config=config)
                t0 = time.perf_counter()
                with serve(spec, workdir) as g:
                    out[name][f"{prefix}boot_s"] = time.perf_counter() - t0
                    rtts = []
                    for i in range(rtt_requests if app == DEFAULT_APP else 0):
                        op = g.workers[i % len(g.workers)].op("get", "bench:rtt")
                        if op.type != "ok":
                            raise RuntimeError(f"{name}: get failed: {op.error}")
                        rtts.append(op.end - op.start)
                    t1 = time.perf_counter()
                out[name][f"{prefix}stop_s"] = time.perf_counter() - t1
                if rtts:
                    out[name]["rtt_s"] = statistics.median(rtts)
    return out


def timed_run(report_dir: Path) -> dict[str, Any]:
    """Run ``coherence run --report-dir`` (through :data:`SHIM`), stamping output lines."""
    lines: list[tuple[float, str]] = []
    counts_file = report_dir / "bench-counts.json"
    env = {**os.environ, "BENCH_COUNTS": str(counts_file)}
    t0 = time.perf_counter()
    # Own session, so Ctrl-C reaches only us; we then send the child one SIGINT,
    # which it answers by stopping every process it started.
    proc = subprocess.Popen([sys.executable, "-c", SHIM, "run", "--report-dir", str(report_dir)],
                            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.perf_counter() - t0, line.rstrip()))
        code = proc.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGKILL):
            if proc.poll() is None:
                proc.send_signal(sig)
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)
    wall = time.perf_counter() - t0
    verdicts = [t for t, text in lines if text.startswith("[")]
    raw: dict[str, int] = json.loads(counts_file.read_text()) if counts_file.exists() else {}
    counts: dict[str, dict[str, Any]] = {}
    for label, n in raw.items():  # "<Backend>_syncx4[-scenario] <kind>"
        workdir, kind = label.split(" ")
        c = counts.setdefault(workdir.split("_")[0], {"op": 0, "poll": 0, "whoami": 0,
                                                      "topologies": set()})
        c[kind] += n
        c["topologies"].add(workdir)
    return {"wall_s": wall, "exit": code,
            "to_first_progress_line_s": next(
                (t for t, text in lines if text.startswith("running ")), float("nan")),
            "last_verdict_to_exit_s": wall - verdicts[-1] if verdicts else float("nan"),
            "counts": {b: {**c, "topologies": len(c["topologies"])} for b, c in counts.items()},
            "output": [f"{t:7.3f} {text}" for t, text in lines]}


def account(report: dict[str, Any]) -> dict[str, Any]:
    """Deliberate waits from one run's report.json, and the requests its evidence names.

    A full settle window is waited by a result in which some read never caught up
    (``missed_reads`` or ``stale_reads`` > 0): its pending reads poll until the window
    ends.  ``evidence_requests`` sums ``requests`` or else the integer fields ``writes``,
    ``reads``, ``ops``, ``*_ops``, ``*requests``: kept for reference only, since most
    scenarios' evidence does not count their requests (the floor uses :data:`SHIM`).
    """
    settle = float(report.get("run", {}).get("settle_s", DEFAULT_SETTLE))
    windows, waited, named = 0, 0.0, 0
    for r in report["results"]:
        ev: dict[str, Any] = r.get("evidence") or {}
        ints = {k: v for k, v in ev.items() if isinstance(v, int) and not isinstance(v, bool)}
        named += ints["requests"] if "requests" in ints else sum(
            v for k, v in ints.items()
            if k in ("writes", "reads", "ops") or k.endswith(("_ops", "requests")))
        windows += bool(ints.get("missed_reads") or ints.get("stale_reads"))
        if isinstance(ev.get("waited_s"), int | float):
            waited += float(ev["waited_s"])
    return {"evidence_requests": named, "settle_windows": windows, "settle_s": settle,
            "waited_s": waited, "waits_s": windows * settle + waited}


def one_repeat(urls: dict[ServerKind, str], rtt_requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        run = timed_run(Path(tmp))
        path = Path(tmp) / "latest" / "report.json"
        if not path.exists() or not run["counts"]:
            raise SystemExit("coherence run wrote no report:\n" + "\n".join(run["output"]))
        acc = account(json.loads(path.read_text("utf-8")))
    per = measure_floor(urls, rtt_requests)
    c = run["counts"]
    boot = sum(per[b]["boot_s"] for b in c)
    req = sum(c[b]["op"] * per[b]["rtt_s"] for b in c)
    floor = boot + req + acc["waits_s"]
    extra = {b: c[b]["topologies"] - 1 for b in c}  # features-app gunicorns of the run
    return {**run, **acc, "backends": per, "boot_sum_s": boot, "requests_x_rtt_s": req,
            "requests": sum(v["op"] for v in c.values()),
            "polls": sum(v["poll"] for v in c.values()), "floor_s": floor,
            "ratio": run["wall_s"] / floor, "extra_gunicorns": sum(extra.values()),
            "extra_boot_sum_s": sum(n * per[b]["features_boot_s"] for b, n in extra.items()),
            "gunicorn_stop_sum_s": sum(per[b]["stop_s"] + n * per[b]["features_stop_s"]
                                       for b, n in extra.items())}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (median reported)")
    ap.add_argument("--rtt-requests", type=int, default=200, help="gets per backend for RTT")
    args = ap.parse_args()
    # SIGTERM raises KeyboardInterrupt as Ctrl-C does, so every finally block runs.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    runs: list[dict[str, Any]] = []
    with cache_servers() as (urls, server_start):
        for i in range(args.repeat):
            runs.append(r := one_repeat(urls, args.rtt_requests))
            print(f"run {i + 1}/{args.repeat}: wall {r['wall_s']:.2f} s, floor "
                  f"{r['floor_s']:.2f} s, exit {r['exit']}", flush=True)
    med = {k: float(statistics.median(r[k] for r in runs)) for k in (
        "wall_s", "boot_sum_s", "requests_x_rtt_s", "waits_s", "floor_s",
        "to_first_progress_line_s", "extra_boot_sum_s", "gunicorn_stop_sum_s",
        "last_verdict_to_exit_s")}
    med["ratio"] = med["wall_s"] / med["floor_s"]
    med["rest_s"] = med["wall_s"] - med["floor_s"] - sum(med[k] for k in (
        "to_first_progress_line_s", "extra_boot_sum_s", "gunicorn_stop_sum_s"))
    rtt = statistics.median(v["rtt_s"] for v in r["backends"].values())
    print(f"\nmedian of {args.repeat} run(s), {os.cpu_count()} CPUs")
    for label, key, note in (
        ("wall time of `coherence run`", "wall_s", ""),
        ("(1) gunicorn boot-to-ready, sum", "boot_sum_s", f"{len(r['counts'])} x 4 sync"),
        ("(2) requests x median get RTT", "requests_x_rtt_s",
         f"{r['requests']} x ~{rtt * 1e3:.2f} ms ({r['polls']} settle polls not counted)"),
        ("(3) deliberate waits", "waits_s",
         f"{r['settle_windows']} x {r['settle_s']:g} s settle + {r['waited_s']:.2f} s waited_s"),
        ("floor = (1)+(2)+(3)", "floor_s", ""),
        ("ratio wall / floor", "ratio", "x  (goal <= 1.5)"),
        ("excess: start to first progress line", "to_first_progress_line_s", ""),
        ("excess: boots of features-app gunicorns", "extra_boot_sum_s",
         f"{r['extra_gunicorns']} extra gunicorns"),
        ("excess: gunicorn shutdowns, sum", "gunicorn_stop_sum_s",
         f"{len(r['counts']) + r['extra_gunicorns']} stops"),
        ("excess: rest (not attributed)", "rest_s", ""),
        ("note: last verdict line to exit", "last_verdict_to_exit_s", "(incl. 1 shutdown)"),
    ):
        print(f"  {label:42} {med[key]:6.2f} {'' if key == 'ratio' else 's'} {note}")
    print(f"  {'(bench only) redis+memcached start':42} {server_start:6.2f} s")
    RESULTS.mkdir(exist_ok=True)
    out = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "repeat": args.repeat,
           "server_start_s": server_start, "median": med, "runs": runs}
    (RESULTS / "latest.json").write_text(json.dumps(out, indent=2) + "\n", "utf-8")
    print(f"\nwrote {RESULTS / 'latest.json'}")
    return 0 if all(r["exit"] == 0 for r in runs) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted; every process it started was stopped", file=sys.stderr)
        sys.exit(130)
