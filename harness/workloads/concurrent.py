"""Concurrent workloads: several workers hit the same keys at the same moment.

Each client is a thread bound to one worker's private socket; a barrier
releases all clients of a step together, so the requests overlap as much
as one harness process can make them.  Every operation is recorded with
its invoke and complete times from one monotonic clock, and nothing is
retried (see :mod:`harness.client`), so the history is exactly what
happened, for the checkers in :mod:`harness.checkers.concurrency` and
:mod:`harness.checkers.linearizable`.

* :func:`add_race`: per trial, every worker ``add``s one fresh key at once,
  then every worker reads it.
* :func:`inc_race`: every worker runs ``per_worker`` ``inc``s on one key at
  once, then every worker reads the final value.
* :func:`register`: ``clients`` clients spread over the workers run a
  seeded random mix of get/set/delete/add/inc on a few keys.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from .. import observe
from ..client import WorkerClient
from ..history.names import Phase
from ..history.ops import History, Meta, Op
from .keys import Keyspace

#: The smallest per-trial chance of a double ``add`` winner the add-race
#: is sized to catch.  Alone on the machine, FileSystemCache showed 2-3
#: winners in 13 of 30 trials (about 0.43); with four other backends' groups
#: beside it (``--jobs 5`` on 2 CPUs) three runs showed 4, 7 and 10 of 31
#: (0.13-0.32), and one run of six none in 31.  Sized for 0.05.
ADD_RACE_MIN_RATE = 0.05
#: The chance of missing such a race altogether, at most.
MISS_PROBABILITY = 1e-3
#: ``inc`` calls per worker in the inc-race.
INCS_PER_WORKER = 50
#: The register workload: clients, keys and operations per client.
REGISTER_CLIENTS = 8
REGISTER_KEYS = 2
REGISTER_OPS = 150
#: No concurrent step may run longer than this, whatever the backend does.
STEP_DEADLINE = 60.0


def trials_for(rate: float = ADD_RACE_MIN_RATE, miss: float = MISS_PROBABILITY) -> int:
    """Trials so that a race hitting each trial with ``rate`` is missed with at most ``miss``."""
    return math.ceil(math.log(miss) / math.log(1.0 - rate))


ADD_RACE_TRIALS = trials_for()
#: Trials the add-race always runs (those a rate of 0.2 needs): past them,
#: it stops at the first trial with more than one winner, which already
#: decides the verdict, so only a backend that never races pays for all.
ADD_RACE_MIN_TRIALS = trials_for(rate=0.2)


def together(steps: Sequence[Callable[[], list[Op]]]) -> list[Op]:
    """Run each step in its own thread, released together; ops in completion order."""
    barrier = threading.Barrier(len(steps))
    results: list[list[Op]] = [[] for _ in steps]
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=STEP_DEADLINE)
            results[n] = steps[n]()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    # Daemon threads: on Ctrl-C the main thread stops every process at once;
    # a client still mid-loop must not hold the interpreter open after that.
    threads = [threading.Thread(target=run, args=(n,), name=f"coherence-client-{n}",
                                daemon=True)
               for n in range(len(steps))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        # Each request has its own timeout (client.REQUEST_TIMEOUT), so a
        # step ends; the deadline only bounds a step with many requests.
        t.join(timeout=STEP_DEADLINE)
        if t.is_alive():
            raise TimeoutError(f"{t.name} still running after {STEP_DEADLINE:g}s")
    observe.emit(observe.Step.TOGETHER, clients=len(steps), start=started, end=time.monotonic())
    if errors:
        raise errors[0]
    return sorted((op for ops in results for op in ops), key=lambda op: op.end)


def _read_everywhere(history: History, workers: Sequence[WorkerClient], key: str,
                     meta: Meta) -> None:
    for w in workers:
        history.add(w.op("get", key, meta=meta))


def _add(w: WorkerClient, key: str, trial: int) -> list[Op]:
    return [w.op("add", key, value=f"w{w.index}-t{trial}", meta=Meta(trial=trial))]


def add_race(workers: Sequence[WorkerClient], *, trials: int = ADD_RACE_TRIALS,
             min_trials: int = ADD_RACE_MIN_TRIALS) -> History:
    """Up to ``trials`` races on fresh keys; see :data:`ADD_RACE_MIN_TRIALS`."""
    keys = Keyspace("add-race")
    history = History()
    ran = 0
    doubled = False
    for t in range(trials):
        key = keys.fresh(f"t{t}")
        steps = [partial(_add, w, key, t) for w in workers]
        ops = together(steps)
        for op in ops:
            history.add(op)
        _read_everywhere(history, workers, key, Meta(trial=t, phase=Phase.AFTER))
        ran += 1
        doubled = doubled or sum(op.type == "ok" and op.value is True for op in ops) > 1
        if doubled and ran >= min_trials:
            break
    history.notes.append({"trials": ran, "max_trials": trials, "min_trials": min_trials,
                          "min_rate": ADD_RACE_MIN_RATE, "miss_probability": MISS_PROBABILITY})
    return history


def inc_race(workers: Sequence[WorkerClient], *, per_worker: int = INCS_PER_WORKER) -> History:
    key = Keyspace("inc-race").fresh("counter")
    history = History()

    def incs(w: WorkerClient) -> list[Op]:
        return [w.op("inc", key, delta=1) for _ in range(per_worker)]

    for op in together([partial(incs, w) for w in workers]):
        history.add(op)
    _read_everywhere(history, workers, key, Meta(phase=Phase.FINAL))
    history.notes.append({"workers": len(workers), "incs_per_worker": per_worker})
    return history


def register(workers: Sequence[WorkerClient], *, clients: int = REGISTER_CLIENTS,
             keys: int = REGISTER_KEYS, ops: int = REGISTER_OPS, seed: int = 0) -> History:
    """Random single-key operations from ``clients`` clients, ``ops`` each.

    Values are integers, distinct per client and operation, so ``inc`` is
    always valid and a read names the write it saw.
    """
    names = [Keyspace("register").fresh(f"k{n}") for n in range(keys)]
    history = History()

    def client(c: int) -> list[Op]:
        rng = random.Random(seed * 1_000 + c)
        w = workers[c % len(workers)]
        out: list[Op] = []
        for n in range(ops):
            key = rng.choice(names)
            f = rng.choices(("get", "set", "delete", "add", "inc"), (3, 2, 1, 2, 2))[0]
            value = (c + 1) * 1_000_000 + n * 1_000
            args: dict[str, Any] = {"value": value} if f in ("set", "add") else {}
            op = w.op(f, key, **args)
            # The client, not the worker, is the Jepsen process here.
            out.append(replace(op, process=c))
        return out

    for op in together([partial(client, c) for c in range(clients)]):
        history.add(op)
    history.notes.append({"clients": clients, "keys": keys, "ops_per_client": ops,
                          "seed": seed})
    return history


def elapsed(history: History) -> float:
    """Seconds from the first invoke to the last completion."""
    if not history.ops:
        return 0.0
    return max(op.end for op in history) - min(op.start for op in history)

