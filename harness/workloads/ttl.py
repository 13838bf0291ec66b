"""TTL semantics across workers: ``timeout=0``, ``inc`` on a timed key, and short lifetimes.

Three workloads, run side by side so that their waits overlap:

* :func:`rounding` (``ttl-rounding``) sets keys with a 1 s and a 2 s
  timeout on one worker and polls them on the next one until they are gone,
  so each key's lifetime is bounded by the last read that saw it and the
  first that did not.  Whole-second expiry (``int(time()) + timeout``) makes
  a lifetime depend on where in the wall-clock second the set fell, so the
  sets are spread evenly over one second.
* :func:`zero_and_inc` (``ttl-zero`` and ``ttl-inc``) runs on an instance
  of its own (:data:`INSTANCE_WORKERS`, :func:`instance_config`): a 1 s
  default timeout and a small threshold.  Every worker sets two
  ``timeout=0`` keys and two control keys with
  the default timeout, and sets ``inc`` keys with timeouts 5, 1 and 0 and
  increments them at once; every worker reads every key before and after
  the default timeout has passed; then every worker writes past the
  threshold, and every worker reads the ``timeout=0`` keys once more.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client import WorkerClient
from ..history.names import Phase
from ..history.ops import History, Meta, Op
from .concurrent import STEP_DEADLINE
from .keys import Keyspace

#: The timeouts whose lifetimes ``ttl-rounding`` measures.
ROUNDING_TIMEOUTS = (1, 2)
#: Trials per timeout.  Their sets fall 1/12 s apart, so each timeout's six
#: sit at six phases of the wall-clock second, 1/6 s apart: whole-second
#: expiry cuts at least three of them short by half a second or more, which
#: no poll delay under 0.3 s can hide, while an exact expiry gives no trial
#: anything to prove (the bounds are sound whatever the delays).
ROUNDING_TRIALS = 6
#: Pause between two polling passes over the live keys.
POLL_S = 0.02
#: A worker that has not read a key this long after its set never will: a
#: per-worker store keeps it in the writer alone, so the writer measures it.
VISIBLE_WITHIN = 0.3
#: Polling stops this long past a key's timeout; still there is late beyond doubt.
LATE_BOUND = 1.5
#: No backend expires a key more than a second early (whole-second expiry),
#: so a key is polled only this often until one second before its timeout:
#: an earlier expiry is still caught, to within this.
COARSE_S = 0.25

#: Workers of the ``ttl-zero``/``ttl-inc`` instance: a writer and another
#: worker whose writes must not prune it are all the property needs.
INSTANCE_WORKERS = 2
#: ``timeout=0`` keys, and control keys, each of its workers writes.
ZERO_KEYS = 2
#: ``CACHE_DEFAULT_TIMEOUT`` of that instance.
DEFAULT_TIMEOUT = 1
#: ``CACHE_THRESHOLD`` of that instance: above the 14 keys the first phase
#: writes with 2 workers, so nothing is pruned before the fillers come.
THRESHOLD = 16
#: Fillers each worker writes: alone enough to put its own SimpleCache
#: (which holds its 7 first-phase keys) over the threshold.
FILLERS = THRESHOLD
#: Fillers live long, so a prune that honours ``timeout=0`` removes them first.
FILLER_TIMEOUT = 600
#: The ``inc`` keys' timeouts: one that outlives the wait, one that does
#: not, and one that never expires.  With the 1 s default and whole-second
#: expiry (up to 1 s either way), read 2.3 s after the writes, the 5 s key
#: must be there, the 1 s key gone, and either answer holds for no other.
INC_TIMEOUTS = (5, 1, 0)
#: When the "after" reads start: the default timeout, the 1 s of
#: whole-second expiry, and a margin.
EXPIRY_WAIT = DEFAULT_TIMEOUT + 1 + 0.3


def instance_config() -> dict[str, Any]:
    """The config of the ``ttl-zero``/``ttl-inc`` instance."""
    return {"CACHE_DEFAULT_TIMEOUT": DEFAULT_TIMEOUT, "CACHE_THRESHOLD": THRESHOLD}


@dataclass(kw_only=True)
class _Trial:
    """One key being polled: who may still see it, and who has."""

    set_op: Op
    pollers: list[WorkerClient]
    seen: set[int] = field(default_factory=set)
    done: bool = False
    next_at: float = 0.0

    @property
    def key(self) -> str:
        assert self.set_op.key is not None
        return self.set_op.key

    def poll(self, history: History) -> None:
        if time.monotonic() < self.next_at:
            return
        timeout = float(self.set_op.args["timeout"])
        want = self.set_op.args["value"]
        for poller in list(self.pollers):
            op = history.add(poller.op("get", self.key, meta=self.set_op.meta))
            if op.start - self.set_op.end > timeout + LATE_BOUND:
                # Seen all along, or a worker that stopped answering: either way, enough.
                self.done = True
                return
            if op.type != "ok":
                continue
            if op.value == want:
                self.seen.add(poller.index)
            elif poller.index in self.seen:
                # Gone after it was seen: this worker measured the lifetime.
                self.done = True
                return
            elif op.end - self.set_op.end > VISIBLE_WITHIN:
                self.pollers.remove(poller)
        # Measure across workers once the reader sees the key; fall back to
        # the writer only where nobody else ever does.
        if len(self.pollers) > 1 and self.pollers[0].index in self.seen:
            del self.pollers[1:]
        if not self.pollers:
            self.done = True
        now = time.monotonic()
        if now - self.set_op.end + COARSE_S < timeout - 1:
            self.next_at = now + COARSE_S


def rounding(workers: Sequence[WorkerClient], *, trials: int = ROUNDING_TRIALS) -> History:
    """Set timed keys at spread phases on w_i; poll each on w_(i+1) (and w_i) until gone."""
    keys, history = Keyspace("ttl-rounding"), History()
    n = len(workers)
    plan = [ROUNDING_TIMEOUTS[i % len(ROUNDING_TIMEOUTS)]
            for i in range(trials * len(ROUNDING_TIMEOUTS))]
    gap = 1.0 / len(plan)
    start = time.monotonic()
    active: list[_Trial] = []
    for i, timeout in enumerate(plan):
        while time.monotonic() < start + i * gap:
            _pass(active, history, until=start + i * gap)
        writer, reader = workers[i % n], workers[(i + 1) % n]
        op = history.add(writer.op("set", keys.fresh(f"t{timeout}-w{writer.index}"),
                                   value=keys.value(), timeout=timeout, meta=Meta(trial=i)))
        if op.type == "ok":
            pollers = [reader, writer] if reader.index != writer.index else [writer]
            active.append(_Trial(set_op=op, pollers=pollers))
    while active:
        _pass(active, history, until=time.monotonic() + POLL_S)
    return history


def in_background(run: Callable[[], History]) -> Callable[[], History]:
    """Start ``run`` in a thread now; the function returned waits for its history.

    A daemon thread, as :func:`.concurrent.together`'s: after Ctrl-C a loop
    still polling must not hold the interpreter open.
    """
    done: list[History] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            done.append(run())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="coherence-ttl-rounding", daemon=True)
    thread.start()

    def result() -> History:
        thread.join(timeout=STEP_DEADLINE)
        if thread.is_alive():
            raise TimeoutError(f"{thread.name} still running after {STEP_DEADLINE:g}s")
        if errors:
            raise errors[0]
        return done[0]

    return result


def _pass(active: list[_Trial], history: History, *, until: float) -> None:
    """Poll every live key once, then sleep until ``until``."""
    for trial in list(active):
        trial.poll(history)
        if trial.done:
            active.remove(trial)
    time.sleep(max(0.0, until - time.monotonic()))


def _read_all(workers: Sequence[WorkerClient], keys: Sequence[str], history: History,
              phase: Phase) -> None:
    for key in keys:
        for reader in workers:
            history.add(reader.op("get", key, meta=Meta(phase=phase)))


def zero_and_inc(workers: Sequence[WorkerClient]) -> tuple[History, History]:
    """The ``ttl-zero`` and the ``ttl-inc`` histories, made on one instance in one wait.

    Run it on an instance with :func:`instance_config`.  Each worker writes
    its own keys and increments its own: a per-worker store is then judged
    on the one worker that can hold them.
    """
    zkeys, ikeys = Keyspace("ttl-zero"), Keyspace("ttl-inc")
    zero, inc = History(), History()
    zero_keys: list[str] = []
    inc_keys: list[str] = []
    # Each key is read everywhere right after it is written: a key given a
    # 1 s whole-second expiry may live only a few milliseconds.
    for w in workers:
        for _ in range(ZERO_KEYS):
            z, c = zkeys.fresh(f"zero-w{w.index}"), zkeys.fresh(f"default-w{w.index}")
            zero.add(w.op("set", z, value=zkeys.value(), timeout=0,
                          meta=Meta(phase=Phase.WRITE)))
            _read_all(workers, [z], zero, Phase.BEFORE)
            # No timeout: the control key gets the default, which must expire it.
            zero.add(w.op("set", c, value=zkeys.value(), meta=Meta(phase=Phase.WRITE)))
            _read_all(workers, [c], zero, Phase.BEFORE)
            zero_keys += [z, c]
        for t in INC_TIMEOUTS:
            k = ikeys.fresh(f"t{t}-w{w.index}")
            inc.add(w.op("set", k, value=0, timeout=t, meta=Meta(phase=Phase.WRITE)))
            inc.add(w.op("inc", k, delta=1, meta=Meta(phase=Phase.WRITE)))
            _read_all(workers, [k], inc, Phase.BEFORE)
            inc_keys.append(k)
    last_write = max(op.end for h in (zero, inc) for op in h if op.meta.phase == Phase.WRITE)
    time.sleep(max(0.0, last_write + EXPIRY_WAIT - time.monotonic()))
    _read_all(workers, zero_keys, zero, Phase.AFTER)
    _read_all(workers, inc_keys, inc, Phase.AFTER)
    for w in workers:
        for _ in range(FILLERS):
            zero.add(w.op("set", zkeys.fresh(f"fill-w{w.index}"), value=zkeys.value(),
                          timeout=FILLER_TIMEOUT, meta=Meta(phase=Phase.PRUNE)))
    _read_all(workers, zero_keys[::2], zero, Phase.FINAL)
    return zero, inc
