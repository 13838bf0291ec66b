"""Traffic around a fault: every worker reads and writes while the nemesis acts.

One client thread per worker (through its private socket) repeats three
ops over a few shared keys: ``set`` of a unique value, ``get`` of the same
key (its own write read back) and ``get`` of the next key (which another
worker writes at about the same time), from
:data:`BEFORE` seconds before the fault until :data:`AFTER` seconds after
the nemesis healed it; then every worker reads every key once more
(``Phase.FINAL``), which is what lost writes are judged on: all workers at
once, each stopping after :data:`FINAL_GIVE_UP` failed reads (a history note
counts the reads not asked), so a dead server bounds the pass at a few
request timeouts rather than one per key.  Sizes, for a
run of about ``BEFORE + fault + AFTER`` seconds: 4 workers x one op per
:data:`GAP` gives a few hundred ops, of which tens fall in the fault.
The read-back makes every write after the heal a judged case for
``silent_after_recovery`` as long as the workers keep pace (each is then
on a key of its own, so nothing else writes it in between): a few hundred
per run, rather than the few that a chance interleaving left quiet.

``witnesses`` keys per worker are written once before the traffic and
never again, so the final pass shows whether each survived the fault:
the traffic keys cannot, since later writes overwrite whatever was lost.

``effects`` gives some clients another part, by position: ``"inc"``
increments :data:`COUNTERS` counters of its own in turn (each set to 0
first, read in the final pass), and ``"add"`` adds a fresh key with
:data:`ADD_TIMEOUT`, each over and over with nothing else between, so each
has a request in flight or about to be sent whenever a fault begins.  With
several counters the incrementer's keys land on every node of a sharded
store (a miss with probability (2/3)^16 < 0.2 % on three nodes), so it too
meets a faulted node, as every other client does.  An increment applied twice then shows
as a counter above the increments asked for, and an ``add`` cut half way
as a key the nemesis's ``inspect`` finds without an expiry (the fault
checker's ``duplicated`` and ``immortal``).

When the fault replaces the workers themselves (gunicorn ``HUP`` or
``max_requests``), pass a *roster*, a callable returning the current
workers: client ``i`` then addresses whoever is worker ``i`` now, and once
its worker is gone (its socket refuses) waits for the nemesis to name the
replacement instead of knocking on a closed door.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..client import WorkerClient
from ..history.names import Phase
from ..history.ops import History, Meta, Op
from ..topology import boots
from .keys import Keyspace

#: Keys every worker writes and reads: few, so reads often meet others' writes.
KEYS = 4
#: Steady traffic before the fault, and after the heal.  After it is
#: longer than pylibmc waits to try a failed server again (the rest of a
#: request's 5 s poll timeout, then retry_timeout 2 s: up to 3 s past a
#: heal), so a client that recovers by itself has done so by the final read
#: pass; python-memcached's 30 s (_DEAD_RETRY) it does not wait out.
BEFORE = 0.5
AFTER = 4.0
#: Pause between one client's ops.
GAP = 0.01
#: The parts ``effects`` may give a client.
EFFECTS = ("inc", "add")
#: Counters per incrementer.
COUNTERS = 16
#: Failed reads after which a worker's final pass stops (the rest would fail too).
FINAL_GIVE_UP = 3
#: The timeout of the ``effects`` adds: long enough that none expires in a run.
ADD_TIMEOUT = 300

#: The workers now, by index.
Roster = Callable[[], Sequence[WorkerClient]]


def run(workers: Sequence[WorkerClient] | Roster, fault: Callable[[History], None], *,
        before: float = BEFORE, after: float = AFTER, keys: int = KEYS,
        witnesses: int = 0, effects: dict[int, str] | None = None) -> History:
    """Traffic on every worker around ``fault(history)``, which records the nemesis's actions."""
    follows = callable(workers)
    roster: Roster = workers if callable(workers) else (lambda: workers)
    history = History()
    space = Keyspace("fault")
    names = [space.fresh(f"k{i}") for i in range(keys)]
    kept: list[str] = []
    for w in roster():
        for n in range(witnesses):
            key = space.fresh(f"witness-w{w.index}-{n}")
            kept.append(key)
            history.add(w.op("set", key, value=space.value(f"w{w.index}"),
                             meta=Meta(phase=Phase.WRITE)))
    parts = effects or {}
    if unknown := sorted(set(parts.values()) - set(EFFECTS)):
        raise ValueError(f"effects {unknown} are not among {EFFECTS}")
    counters: dict[int, list[str]] = {}
    for position, part in parts.items():
        if part == "inc":
            w = roster()[position]
            counters[position] = [space.fresh(f"counter-w{w.index}") for _ in range(COUNTERS)]
            kept += counters[position]
            for key in counters[position]:
                history.add(w.op("set", key, value=0, meta=Meta(phase=Phase.WRITE)))
    stop = threading.Event()
    lock = threading.Lock()

    def client(index: int) -> None:
        # Each worker starts on its own key and steps through all of them:
        # write one, read it back, read the next, which the next worker
        # is writing meanwhile.
        i = 0
        while not stop.is_set():
            w = roster()[index]
            step, part = divmod(i, 3)
            key = names[(w.index + step + (part == 2)) % keys]
            if parts.get(index) == "inc":
                op = w.op("inc", counters[index][i % COUNTERS], delta=1)
            elif parts.get(index) == "add":
                op = w.op("add", space.fresh(f"add-w{w.index}"), value=space.value(),
                          timeout=ADD_TIMEOUT)
            elif part:
                op = w.op("get", key)
            else:
                op = w.op("set", key, value=space.value(f"w{w.index}"))
            with lock:
                history.add(op)
            i += 1
            if follows and op.type == "fail":
                _await_replacement(roster, index, w.pid, stop)
            time.sleep(GAP)

    threads = [threading.Thread(target=client, args=(i,), name=f"coherence-client-fault-{i}",
                                daemon=True) for i in range(len(roster()))]
    for t in threads:
        t.start()
    try:
        time.sleep(before)
        fault(history)
        time.sleep(after)
    finally:
        stop.set()
        for t in threads:
            t.join()
    finals = (*names, *kept)
    now = list(roster())
    with ThreadPoolExecutor(max_workers=len(now) or 1,
                            thread_name_prefix="coherence-client-final") as pool:
        passes = list(pool.map(lambda w: _final_pass(w, finals), now))
    for w, ops in zip(now, passes, strict=True):
        for op in ops:
            history.add(op)
        if len(ops) < len(finals):
            history.notes.append({"final_pass": {"pid": w.pid, "asked": len(ops),
                                                 "not_asked": len(finals) - len(ops)}})
    return history


def _final_pass(w: WorkerClient, keys: Sequence[str]) -> list[Op]:
    """Worker ``w`` reads every key once, or until :data:`FINAL_GIVE_UP` reads failed.

    A worker that cannot read (its server died, or its client skips it) would
    otherwise spend up to the request timeout on every one of dozens of keys;
    its first failures already say it has not recovered.
    """
    ops: list[Op] = []
    for key in keys:
        ops.append(w.op("get", key, meta=Meta(phase=Phase.FINAL)))
        if sum(o.type != "ok" for o in ops) >= FINAL_GIVE_UP:
            break
    return ops


def _await_replacement(roster: Roster, index: int, pid: int, stop: threading.Event) -> None:
    """Wait until worker ``index`` is another pid than ``pid`` (or the run stops).

    At least as long as the nemesis waits for new workers to answer (the
    window of a boot of the dearest worker class under the load now).  After
    it the client knocks again (and records each failure), so a worker that
    died outside a recycle shows as unrecovered rather than quiet.
    """
    deadline = boots.unslotted(len(roster()), "").deadline()
    while not stop.is_set() and roster()[index].pid == pid and time.monotonic() < deadline:
        time.sleep(GAP)
