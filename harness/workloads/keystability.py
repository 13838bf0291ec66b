"""key-stability: the same calls' cache keys, asked of every worker of two instances.

The second instance runs the same code from another working directory and
another absolute path (a copy of the project tree,
:meth:`~harness.topology.pool.TopologyPool.project_copy`), as a second
deployment would, so a key that embeds a path shows up as ``per-instance``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..client import WorkerClient, request
from ..worker.protocol import ROUTE_PREFIX
from .features import FEATURES_APP

#: The sample app's deliberately unstable and stable memoized methods, checked
#: when the default app runs without ``--memoized``.
SAMPLE_MEMOIZED = ("apps.features:PRICES.price", "apps.features:NAMED_PRICES.price")
SAMPLE_ARGS: dict[str, Any] = {target: [3] for target in SAMPLE_MEMOIZED}


def targets(*, app: str, memoized: Sequence[str], sample_args: dict[str, Any]
            ) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The memoized targets and sample arguments a run of ``app`` checks.

    ``memoized`` and ``sample_args`` are the user's (``--memoized``,
    ``--sample-args``); the sample app adds its own two.
    """
    if app != FEATURES_APP:
        return tuple(memoized), dict(sample_args)
    # The sample's two always, so its expectation (per-worker) holds.
    return (tuple(dict.fromkeys([*SAMPLE_MEMOIZED, *memoized])),
            {**SAMPLE_ARGS, **sample_args})


def collect(workers: Sequence[WorkerClient], *, memoized: Sequence[str],
            samples: dict[str, Any]) -> list[dict[str, Any]]:
    """Each worker's keys (see :mod:`harness.worker.keymaker`), or the error asking it gave."""
    replies = []
    for w in workers:
        try:
            reply = request(w.socket_path, "POST", f"{ROUTE_PREFIX}/keys",
                            {"memoized": list(memoized), "samples": samples})
        except OSError as exc:
            replies.append({"pid": w.pid, "error": f"{type(exc).__name__}: {exc}"})
            continue
        if reply.status != 200 or not isinstance(reply.body, dict) or reply.pid != w.pid:
            replies.append({"pid": w.pid, "error": f"HTTP {reply.status} from pid {reply.pid}: "
                                                   f"{str(reply.body)[:200]}"})
            continue
        replies.append(reply.body)
    return replies
