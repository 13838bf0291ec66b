"""Numbers for the load and stampede scenarios: what they cost in wall time, how stable they are.

Runs the pytest front door ``--runs`` times with ``--scenario load --scenario
stampede`` on the five default backends (4 sync workers, the default
``--load-duration``), then ``--stampede-runs - --runs`` more times with
``--scenario stampede`` alone, and reports:

* the wall time the ``load`` scenario adds per backend: the call time of its
  test (its own gunicorn, wrk for the duration, the probe, the read-back;
  NullCache's row is also the run's baseline), from ``--durations``;
* requests per second per backend over the runs: min / median / max;
* stampede slow calls per trial per backend and variant over every trial
  of every run: min / median / max, and the per-run medians;
* the load average before each run.

Run ``python bench/load_bench.py [--runs 5] [--stampede-runs 10]``; results go to
``bench/results/load-latest.json``.  Ctrl-C sends the current run one SIGINT
(it stops everything it started), then SIGKILL 30 s later.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import stop_run
from harness.option_values import DEFAULT_LOAD_DURATION
from harness.options import PROJECT_ROOT
from harness.topology.backends import DEFAULT_BACKENDS

RESULTS = Path(__file__).resolve().parent / "results"
STAMPEDES = ("stampede", "stampede-cached", "stampede-memoize")
#: pytest's ``--durations`` line for a load test's call.
DURATION = re.compile(r"^\s*([0-9.]+)s call\s+\S*test_load\.py::test_load\[(\w+)-")


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def one_run(n: int, scenarios: list[str], where: Path) -> dict[str, Any]:
    report_dir = where / f"run-{n:02d}"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "COHERENCE_RUN")}
    before = loadavg()
    t0 = time.monotonic()
    # Own session, so Ctrl-C reaches only us; the run then gets one SIGINT.
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "scenarios", "-q", "-p", "no:randomly", "--durations=0",
         "--coherence-report-dir", str(report_dir), "-o", f"cache_dir={where / 'pytest-cache'}",
         *[a for s in scenarios for a in ("--coherence-scenario", s)]],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        out, _ = proc.communicate()
    finally:
        stop_run(proc)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bench: run {n} exited {proc.returncode}:\n{out[-3000:]}")
    report = json.loads((report_dir / "latest" / "report.json").read_text())
    load_s = {m[2]: float(m[1]) for line in out.splitlines() if (m := DURATION.match(line))}
    rows: dict[str, dict[str, Any]] = {}
    for r in report["results"]:
        row = rows.setdefault(r["backend"], {})
        ev = r["evidence"]
        if r["scenario"] == "load":
            row.update(verdict=r["verdict"], requests_per_s=ev.get("requests_per_s"),
                       p99_ms=(ev.get("latency_ms") or {}).get("p99"),
                       hit_ratio=ev.get("hit_ratio"), slow_calls_per_key=ev.get(
                           "slow_calls_per_key"), load_call_s=load_s.get(r["backend"]))
        elif r["scenario"] in STAMPEDES:
            row[r["scenario"]] = {"verdict": r["verdict"],
                                  "per_trial": ev.get("slow_calls_per_trial", [])}
    return {"scenarios": scenarios, "wall_s": round(wall, 1), "loadavg_before": before,
            "environment": report["environment"], "backends": rows}


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for b in DEFAULT_BACKENDS:
        rows = [r["backends"].get(b, {}) for r in runs]
        loads = [row for row in rows if "requests_per_s" in row]
        out[b] = {
            "load_runs": len(loads),
            "requests_per_s": spread([row["requests_per_s"] for row in loads]),
            "p99_ms": spread([row["p99_ms"] for row in loads]),
            "load_call_s": spread([row["load_call_s"] for row in loads if row["load_call_s"]]),
            **{s: {"trials": sum(len(row[s]["per_trial"]) for row in rows if s in row),
                   "per_trial": spread([n for row in rows if s in row
                                        for n in row[s]["per_trial"]]),
                   "run_medians": spread([statistics.median(row[s]["per_trial"])
                                          for row in rows if s in row and row[s]["per_trial"]]),
                   "verdicts": sorted({row[s]["verdict"] for row in rows if s in row})}
               for s in STAMPEDES},
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of load and stampede")
    parser.add_argument("--stampede-runs", type=int, default=10,
                        help="runs of stampede in all, the load runs included")
    args = parser.parse_args()
    where = RESULTS / f"load-{time.strftime('%Y%m%dT%H%M%S')}"
    where.mkdir(parents=True)
    runs = []
    for n in range(max(args.runs, args.stampede_runs)):
        scenarios = ["load", *STAMPEDES[:1]] if n < args.runs else ["stampede"]
        runs.append(one_run(n, scenarios, where))
        print(f"run {n + 1}: {runs[-1]['wall_s']}s, load average before "
              f"{runs[-1]['loadavg_before']}", flush=True)
    result = {"load_duration_s": DEFAULT_LOAD_DURATION, "runs": runs,
              "summary": summarise(runs)}
    (RESULTS / "load-latest.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
