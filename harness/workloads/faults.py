"""Traffic around a fault: every worker reads and writes while the nemesis acts.

One client thread per worker (through its private socket) alternates
``set`` of a unique value and ``get`` over a few shared keys, from
:data:`BEFORE` seconds before the fault until :data:`AFTER` seconds after
the nemesis healed it; then every worker reads every key once more
(``Phase.FINAL``), which is what lost writes are judged on.  Sizes, for a
run of about ``BEFORE + fault + AFTER`` seconds: 4 workers x one op per
:data:`GAP` gives a few hundred ops, of which tens fall in the fault.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ..client import WorkerClient
from ..history import History, Meta
from .keys import Keyspace
from .names import Phase

#: Keys every worker writes and reads: few, so reads often meet others' writes.
KEYS = 4
#: Steady traffic before the fault, and after the heal.
BEFORE = 0.5
AFTER = 2.0
#: Pause between one client's ops.
GAP = 0.01


def run(workers: Sequence[WorkerClient], fault: Callable[[History], None], *,
        before: float = BEFORE, after: float = AFTER, keys: int = KEYS) -> History:
    """Traffic on every worker around ``fault(history)``, which records the nemesis's actions."""
    history = History()
    space = Keyspace("fault")
    names = [space.fresh(f"k{i}") for i in range(keys)]
    stop = threading.Event()
    lock = threading.Lock()

    def client(w: WorkerClient) -> None:
        # Each worker starts on its own key and steps through all of them,
        # writing one then reading the next, so every read meets writes
        # of its own and of other workers.
        i = 0
        while not stop.is_set():
            key = names[(w.index + i // 2 + i % 2) % keys]
            if i % 2:
                op = w.op("get", key)
            else:
                op = w.op("set", key, value=space.value(f"w{w.index}"))
            with lock:
                history.add(op)
            i += 1
            time.sleep(GAP)

    threads = [threading.Thread(target=client, args=(w,), name=f"coherence-client-fault-{w.index}",
                                daemon=True) for w in workers]
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
    for w in workers:
        for key in names:
            history.add(w.op("get", key, meta=Meta(phase=Phase.FINAL)))
    return history
