"""What one gunicorn boot costs, per worker class: the numbers behind the boot windows.

Each boot is :func:`harness.topology.gunicorn.serve` of the default app on
SimpleCache, as a run starts it, stopped at once.  The CPU seconds are
``RUSAGE_CHILDREN`` of this process across the boot and its stop, which
holds the master and every worker it waited for; the wall time is from the
start until every worker answers.  Boots of the worker classes alternate, so
a change in the machine's load touches each class alike.

Run ``python bench/boots.py [--boots N] [--workers N]``; it prints one line
per worker class (median and range of CPU-s per worker, and of the wall).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.options import DEFAULT_APP  # noqa: E402
from harness.topology.gunicorn import WORKER_CLASSES, GunicornSpec, serve  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_boot(worker_class: str, workers: int, root: Path) -> tuple[float, float]:
    spec = GunicornSpec(app=DEFAULT_APP, app_root=ROOT, workers=workers,
                        worker_class=worker_class,  # type: ignore[arg-type]
                        config={"CACHE_TYPE": "SimpleCache"})
    before, started = _children_cpu(), time.monotonic()
    with serve(spec, Path(tempfile.mkdtemp(dir=root))):
        wall = time.monotonic() - started
    return _children_cpu() - before, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {wc: [] for wc in WORKER_CLASSES}
    wall: dict[str, list[float]] = {wc: [] for wc in WORKER_CLASSES}
    with tempfile.TemporaryDirectory(prefix="boots-") as tmp:
        for _ in range(args.boots):
            for wc in WORKER_CLASSES:
                c, w = one_boot(wc, args.workers, Path(tmp))
                cpu[wc].append(c / args.workers)
                wall[wc].append(w)
    print(f"{args.boots} boots of {args.workers} workers per class, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    for wc in WORKER_CLASSES:
        print(f"{wc:8} CPU-s per worker (boot and stop): median {statistics.median(cpu[wc]):.3f} "
              f"({min(cpu[wc]):.3f}-{max(cpu[wc]):.3f}); wall to ready: median "
              f"{statistics.median(wall[wc]):.2f} s ({min(wall[wc]):.2f}-{max(wall[wc]):.2f})")


if __name__ == "__main__":
    main()
