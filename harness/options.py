"""Run options: what to check, validated once for both front doors.

The CLI and the pytest plugin both build a :class:`RunOptions` from their
own flags; every usage error is raised here, so both report it the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from . import backends as _backends
from .backends import Backend, ServerKind
from .errors import UsageError
from .expectations import load as load_expectations
from .topology.gunicorn import WORKER_CLASSES, WorkerClass
from .workloads.settle import DEFAULT_SETTLE

#: The project checkout, which holds ``apps/`` and ``scenarios/``.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_APP = "apps.features:app"


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """One run's choices.  Empty tuples mean "the defaults"."""

    backends: tuple[Backend, ...]
    workers: int = 4
    worker_classes: tuple[WorkerClass, ...] = ("sync",)
    preload: bool = False
    scenarios: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    report_dir: Path = Path("reports")
    settle: float = DEFAULT_SETTLE
    port: int | None = None
    app: str = DEFAULT_APP
    app_root: Path = PROJECT_ROOT


def parse_config(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs to a dict; values are JSON when they parse as JSON."""
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--config {pair!r} is not KEY=VALUE; write e.g. --config CACHE_DEFAULT_TIMEOUT=60"
            )
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        config[key.strip()] = value
    return config


def build(
    *,
    backends: list[str] | tuple[str, ...] = (),
    servers: list[str] | tuple[str, ...] = (),
    workers: int = 4,
    worker_classes: list[str] | tuple[str, ...] = (),
    preload: bool = False,
    scenarios: list[str] | tuple[str, ...] = (),
    config: list[str] | tuple[str, ...] = (),
    report_dir: str | Path = "reports",
    settle: float = DEFAULT_SETTLE,
    port: int | None = None,
    app: str = DEFAULT_APP,
) -> RunOptions:
    """Validate raw option values into RunOptions, or raise UsageError."""
    if workers < 1:
        raise UsageError(f"--workers {workers!r} must be at least 1")
    for wc in worker_classes:
        if wc not in WORKER_CLASSES:
            raise UsageError(
                f"unknown --worker-class {wc!r}; use one of {', '.join(WORKER_CLASSES)}"
            )
    for s in servers:
        if s not in _backends.SERVER_KINDS:
            raise UsageError(
                f"unknown --server {s!r}; use one of {', '.join(_backends.SERVER_KINDS)}"
            )
    if settle < 0:
        raise UsageError(f"--settle {settle!r} must be zero or more seconds")
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"--port {port!r} must be between 1 and 65535")
    if ":" not in app:
        raise UsageError(f"--app {app!r} must be MODULE:NAME, e.g. apps.demo:app")
    load_expectations().check_scenarios(list(scenarios))
    extra = cast(tuple[ServerKind, ...], tuple(dict.fromkeys(servers)))
    pythonpath = [str(PROJECT_ROOT), *_backends.pythonpath_entries()]
    names = list(dict.fromkeys(backends)) or list(_backends.DEFAULT_BACKENDS)
    resolved = tuple(
        _backends.resolve(n, extra_servers=extra, pythonpath=pythonpath) for n in names
    )
    return RunOptions(
        backends=resolved,
        workers=workers,
        worker_classes=cast(tuple[WorkerClass, ...], tuple(dict.fromkeys(worker_classes)))
        or ("sync",),
        preload=preload,
        scenarios=tuple(dict.fromkeys(scenarios)),
        config=parse_config(list(config)),
        report_dir=Path(report_dir),
        settle=settle,
        port=port,
        app=app,
    )
