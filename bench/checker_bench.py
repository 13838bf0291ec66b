"""Time the linearizability checker on generated histories, with no servers involved.

Three histories, each from a fixed seed:

* ``clean``: 10,000 ops from 8 clients on 8 keys, each op taking 1-3 ms with up to
  8 in flight, about 1 % ``info`` and 0.5 % ``fail``.  Results come from a real
  in-memory register model applied in the order of a linearization point drawn
  inside each op's interval, so the history is linearizable by construction.
* ``stale``: the same history with one late read changed to the key's first
  value, long overwritten.  Times the search plus the counterexample shrinking.
* ``pathological``: 28 writes of distinct values on one key, all concurrent,
  then a read of a value nobody wrote; and on a second key 24 ``info``
  increments by 1, 2, 4, ... (so every subset leaves a different total) and
  then reads of -1.  Neither search can finish: the verdict must be
  ``unknown``, reached within the default step budget; and again with a
  0.25 s ``deadline_s``.

Run ``python bench/checker_bench.py [--repeat N]``; results go to
``bench/results/checker.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.checkers import linearizable, register, shrink  # noqa: E402
from harness.history.ops import History, Op  # noqa: E402

RESULTS = ROOT / "bench" / "results"
#: Operation mix of the clean history, weights in percent.
MIX = {"get": 45.0, "set": 20.0, "inc": 10.0, "has": 8.0, "delete": 6.0, "add": 10.9, "clear": 0.1}


def _apply(store: dict[str, Any], f: str, key: str | None, args: dict[str, Any]) -> Any:
    """The register model the checker assumes, as the cache's return value."""
    k = key or ""
    if f == "get":
        return store.get(k)
    if f == "set":
        store[k] = args["value"]
        return True
    if f == "add":
        if k in store:
            return False
        store[k] = args["value"]
        return True
    if f == "delete":
        return store.pop(k, None) is not None
    if f == "has":
        return k in store
    if f == "inc":
        store[k] = store.get(k, 0) + args["delta"]
        return store[k]
    store.clear()
    return True


def clean_history(*, ops: int = 10_000, clients: int = 8, keys: int = 8,
                  seed: int = 1) -> History:
    """A linearizable history: results computed in linearization-point order."""
    rng = random.Random(seed)
    free_at = [rng.uniform(0, 0.002) for _ in range(clients)]
    planned: list[tuple[float, int, Op, str]] = []
    fs, weights = list(MIX), list(MIX.values())
    for n in range(ops):
        # The client free soonest goes next, so all of them stay busy at once.
        c = min(range(clients), key=free_at.__getitem__)
        start = free_at[c]
        end = start + rng.uniform(0.001, 0.003)
        free_at[c] = end + rng.uniform(0, 0.0005)
        f = rng.choices(fs, weights)[0]
        key = None if f == "clear" else f"k{rng.randrange(keys)}"
        args: dict[str, Any] = {}
        if f in ("set", "add"):
            args["value"] = 1000 * (n + 1)  # distinct, so every read names its write
        elif f == "inc":
            args["delta"] = 1
        roll = rng.random()
        fate = "info" if roll < 0.01 else "fail" if roll < 0.015 else "ok"
        op = Op(process=c, pid=1000 + c, f=f, key=key, args=args, type="ok",
                start=start, end=end)
        planned.append((rng.uniform(start, end), n, op, fate))
    store: dict[str, Any] = {}
    done: list[Op] = []
    for _, _, op, fate in sorted(planned, key=lambda p: (p[0], p[1])):
        if fate == "fail":
            done.append(Op(**{**op.__dict__, "type": "fail", "error": "refused"}))
            continue
        # An info op took effect or not; the checker is told neither.
        if fate == "info":
            if rng.random() < 0.5:
                _apply(store, op.f, op.key, op.args)
            done.append(Op(**{**op.__dict__, "type": "info", "error": "timed out",
                              "answered": False}))
            continue
        done.append(Op(**{**op.__dict__, "value": _apply(store, op.f, op.key, op.args)}))
    return History(ops=sorted(done, key=lambda op: op.end))


def stale_history(clean: History) -> tuple[History, int]:
    """``clean`` with one late read changed to its key's first, long-overwritten value."""
    ops = list(clean.ops)
    first: dict[str, Any] = {}
    for op in ops:
        if op.f in ("set", "add") and op.type == "ok" and op.value:
            first.setdefault(op.key or "", op.args["value"])
    for i in range(int(len(ops) * 0.9), len(ops)):
        op = ops[i]
        if op.f == "get" and op.type == "ok" and op.value not in (None, first[op.key or ""]):
            ops[i] = Op(**{**op.__dict__, "value": first[op.key or ""]})
            return History(ops=ops), i
    raise AssertionError("no read to make stale")


def pathological_history(*, writers: int = 28, infos: int = 24) -> History:
    """Concurrent distinct writes then an impossible read; and a pile of distinct info incs."""
    ops = [Op(process=i, pid=1000 + i, f="set", key="hot", args={"value": i}, type="ok",
              value=True, start=0.0, end=1.0 + i / 1000) for i in range(writers)]
    ops.append(Op(process=writers, pid=1000, f="get", key="hot", type="ok", value="never",
                  start=2.0, end=2.001))
    ops += [Op(process=100 + i, pid=1001, f="inc", key="infos", args={"delta": 2 ** i},
               type="info", start=0.0, end=5.0) for i in range(infos)]
    ops += [Op(process=200, pid=1002, f="get", key="infos", type="ok", value=-1,
               start=3.0 + i, end=3.5 + i) for i in range(3)]
    return History(ops=ops)


class _RecheckTimer:
    """Times the counterexample re-check (``_Shrinker.recheck``) inside ``check``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.original = shrink.Shrinker.recheck

    def __enter__(self) -> _RecheckTimer:
        original = self.original

        def timed(shrinker: Any, *args: Any) -> bool:
            t0 = time.perf_counter()
            try:
                return original(shrinker, *args)
            finally:
                self.seconds += time.perf_counter() - t0

        shrink.Shrinker.recheck = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        shrink.Shrinker.recheck = self.original  # type: ignore[method-assign]


def _time(history: History, repeat: int, **budget: Any) -> dict[str, Any]:
    runs, verdicts, rechecks = [], [], []
    for _ in range(repeat):
        with _RecheckTimer() as recheck:
            t0 = time.perf_counter()
            v = linearizable.check(register.MODEL, history, **budget)
            runs.append(time.perf_counter() - t0)
        verdicts.append(v)
        rechecks.append(recheck.seconds)
    v = verdicts[-1]
    row: dict[str, Any] = {
        "ops": len(history),
        "verdict": v.verdict,
        "median_s": round(statistics.median(runs), 3),
        "runs_s": [round(r, 3) for r in runs],
        "steps": v.evidence.get("steps"),
    }
    if "counterexample" in v.evidence:
        cx = v.evidence["counterexample"]
        row["counterexample"] = {k: cx[k] for k in ("ops", "size", "minimal", "describe")}
        row["counterexample"]["verified"] = cx["verified"]
        row["shrink_steps"] = v.evidence["shrink_steps"]
        # What re-checking the counterexample on its own adds to the check.
        row["verify_steps"] = v.evidence["verify_steps"]
        row["verify_median_s"] = round(statistics.median(rechecks), 6)
    if "reason" in v.evidence:
        row["reason"] = v.evidence["reason"]
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per history (median kept)")
    opts = ap.parse_args()
    t0 = time.perf_counter()
    clean = clean_history()
    generate_s = time.perf_counter() - t0
    stale, stale_index = stale_history(clean)
    edges = sorted([(op.start, 1) for op in clean] + [(op.end, -1) for op in clean])
    in_flight = max_in_flight = 0
    for _, step in edges:
        in_flight += step
        max_in_flight = max(max_in_flight, in_flight)
    results: dict[str, Any] = {
        "generate_clean_s": round(generate_s, 3),
        "clean_shape": {"max_in_flight": max_in_flight,
                        "info": sum(op.type == "info" for op in clean),
                        "fail": sum(op.type == "fail" for op in clean),
                        "seconds_spanned": round(max(op.end for op in clean), 2)},
        "clean": _time(clean, opts.repeat),
        "stale": {**_time(stale, opts.repeat), "mutated_op": stale_index},
        "pathological": _time(pathological_history(), opts.repeat),
        # The same, stopped by the wall clock instead of the step budget.
        "pathological_deadline": {**_time(pathological_history(), opts.repeat, deadline_s=0.25),
                                  "deadline_s": 0.25},
    }
    for name in ("clean", "stale", "pathological", "pathological_deadline"):
        r = results[name]
        print(f"{name:21} {r['ops']:6d} ops  {r['verdict']:9}  median {r['median_s']:.3f} s  "
              f"runs {r['runs_s']}  steps {r['steps']}")
    print("clean history shape:", results["clean_shape"])
    print(f"stale: counterexample re-check {results['stale']['verify_steps']} steps, "
          f"median {results['stale']['verify_median_s']} s, "
          f"verified {results['stale']['counterexample']['verified']}")
    print("stale read counterexample (mutated op", results["stale"]["mutated_op"], "):")
    for line in results["stale"]["counterexample"]["describe"]:
        print("   ", line)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "checker.json").write_text(json.dumps(results, indent=2) + "\n")
    print("wrote", RESULTS / "checker.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
