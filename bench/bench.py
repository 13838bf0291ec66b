"""Time ``coherence run`` on its defaults and compare it with the floor of what it must do.

The floor of one default run (5 backends, every scenario) is the sum of

1. **boots**: for every gunicorn the run started (each topology workdir
   ``NNN-<Backend>_<wc>x<N>[_preload]-<name>`` its worker sockets live in), the
   boot-to-ready time of a gunicorn with that backend, worker count, ``--preload``
   and app, measured in the same bench run with :func:`harness.topology.gunicorn.serve`
   as the harness starts it, one at a time.  Workers 1, 2 and 4 of the default app
   are measured for every default backend, plus any other combination the run used;
2. **requests**: each backend's sequential requests times the median loopback round
   trip of a ``get`` on its workers, plus the requests sent from ``coherence-client-*``
   threads (the concurrent scenarios; see :data:`SHIM`) times that round trip divided
   by min(clients released together, CPUs).  N clients overlap at most N round trips,
   and at most one request per CPU makes progress at once, since each costs CPU in
   the harness and in the worker; this is the most favourable overlap, so (2) stays
   a lower bound;
3. **deliberate waits**: one full settle window per result in which a read never
   caught up (``missed_reads`` or ``stale_reads`` > 0), every ``evidence["waited_s"]``
   (TTL and CachedResponse expiry waits), and every worker replacement the restart
   scenario waits for (``evidence["restarts"][*]["replaced_in_s"]``).

Everything above the floor is excess; :data:`SHIM` times parts of the run from
inside it (boots, requests, checkers, the end of the run) so the table attributes it.

Run ``python bench/bench.py [--repeat N]``; results go to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness import backends
from harness.options import DEFAULT_APP, PROJECT_ROOT
from harness.topology.gunicorn import GunicornSpec, serve
from harness.topology.kinds import find_binary
from harness.topology.servers import Deployment, Launcher
from harness.workloads.settle import DEFAULT_SETTLE

RESULTS = Path(__file__).resolve().parent / "results"
CPUS = os.cpu_count() or 1
#: Topology workdirs, as :meth:`harness.topology.pool.TopologyPool._start` names them:
#: the slug of "<Backend> <wc>x<N>[+preload]-<name>", numbered, cut at 40 characters.
WORKDIR = re.compile(r"^\d{3}-(?P<backend>.+?)_(?P<wc>sync|gthread|gevent)x(?P<workers>\d+)"
                     r"(?P<preload>_preload)?(?:-|$)")
#: What the ``coherence`` console script runs, plus timers.  Every request through a
#: worker socket is counted and timed (request to response headers), keyed by topology
#: workdir and kind: ``whoami`` (boot probes), ``poll`` (settle re-reads), ``client/<k>``
#: (sent from a ``coherence-client-*`` thread of a step releasing k clients together)
#: or ``op`` (the rest, sent one at a time).  ``serve`` is wrapped to time each boot
#: and stop; a few functions are wrapped to time checkers and the end of the run.
SHIM = r"""
import atexit, collections, contextlib, json, os, sys, threading, time
import harness.report
from harness import client, environment, verdict
from harness.report import chromium, writer
from harness.topology import pool
from harness.workloads import concurrent
clock, lock = time.perf_counter, threading.Lock()
counts, busy, topologies, spans, step = collections.Counter(), collections.Counter(), {}, [], [0]
send, close_ = client._UnixConnection.request, client._UnixConnection.close
def request(self, method, url, body=None, *args, **kwargs):
    kind = ("whoami" if url.endswith("/whoami") else
            "poll" if body and '"poll": true' in body else
            f"client/{step[0]}" if threading.current_thread().name.startswith(
                "coherence-client-") else "op")
    workdir = os.path.basename(os.path.dirname(os.path.dirname(self._path)))
    self._bench = (workdir + " " + kind, clock())
    return send(self, method, url, body, *args, **kwargs)
def close(self):
    close_(self)
    label, t0 = self.__dict__.pop("_bench", (None, 0.0))
    if label is not None:
        with lock:
            counts[label] += 1
            busy[label] += clock() - t0
client._UnixConnection.request, client._UnixConnection.close = request, close
together = concurrent.together
def timed_together(steps):
    step[0], t0 = len(steps), clock()
    try:
        return together(steps)
    finally:
        spans.append(("concurrent", str(len(steps)), t0, clock()))
concurrent.together = timed_together
serve = pool.serve
@contextlib.contextmanager
def timed_serve(spec, workdir):
    t = topologies[workdir.name] = {"app": spec.app, "workers": spec.workers,
                                    "preload": spec.preload, "start": clock()}
    with serve(spec, workdir) as g:
        t["ready"] = clock()
        try:
            yield g
        finally:
            t["stop"], t["stopped_by"] = clock(), threading.current_thread().name
    t["stopped"] = clock()
pool.serve = timed_serve
def timed(owner, name, label):
    fn = getattr(owner, name)
    def wrapper(*args, **kwargs):
        t0 = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            spans.append((label, threading.current_thread().name, t0, clock()))
    setattr(owner, name, wrapper)
for owner, name, label in (
        (verdict, "safely", "checkers"), (pool.TopologyPool, "server", "servers"),
        (pool.TopologyPool, "close", "pool_close"), (environment, "describe", "environment"),
        (harness.report, "write_run", "report"), (writer, "write_histories", "histories"),
        (writer, "render_markdown", "report_md"), (writer, "render_html", "report_html"),
        (chromium, "screenshot", "report_png")):
    timed(owner, name, label)
def dump():
    with open(os.environ["BENCH_COUNTS"], "w") as fh:
        json.dump({"counts": counts, "busy_s": busy, "topologies": topologies,
                   "spans": spans, "atexit": clock()}, fh)
atexit.register(dump)
from harness.cli import main
sys.exit(main())
"""

def loadavg() -> str:
    with suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


@contextmanager
def cache_servers() -> Iterator[tuple[dict[str, dict[str, Any]], float]]:
    """Start every default backend's servers once; yield each backend's server config.

    The servers come from the same registry and launcher as a run's, so
    the bench measures exactly what the harness starts.
    """
    import py
    from xprocess import XProcess

    configs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-servers-") as tmp, ExitStack() as stack:
        # XProcess wants a pytest-config-like object (it keeps log files on
        # it) and a py.path root, as its own pytest fixture passes.
        xp = XProcess(SimpleNamespace(), py.path.local(tmp))
        t0 = time.perf_counter()
        for n, name in enumerate(backends.DEFAULT_BACKENDS):
            b = backends.resolve(name)
            config: dict[str, Any] = {}
            for kind in b.servers:
                if find_binary(kind) is None:
                    continue
                launcher = Launcher(xprocess=xp, root=Path(tmp), stack=stack,
                                    prefix=f"bench-{n}-{kind}")
                config.update(Deployment.start(kind, b.size, launcher).config())
            configs[b.label] = config
        yield configs, time.perf_counter() - t0


def stop_run(proc: subprocess.Popen[str]) -> None:
    """Stop a run started in its own session: one SIGINT (it stops what it started), then KILL."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        if proc.poll() is None:
            proc.send_signal(sig)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)


def combo(backend: str, workers: int, preload: bool, app: str) -> str:
    """The key of a boot measurement, e.g. ``RedisCache x4+preload apps.features:app``."""
    return f"{backend} x{workers}{'+preload' if preload else ''} {app}"


def measure_floor(urls: dict[str, dict[str, Any]], needed: Iterable[tuple[str, int, bool, str]],
                  rtt_requests: int) -> dict[str, Any]:
    """Boot-to-ready and stop time of each combination, one gunicorn at a time;
    median ``get`` round trip per backend on its 4-worker default-app gunicorn."""
    wanted = {(b, w, False, DEFAULT_APP) for b in backends.DEFAULT_BACKENDS for w in (4, 2, 1)}
    order = {b: n for n, b in enumerate(backends.DEFAULT_BACKENDS)}
    todo = sorted(wanted | set(needed), key=lambda c: (
        order.get(c[0], len(order)), c[0], c[3] != DEFAULT_APP, -c[1], c[2], c[3]))
    boot: dict[str, float] = {}
    stop: dict[str, float] = {}
    rtt: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        for n, (name, workers, preload, app) in enumerate(todo):
            b = backends.resolve(name)
            workdir = Path(tmp) / f"{n:03d}"
            (workdir / "cache").mkdir(parents=True)
            config = b.cache_config(cache_dir=str(workdir / "cache"),
                                    server_config=urls.get(b.label, {}))
            spec = GunicornSpec(app=app, app_root=PROJECT_ROOT, workers=workers,
                                preload=preload, config=config)
            key = combo(name, workers, preload, app)
            t0 = time.perf_counter()
            with serve(spec, workdir) as g:
                boot[key] = time.perf_counter() - t0
                if (workers, preload, app) == (4, False, DEFAULT_APP):
                    rtts = []
                    for i in range(rtt_requests):
                        op = g.workers[i % len(g.workers)].op("get", "bench:rtt")
                        if op.type != "ok":
                            raise RuntimeError(f"{name}: get failed: {op.error}")
                        rtts.append(op.end - op.start)
                    rtt[name] = statistics.median(rtts)
                t1 = time.perf_counter()
            stop[key] = time.perf_counter() - t1
    return {"boot_s": boot, "stop_s": stop, "rtt_s": rtt}


def _span_sum(spans: list[list[Any]], label: str) -> float:
    return float(sum(t1 - t0 for name, _, t0, t1 in spans if name == label))


def _overlap(a: tuple[float, float], others: list[tuple[float, float]]) -> float:
    """Seconds of interval ``a`` covered by at least one of ``others``."""
    covered, end = 0.0, a[0]
    for s, e in sorted(others):
        s, e = max(s, end), min(e, a[1])
        if e > s:
            covered, end = covered + e - s, e
    return covered


def timed_run(report_dir: Path) -> dict[str, Any]:
    """Run ``coherence run --report-dir`` (through :data:`SHIM`), stamping output lines."""
    lines: list[tuple[float, str]] = []
    counts_file = report_dir / "bench-counts.json"
    env = {**os.environ, "BENCH_COUNTS": str(counts_file)}
    load_before = loadavg()
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
        stop_run(proc)
    wall = time.perf_counter() - t0
    shim: dict[str, Any] = (json.loads(counts_file.read_text()) if counts_file.exists()
                            else {"counts": {}, "busy_s": {}, "topologies": {}, "spans": []})
    # The shim's clock is perf_counter too (CLOCK_MONOTONIC, shared by every process).
    spans = [[name, who, a - t0, b - t0] for name, who, a, b in shim["spans"]]
    topologies: dict[str, dict[str, Any]] = {}
    for workdir in sorted({label.split(" ")[0] for label in shim["counts"]}
                          | set(shim["topologies"])):
        m = WORKDIR.match(workdir)
        if m is None:
            raise SystemExit(f"bench: cannot parse topology workdir {workdir!r}; "
                             "update bench.WORKDIR to match harness/topology/pool.py")
        s = shim["topologies"].get(workdir, {})
        t = topologies[workdir] = {
            "backend": m["backend"], "workers": int(m["workers"]), "preload": bool(m["preload"]),
            "app": s.get("app", DEFAULT_APP), "stopped_by": s.get("stopped_by")}
        if "ready" in s:
            t["boot_in_run_s"] = s["ready"] - s["start"]
            t["boot_at_s"] = [s["start"] - t0, s["ready"] - t0]
        if "stopped" in s:
            t["stop_s"] = s["stopped"] - s["stop"]
            t["stop_at_s"] = [s["stop"] - t0, s["stopped"] - t0]
    counts: dict[str, dict[str, Any]] = {}
    for label, n in shim["counts"].items():
        workdir, kind = label.split(" ")
        c = counts.setdefault(topologies[workdir]["backend"], {
            "op": 0, "poll": 0, "whoami": 0, "clients": {}, "op_busy_s": 0.0})
        if kind.startswith("client/"):
            k = kind.removeprefix("client/")
            c["clients"][k] = c["clients"].get(k, 0) + n
        else:
            c[kind] += n
            if kind == "op":
                c["op_busy_s"] += shim["busy_s"][label]
    verdicts = [t for t, text in lines if text.startswith("[")]
    last = verdicts[-1] if verdicts else float("nan")
    end = {k: _span_sum(spans, k) for k in ("pool_close", "environment", "report", "histories",
                                            "report_md", "report_html", "report_png")}
    end["report_json_etc"] = end["report"] - sum(
        end[k] for k in ("histories", "report_md", "report_html", "report_png"))
    exit_at = shim.get("atexit", t0 + wall) - t0
    return {"wall_s": wall, "exit": code, "load_before": load_before, "load_after": loadavg(),
            "to_first_progress_line_s": next(
                (t for t, text in lines if text.startswith("running ")), float("nan")),
            "last_verdict_to_exit_s": wall - last, "end": end,
            "after_atexit_s": wall - exit_at,
            "counts": counts, "topologies": topologies, "spans": spans,
            "output": [f"{t:7.3f} {text}" for t, text in lines]}


def account(report: dict[str, Any]) -> dict[str, Any]:
    """Deliberate waits from one run's report.json.

    A full settle window is waited by a result in which some read never caught up
    (``missed_reads`` or ``stale_reads`` > 0): its pending reads poll until the window
    ends.  ``waited_s`` are expiry waits; ``replaced_in_s`` are the restart scenario's
    waits for gunicorn to fork and boot a replacement worker.
    """
    settle = float(report.get("run", {}).get("settle_s", DEFAULT_SETTLE))
    windows, waited, replaced, replacements = 0, 0.0, 0.0, 0
    for r in report["results"]:
        ev: dict[str, Any] = r.get("evidence") or {}
        ints = {k: v for k, v in ev.items() if isinstance(v, int) and not isinstance(v, bool)}
        windows += bool(ints.get("missed_reads") or ints.get("stale_reads"))
        if isinstance(ev.get("waited_s"), int | float):
            waited += float(ev["waited_s"])
        for note in ev.get("restarts") or []:
            if isinstance(note, dict) and isinstance(note.get("replaced_in_s"), int | float):
                replaced += float(note["replaced_in_s"])
                replacements += 1
    return {"settle_windows": windows, "settle_s": settle, "waited_s": waited,
            "replaced_in_s": replaced, "replacements": replacements,
            "waits_s": windows * settle + waited + replaced}


def one_repeat(urls: dict[str, dict[str, Any]], rtt_requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        run = timed_run(Path(tmp))
        path = Path(tmp) / "latest" / "report.json"
        if not path.exists() or not run["counts"]:
            raise SystemExit("coherence run wrote no report:\n" + "\n".join(run["output"]))
        acc = account(json.loads(path.read_text("utf-8")))
    topos = run["topologies"]
    keys = {w: combo(t["backend"], t["workers"], t["preload"], t["app"]) for w, t in topos.items()}
    floor_load = loadavg()
    per = measure_floor(urls, {(t["backend"], t["workers"], t["preload"], t["app"])
                               for t in topos.values()}, rtt_requests)
    rtt, c = per["rtt_s"], run["counts"]
    boot = sum(per["boot_s"][k] for k in keys.values())
    seq = sum(v["op"] * rtt[b] for b, v in c.items())
    conc = sum(n * rtt[b] / min(int(k), CPUS)
               for b, v in c.items() for k, n in v["clients"].items())
    floor = boot + seq + conc + acc["waits_s"]
    spans = run["spans"]
    in_run_boot = sum(t.get("boot_in_run_s", 0.0) for t in topos.values())
    stops = [t for t in topos.values() if "stop_s" in t]
    background = [tuple(t["stop_at_s"]) for t in stops if t.get("stopped_by") != "MainThread"]
    conc_wall = _span_sum(spans, "concurrent")
    excess = {
        "to_first_progress_line_s": run["to_first_progress_line_s"],
        "boot_excess_s": in_run_boot - boot,
        "sequential_requests_excess_s": sum(v["op_busy_s"] for v in c.values()) - seq,
        "concurrent_steps_excess_s": conc_wall - conc,
        "checkers_s": sum(t1 - t0 for n, who, t0, t1 in spans
                          if n == "checkers" and who == "MainThread"),
        "server_start_s": _span_sum(spans, "servers"),
        "last_verdict_to_exit_s": run["last_verdict_to_exit_s"],
    }
    excess["rest_s"] = run["wall_s"] - floor - sum(excess.values())
    return {
        **run, **acc, "floor_load": floor_load, "floor_measured": per,
        "boot_sum_s": boot, "sequential_requests_x_rtt_s": seq,
        "concurrent_requests_x_rtt_s": conc, "requests_x_rtt_s": seq + conc,
        "floor_s": floor, "ratio": run["wall_s"] / floor, "excess": excess,
        "gunicorns": len(topos), "in_run_boot_sum_s": in_run_boot,
        "boot_overlapping_background_stop_s": sum(
            _overlap(tuple(t["boot_at_s"]), [s for s in background if s != tuple(t["stop_at_s"])])
            for t in topos.values() if "boot_at_s" in t and "stop_at_s" in t),
        "background_stops": len(background),
        "background_stop_sum_s": sum(b - a for a, b in background),
        "isolated_stop_median_s": statistics.median(per["stop_s"].values()),
        "concurrent_steps_wall_s": conc_wall,
        "requests": sum(v["op"] for v in c.values()),
        "client_requests": sum(n for v in c.values() for n in v["clients"].values()),
        "polls": sum(v["poll"] for v in c.values()),
    }


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
                  f"{r['floor_s']:.2f} s, ratio {r['ratio']:.2f}, exit {r['exit']}, "
                  f"load {r['load_before']} -> {r['load_after']}", flush=True)
    keys = ("wall_s", "boot_sum_s", "sequential_requests_x_rtt_s", "concurrent_requests_x_rtt_s",
            "waits_s", "floor_s", "in_run_boot_sum_s", "boot_overlapping_background_stop_s",
            "background_stop_sum_s", "concurrent_steps_wall_s", "after_atexit_s")
    med = {k: float(statistics.median(r[k] for r in runs)) for k in keys}
    med.update({k: float(statistics.median(r["excess"][k] for r in runs))
                for k in runs[0]["excess"]})
    med.update({f"end_{k}": float(statistics.median(r["end"][k] for r in runs))
                for k in runs[0]["end"]})
    med["ratio"] = med["wall_s"] / med["floor_s"]
    r = runs[-1]
    rtts = r["floor_measured"]["rtt_s"]
    clients = {k: sum(v["clients"].get(k, 0) for v in r["counts"].values())
               for k in sorted({k for v in r["counts"].values() for k in v["clients"]}, key=int)}
    print(f"\nmedian of {args.repeat} run(s), {CPUS} CPUs; notes from the last run")
    rows: list[tuple[str, str, str]] = [
        ("wall time of `coherence run`", "wall_s", ""),
        ("(1) gunicorn boot-to-ready, sum", "boot_sum_s",
         f"{r['gunicorns']} gunicorns, each booted alone"),
        ("(2a) sequential requests x get RTT", "sequential_requests_x_rtt_s",
         f"{r['requests']} x {min(rtts.values()) * 1e3:.2f}-{max(rtts.values()) * 1e3:.2f} ms "
         f"({r['polls']} settle polls not counted)"),
        ("(2b) client-thread requests x RTT / par.", "concurrent_requests_x_rtt_s",
         ", ".join(f"{n} from {k} clients / {min(int(k), CPUS)}" for k, n in clients.items())),
        ("(3) deliberate waits", "waits_s",
         f"{r['settle_windows']} x {r['settle_s']:g} s settle + {r['waited_s']:.2f} s waited_s"
         f" + {r['replacements']} replacements {r['replaced_in_s']:.2f} s"),
        ("floor = (1)+(2)+(3)", "floor_s", ""),
        ("ratio wall / floor", "ratio", "x  (goal <= 1.5); per run: " +
         ", ".join(f"{x['ratio']:.2f}" for x in runs)),
        ("excess: start to first progress line", "to_first_progress_line_s", ""),
        ("excess: boots in the run over (1)", "boot_excess_s",
         f"in-run sum {med['in_run_boot_sum_s']:.2f} s; "
         f"{med['boot_overlapping_background_stop_s']:.2f} s of it during a background stop"),
        ("excess: sequential requests over (2a)", "sequential_requests_excess_s",
         "time in requests, request to response"),
        ("excess: concurrent steps over (2b)", "concurrent_steps_excess_s",
         f"steps' wall {med['concurrent_steps_wall_s']:.2f} s"),
        ("excess: checkers", "checkers_s", "verdict.safely, main thread"),
        ("excess: redis/memcached start (xprocess)", "server_start_s", ""),
        ("excess: last verdict line to exit", "last_verdict_to_exit_s", "of which:"),
        ("  pool close (last stop, joins, servers)", "end_pool_close", ""),
        ("  environment probe", "end_environment", ""),
        ("  histories/*.jsonl", "end_histories", ""),
        ("  report.json, latest link", "end_report_json_etc", ""),
        ("  report.md render", "end_report_md", ""),
        ("  report.html render", "end_report_html", ""),
        ("  report.png (headless Chromium)", "end_report_png", ""),
        ("  interpreter exit after atexit", "after_atexit_s", ""),
        ("excess: rest (not attributed)", "rest_s",
         "pytest per-test work, settle overshoot, CPU taken by background stops"),
        ("note: background gunicorn stops, sum", "background_stop_sum_s",
         f"{r['background_stops']} stops, overlapped; one alone takes "
         f"~{r['isolated_stop_median_s']:.2f} s"),
    ]
    for label, key, note in rows:
        print(f"  {label:42} {med[key]:6.2f} {'' if key == 'ratio' else 's'} {note}")
    print(f"  {'(bench only) redis+memcached start':42} {server_start:6.2f} s")
    RESULTS.mkdir(exist_ok=True)
    out = {"date": time.strftime("%Y-%m-%d"), "cpus": CPUS, "repeat": args.repeat,
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
