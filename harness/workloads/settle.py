"""Re-reading reads that missed, within one settle window per scenario.

A write may reach another worker late (a replica, a local layer, a slow
disk).  Rather than call that a miss at once, a scenario hands every read
still pending to :func:`settle`, which polls them all until they see the
expected value or one shared window runs out.  The polls go into the
history, so the checker can tell ``eventual`` (with the lag) from a miss.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ..client import WorkerClient
from ..history.ops import History, Meta

#: Default window: long enough for a replica or a 1 s-granular disk cache to
#: catch up, short enough that per-worker backends do not slow a run much.
DEFAULT_SETTLE = 1.0
POLL_INTERVAL = 0.05


@dataclass(frozen=True, kw_only=True)
class PendingRead:
    client: WorkerClient
    key: str
    want: object
    #: What the first read carried; polls carry it too (the client it was for).
    meta: Meta = field(default_factory=Meta)


def settle(pending: Sequence[PendingRead], history: History, *, window: float) -> None:
    """Poll every pending read until it sees ``want`` or ``window`` elapses."""
    if window <= 0 or not pending:
        return
    waiting = list(pending)
    deadline = time.monotonic() + window
    while waiting and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
        still = []
        for p in waiting:
            op = history.add(p.client.op("get", p.key, meta=replace(p.meta, poll=True)))
            if op.type != "ok" or op.value != p.want:
                still.append(p)
        waiting = still
