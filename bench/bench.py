"""Time ``coherence run`` and compare it with the two floors of what it must do.

A run cannot be faster than

* its **CPU floor**: the CPU seconds of every process it starts (the
  harness, its xdist workers, every gunicorn and worker, every redis-server
  and memcached, the headless Chromium of report.png) divided by the CPUs.
  They are counted by a cpuacct cgroup the run is started in (root), or
  else by ``wait4``'s rusage of the run, which holds every descendant that
  was waited for;
* its **critical path**: the longest chain of steps that must follow one
  another.  A backend's scenarios run in order on its own servers and
  gunicorns, so each backend is a chain of (1) its gunicorn boots, each
  measured alone after the run with :func:`harness.topology.gunicorn.serve`
  as the harness starts it; (2) its requests times the median ``get``
  round trip on its 4-worker gunicorn (requests sent by k clients released
  together count RTT / min(k, CPUs): the most overlap the machine allows);
  and (3) its deliberate waits: one settle window per result whose read
  never caught up, every ``waited_s`` (TTL and CachedResponse expiry), every
  worker replacement of ``restart`` and every fault duration
  (``fault_durations_s``).  The longest backend chain is the critical path.

The wall time over the larger floor is the ratio.  The **sequential floor**
(every chain end to end, the floor of bench runs before ``--jobs``) is printed
beside them for comparison.

The run is observed without patching it: ``bench_events.py`` is a pytest
plugin (loaded with ``PYTEST_PLUGINS``) that implements the harness's
``pytest_coherence_event`` hook (harness/hooks.py) in every process of the run.

Run ``python bench/bench.py [--repeat N] [--jobs N]``; results go to
``bench/results/latest.json``.
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
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness import expectations
from harness.errors import UsageError
from harness.observe import Step
from harness.options import DEFAULT_APP, PROJECT_ROOT
from harness.topology import backends
from harness.topology.gunicorn import GunicornSpec, serve
from harness.topology.kinds import find_binary
from harness.topology.servers import Deployment, Launcher
from harness.workloads.settle import DEFAULT_SETTLE

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CPUS = os.cpu_count() or 1
#: The backends of the run the bench times by default: the five the default
#: run had when the 86-verdict baseline of bench/README.md was taken, so the
#: numbers compare; ``--backend`` names others (repeatable).
BASELINE_BACKENDS = ("NullCache", "SimpleCache", "FileSystemCache", "RedisCache",
                     "MemcachedCache")
CGROUP_ROOT = Path("/sys/fs/cgroup/cpuacct")


def loadavg() -> str:
    with suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def machine_busy_s() -> float:
    """CPU seconds every process on the machine has used since boot (/proc/stat, not idle)."""
    with suppress(OSError):
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        # user nice system idle iowait irq softirq steal: idle and iowait are not busy.
        return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    return float("nan")


@contextmanager
def cpu_cgroup() -> Iterator[Path | None]:
    """A fresh cpuacct cgroup (cgroup v1, root only), removed afterwards; None if unavailable."""
    path = CGROUP_ROOT / f"coherence-bench-{os.getpid()}-{time.monotonic_ns()}"
    try:
        path.mkdir()
    except OSError:
        yield None
        return
    try:
        yield path
    finally:
        with suppress(OSError):
            path.rmdir()


def _join(path: Path) -> None:
    """``preexec_fn``: move the child into cgroup ``path`` before it execs."""
    (path / "cgroup.procs").write_text("0")


@contextmanager
def cache_servers(names: Iterable[str]) -> Iterator[dict[str, dict[str, Any]]]:
    """Start each backend's servers once for the floor measurements; yield their config.

    The servers come from the same registry and launcher as a run's.
    """
    import py
    from xprocess import XProcess

    configs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-servers-") as tmp, ExitStack() as stack:
        # XProcess wants a pytest-config-like object (it keeps log files on
        # it) and a py.path root, as its own pytest fixture passes.
        xp = XProcess(SimpleNamespace(), py.path.local(tmp))
        for n, name in enumerate(names):
            b = backends.resolve(name)
            config: dict[str, Any] = {}
            for kind in b.servers:
                if find_binary(kind) is None:
                    continue
                launcher = Launcher(xprocess=xp, root=Path(tmp), stack=stack,
                                    prefix=f"bench-{n}-{kind}")
                config.update(Deployment.start(kind, b.size, launcher).config())
            configs[b.label] = config
        yield configs


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
    """Boot-to-ready time of each combination, one gunicorn at a time, and the
    median ``get`` round trip per backend on its 4-worker default-app gunicorn."""
    needed = set(needed) | {(b, 4, False, DEFAULT_APP) for b in urls}
    boot: dict[str, float] = {}
    rtt: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        for n, (name, workers, preload, app) in enumerate(sorted(needed)):
            b = backends.resolve(name)
            workdir = Path(tmp) / f"{n:03d}"
            (workdir / "cache").mkdir(parents=True)
            config = b.cache_config(cache_dir=str(workdir / "cache"),
                                    server_config=urls.get(b.label, {}))
            spec = GunicornSpec(app=app, app_root=PROJECT_ROOT, workers=workers,
                                preload=preload, config=config)
            t0 = time.monotonic()
            with serve(spec, workdir) as g:
                boot[combo(name, workers, preload, app)] = time.monotonic() - t0
                if (workers, preload, app) == (4, False, DEFAULT_APP):
                    rtts = []
                    for i in range(rtt_requests):
                        op = g.workers[i % len(g.workers)].op("get", "bench:rtt")
                        if op.type != "ok":
                            raise RuntimeError(f"{name}: get failed: {op.error}")
                        rtts.append(op.end - op.start)
                    rtt[b.label] = statistics.median(rtts)
    return {"boot_s": boot, "rtt_s": rtt}


def read_events(directory: Path) -> list[dict[str, Any]]:
    events = []
    for path in sorted(directory.glob("*.jsonl")):
        events += [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    return events


def steps(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Per backend: the gunicorns it booted and its requests by kind, from the events."""
    backend_of = {e["workdir"]: e["backend"] for e in events if e["event"] == Step.TOPOLOGY}
    boots: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["event"] == Step.BOOT:
            boots[backend_of[e["workdir"]]].append(e)
    together = [e for e in events if e["event"] == Step.TOGETHER]
    requests: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"op": 0, "poll": 0, "whoami": 0, "clients": defaultdict(int), "busy_s": 0.0})
    for e in events:
        if e["event"] != Step.REQUEST:
            continue
        c = requests[backend_of[Path(e["path"]).parent.parent.name]]
        if e["url"].endswith("/whoami"):
            c["whoami"] += 1
        elif e["poll"]:
            c["poll"] += 1
        elif e["thread"].startswith("coherence-client-"):
            # The step that released this client, in the same process; a
            # client outside any step (the fault traffic) counts as fully
            # overlapped, the most favourable case for a floor.
            k = next((s["clients"] for s in together if s["pid"] == e["pid"]
                      and s["start"] <= e["start"] <= s["end"]), CPUS)
            c["clients"][int(k)] += 1
        else:
            c["op"] += 1
            c["busy_s"] += e["end"] - e["start"]
    return {"boots": boots, "requests": requests}


def waits(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each backend's deliberate waits, from report.json."""
    settle = float(report.get("run", {}).get("settle_s", DEFAULT_SETTLE))
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "settle_windows": 0, "waited_s": 0.0, "replaced_in_s": 0.0, "replacements": 0,
        "fault_s": 0.0})
    for r in report["results"]:
        ev: dict[str, Any] = r.get("evidence") or {}
        w = out[r["backend"]]
        ints = {k: v for k, v in ev.items() if isinstance(v, int) and not isinstance(v, bool)}
        w["settle_windows"] += bool(ints.get("missed_reads") or ints.get("stale_reads"))
        if isinstance(ev.get("waited_s"), int | float):
            w["waited_s"] += float(ev["waited_s"])
        for note in ev.get("restarts") or []:
            if isinstance(note, dict) and isinstance(note.get("replaced_in_s"), int | float):
                w["replaced_in_s"] += float(note["replaced_in_s"])
                w["replacements"] += 1
        durations = ev.get("fault_durations_s") or {}
        if isinstance(durations, dict):
            # client_timeout is a setting reported beside the durations, not a wait.
            w["fault_s"] += sum(float(v) for k, v in durations.items()
                                if k != "client_timeout" and isinstance(v, int | float))
    for w in out.values():
        w["total_s"] = (w["settle_windows"] * settle + w["waited_s"] + w["replaced_in_s"]
                        + w["fault_s"])
    return out


def timed_run(report_dir: Path, run_args: list[str]) -> dict[str, Any]:
    """Run ``coherence run`` in its own session (and cgroup), stamping its output lines."""
    events_dir = report_dir / "events"
    events_dir.mkdir(parents=True)
    env = {**os.environ, "BENCH_EVENTS": str(events_dir), "PYTEST_PLUGINS": "bench_events",
           "PYTHONPATH": os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH"))
                                         if p)}
    lines: list[tuple[float, str]] = []
    load_before = loadavg()
    busy0 = machine_busy_s()
    with cpu_cgroup() as group:
        t0 = time.monotonic()
        # Own session, so Ctrl-C reaches only us; we then send the child one
        # SIGINT, which it answers by stopping every process it started.
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "--report-dir", str(report_dir), *run_args],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
            preexec_fn=None if group is None else lambda: _join(group))  # noqa: PLW1509
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append((time.monotonic() - t0, line.rstrip()))
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            stop_run(proc)
        wall = time.monotonic() - t0
        busy = machine_busy_s() - busy0
        cpu_rusage = usage.ru_utime + usage.ru_stime
        cpu_cgroup_s = (int((group / "cpuacct.usage").read_text()) / 1e9
                        if group is not None else None)
    events = read_events(events_dir)
    verdicts = [t for t, text in lines if text.startswith("[")]
    return {
        "wall_s": wall, "exit": proc.returncode, "load_before": load_before,
        "load_after": loadavg(), "cpu_s": cpu_cgroup_s if cpu_cgroup_s is not None else cpu_rusage,
        "cpu_counted_by": "cgroup" if cpu_cgroup_s is not None else "rusage",
        "cpu_rusage_s": cpu_rusage,
        # Every process's CPU over the run, the other work on the machine included.
        "machine_busy_s": busy,
        "to_first_progress_line_s": next(
            (t for t, text in lines if text.startswith("running ")), float("nan")),
        "last_verdict_to_exit_s": wall - (verdicts[-1] if verdicts else float("nan")),
        "report_s": sum(e["end"] - e["start"] for e in events if e["event"] == Step.REPORT),
        "report_png_s": sum(e["end"] - e["start"] for e in events
                            if e["event"] == Step.REPORT_PNG),
        "events": events, "output": [f"{t:7.3f} {text}" for t, text in lines]}


def one_repeat(urls: dict[str, dict[str, Any]], run_args: list[str],
               rtt_requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        run = timed_run(Path(tmp), run_args)
        path = Path(tmp) / "latest" / "report.json"
        if not path.exists() or not run["events"]:
            raise SystemExit("coherence run wrote no report:\n" + "\n".join(run["output"]))
        report = json.loads(path.read_text("utf-8"))
    found = steps(run.pop("events"))
    waited = waits(report)
    needed = {(b, e["workers"], e["preload"], e["app"])
              for b, boots in found["boots"].items() for e in boots}
    floor_load = loadavg()
    per = measure_floor({b: urls.get(b, {}) for b in found["boots"]}, needed, rtt_requests)
    chains: dict[str, dict[str, float]] = {}
    for b, boots in found["boots"].items():
        req, rtt = found["requests"][b], per["rtt_s"][b]
        chain = {
            "boots_s": sum(per["boot_s"][combo(b, e["workers"], e["preload"], e["app"])]
                           for e in boots),
            "requests_s": req["op"] * rtt + sum(n * rtt / min(k, CPUS)
                                                 for k, n in req["clients"].items()),
            "waits_s": waited[b]["total_s"],
            "in_run_boots_s": sum(e["ready"] - e["start"] for e in boots),
            "in_run_request_busy_s": req["busy_s"],
        }
        chain["total_s"] = chain["boots_s"] + chain["requests_s"] + chain["waits_s"]
        chains[b] = chain
    longest = max(chains, key=lambda b: chains[b]["total_s"])
    critical = chains[longest]["total_s"]
    cpu_floor = run["cpu_s"] / CPUS
    return {
        **run, "floor_load": floor_load, "floor_measured": per, "chains": chains,
        "waits": waited, "requests": found["requests"], "verdicts": len(report["results"]),
        "gunicorns": sum(len(v) for v in found["boots"].values()),
        "cpu_floor_s": cpu_floor, "critical_path_s": critical, "critical_backend": longest,
        "sequential_floor_s": sum(c["total_s"] for c in chains.values()),
        "ratio": run["wall_s"] / max(cpu_floor, critical),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (median reported)")
    ap.add_argument("--jobs", type=int, help="passed to coherence run (default: its default)")
    ap.add_argument("--backend", action="append", default=[],
                    help=f"backends to run (repeatable; default {', '.join(BASELINE_BACKENDS)})")
    ap.add_argument("--rtt-requests", type=int, default=200, help="gets per backend for RTT")
    ap.add_argument("--scenario", action="append", default=[],
                    help="passed to coherence run (repeatable; default: the default run's)")
    ap.add_argument("--without", action="append", default=[], metavar="SCENARIO",
                    help="run every default scenario but this one (repeatable), to time what "
                         "it adds")
    ap.add_argument("--output", default="latest.json", help="file name under bench/results/")
    args = ap.parse_args()
    if args.scenario and args.without:
        ap.error("--scenario and --without: choose one")
    # SIGTERM raises KeyboardInterrupt as Ctrl-C does, so every finally block runs.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    names = args.backend or list(BASELINE_BACKENDS)
    run_args = [a for b in names for a in ("--backend", b)]
    if args.jobs is not None:
        run_args += ["--jobs", str(args.jobs)]
    scenarios = args.scenario
    if args.without:
        catalog = expectations.load()
        try:
            catalog.check_scenarios(args.without)
        except UsageError as e:
            ap.error(str(e))
        left = catalog.selected([]) - set(args.without)
        scenarios = [s for s in catalog.scenarios if s in left]
    run_args += [a for s in scenarios for a in ("--scenario", s)]
    runs: list[dict[str, Any]] = []
    with cache_servers(names) as urls:
        for i in range(args.repeat):
            runs.append(r := one_repeat(urls, run_args, args.rtt_requests))
            print(f"run {i + 1}/{args.repeat}: wall {r['wall_s']:.1f} s, CPU floor "
                  f"{r['cpu_floor_s']:.1f} s, critical path {r['critical_path_s']:.1f} s "
                  f"({r['critical_backend']}), ratio {r['ratio']:.2f}, sequential floor "
                  f"{r['sequential_floor_s']:.1f} s, {r['verdicts']} verdicts, exit {r['exit']}, "
                  f"other work {r['machine_busy_s'] - r['cpu_s']:.0f} CPU-s, "
                  f"load {r['load_before']} -> {r['load_after']}", flush=True)
    keys = ("wall_s", "cpu_s", "cpu_floor_s", "critical_path_s", "sequential_floor_s",
            "to_first_progress_line_s", "last_verdict_to_exit_s", "report_s", "report_png_s")
    med = {k: float(statistics.median(r[k] for r in runs)) for k in keys}
    med["ratio"] = med["wall_s"] / max(med["cpu_floor_s"], med["critical_path_s"])
    last = runs[-1]
    print(f"\nmedian of {args.repeat} run(s), {CPUS} CPUs, {last['verdicts']} verdicts, "
          f"{last['gunicorns']} gunicorns; CPU counted by {last['cpu_counted_by']}")
    for label, key in (("wall time", "wall_s"), ("CPU seconds, every process", "cpu_s"),
                       ("CPU floor = CPU / CPUs", "cpu_floor_s"),
                       ("critical path (longest backend chain)", "critical_path_s"),
                       ("ratio wall / max(floors)", "ratio"),
                       ("sequential floor (all chains end to end)", "sequential_floor_s"),
                       ("start to first progress line", "to_first_progress_line_s"),
                       ("last verdict line to exit", "last_verdict_to_exit_s"),
                       ("  report (json, histories, md, html, png)", "report_s"),
                       ("  of which report.png", "report_png_s")):
        print(f"  {label:44} {med[key]:7.2f}{'' if key == 'ratio' else ' s'}")
    print("\nbackend chains of the last run (s): boots + requests + waits = total"
          " [in-run boots]")
    for b, c in sorted(last["chains"].items(), key=lambda kv: -kv[1]["total_s"]):
        print(f"  {b:20} {c['boots_s']:6.2f} + {c['requests_s']:6.2f} + {c['waits_s']:6.2f}"
              f" = {c['total_s']:6.2f}  [{c['in_run_boots_s']:.2f}]")
    RESULTS.mkdir(exist_ok=True)
    out = {"date": time.strftime("%Y-%m-%d"), "cpus": CPUS, "repeat": args.repeat,
           "run_args": run_args, "without": args.without, "median": med, "runs": runs}
    (RESULTS / args.output).write_text(json.dumps(out, indent=2, default=str) + "\n", "utf-8")
    print(f"\nwrote {RESULTS / args.output}")
    return 0 if all(r["exit"] == 0 for r in runs) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted; every process it started was stopped", file=sys.stderr)
        sys.exit(130)
