"""key-stability: the same calls' cache keys, asked of every worker of two instances.

The second instance runs the same code from another working directory and
another absolute path (a copy of the app's package), as a second deployment
would, so a key that embeds a path shows up as ``per-instance``.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..client import WorkerClient, request
from ..errors import HarnessError
from ..topology.backends import pythonpath_entries
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


def elsewhere(scratch: Path, app: str, app_root: Path) -> Path:
    """Another absolute path to the same code: a copy of the app's top-level package.

    Returned as the second instance's app root (its working directory and
    first PYTHONPATH entry), where the copy shadows the original.  A copy,
    not a symlink: gunicorn puts the resolved working directory on sys.path.
    """
    top = app.partition(":")[0].split(".")[0]
    saved = list(sys.path)
    sys.path[:0] = [str(app_root), *pythonpath_entries()]
    try:
        spec = importlib.util.find_spec(top)
    finally:
        sys.path[:] = saved
    if spec is None or spec.origin is None:
        raise HarnessError(f"cannot find the code of {top!r} to start a second copy of it")
    target = scratch / "elsewhere"
    target.mkdir()
    if spec.submodule_search_locations:
        source = Path(next(iter(spec.submodule_search_locations)))
        shutil.copytree(source, target / source.name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(spec.origin, target)
    return target


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
