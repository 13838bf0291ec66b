"""Run the linearizability search against the brute-force decider on many random histories.

The decider, the generator and the counterexample re-check are those of
``tests/test_linearizable_differential.py``; the suite runs 4,000 histories,
this runs as many as asked (100,000 by default) from another seed, and
fails on the first disagreement or unverified counterexample.

Run ``python bench/differential.py [--histories N] [--seed S]``; results go to
``bench/results/differential.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import test_linearizable_differential as differential  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--histories", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20_000)
    opts = ap.parse_args()
    t0 = time.perf_counter()

    def progress(n: int) -> None:
        if (n + 1) % 10_000 == 0:
            print(f"{n + 1:7d} histories  {time.perf_counter() - t0:6.1f} s", flush=True)

    violated, holds, disagreements = differential.run(opts.seed, opts.histories, progress)
    seconds = time.perf_counter() - t0
    results = {
        "histories": opts.histories,
        "seed": opts.seed,
        "judged": violated + holds,
        "violated": violated,
        "holds": holds,
        "skipped_nothing_to_judge": opts.histories - violated - holds,
        "disagreements": len(disagreements),
        "disagreement_samples": disagreements[:5],
        "seconds": round(seconds, 1),
    }
    print(json.dumps({k: v for k, v in results.items() if k != "disagreement_samples"}))
    for line in disagreements[:5]:
        print("DISAGREE", line)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "differential.json").write_text(json.dumps(results, indent=2) + "\n")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
