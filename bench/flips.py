"""Run ``coherence run`` N times at the default ``--jobs`` and N times at ``--jobs 1``,
and compare every verdict: side by side must not change what any row says.

Run ``python bench/flips.py [--runs N] [--backend NAME ...]``; each run's
verdicts, wall time and load average go to ``bench/results/flips.json``, and
every row whose verdict differed between any two runs is printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import BASELINE_BACKENDS, RESULTS, loadavg
from harness.options import PROJECT_ROOT


def one(args: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-flips-") as tmp:
        load = loadavg()
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "harness", "run", "--report-dir", tmp,
                               *args], cwd=PROJECT_ROOT, capture_output=True, text=True)
        wall = time.monotonic() - t0
        report = json.loads((Path(tmp) / "latest" / "report.json").read_text("utf-8"))
    verdicts = {f"{r['backend']} {r['worker_class']} {r['scenario']}": r["verdict"]
                for r in report["results"]}
    return {"args": args, "exit": proc.returncode, "wall_s": wall, "load_before": load,
            "load_after": loadavg(), "verdicts": verdicts}


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="runs per setting (default 10)")
    ap.add_argument("--backend", action="append", default=[],
                    help=f"repeatable; default {', '.join(BASELINE_BACKENDS)}")
    ap.add_argument("--scenario", action="append", default=[],
                    help="repeatable; default: the default run's scenarios")
    ap.add_argument("--settings", choices=("both", "default", "sequential"), default="both",
                    help="which --jobs settings to run (default both, alternating)")
    ap.add_argument("--output", default="flips.json", help="file name under bench/results/")
    args = ap.parse_args()
    settings = {"both": ([], ["--jobs", "1"]), "default": ([],),
                "sequential": (["--jobs", "1"],)}[args.settings]
    base = [a for b in (args.backend or BASELINE_BACKENDS) for a in ("--backend", b)]
    base += [a for s in args.scenario for a in ("--scenario", s)]
    runs = []
    # Alternate the settings, so both see the same machine over time.
    for i in range(args.runs):
        for jobs in settings:
            runs.append(r := one(base + jobs))
            print(f"{i + 1}/{args.runs} {' '.join(jobs) or 'default jobs':13} exit {r['exit']}"
                  f" wall {r['wall_s']:6.1f} s  {len(r['verdicts'])} verdicts  load "
                  f"{r['load_before']} -> {r['load_after']}", flush=True)
    seen: dict[str, set[str]] = defaultdict(set)
    for r in runs:
        for row, verdict in r["verdicts"].items():
            seen[row].add(verdict)
    rows = set().union(*(r["verdicts"] for r in runs))
    missing = [row for row in rows if any(row not in r["verdicts"] for r in runs)]
    flips = {row: sorted(v) for row, v in seen.items() if len(v) > 1}
    print(f"\n{len(runs)} runs, {len(rows)} rows: {len(flips)} flipped, "
          f"{len(missing)} missing from some run")
    for row, values in sorted(flips.items()):
        print(f"  FLIP {row}: {' / '.join(values)}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%d"), "runs": runs, "flips": flips, "missing": missing},
        indent=2) + "\n", "utf-8")
    return 1 if flips or missing or any(r["exit"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
