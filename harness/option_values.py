"""What each run option's value may be: its limits, and its parse and check.

Every function ``parse_<option>(value, parsed)`` takes the value a front
door was given (or the default) and the values parsed before it, and
returns the field of :class:`~harness.options.RunOptions`, or raises
:class:`~harness.errors.UsageError` naming the value and the fix;
:data:`harness.options.OPTIONS` attaches each to its option.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import schedule
from .errors import UsageError
from .expectations import load as load_expectations
from .report.writer import check_report_dir
from .topology.gunicorn import WORKER_CLASSES
from .topology.kinds import SERVER_KINDS
from .topology.ports import ensure_free
from .topology.venvs import check_version

#: Longest settle window: a write that needs longer than this to show up on
#: another worker is not worth waiting for in a test run, and every missed
#: read waits this long.
MAX_SETTLE = 30.0
#: Longest timeout-like ``--config`` value: a year.  Longer gains nothing in
#: a run that lasts minutes.
MAX_TIMEOUT_CONFIG = 365 * 24 * 3600
#: Workers per CPU and memory per worker behind the ``--workers`` cap: a
#: gunicorn sync worker with Flask and a cache client uses about 40-60 MiB.
WORKERS_PER_CPU = 8
MIB_PER_WORKER = 100
#: The load scenario's wrk duration: a few seconds gives hundreds of hits
#: per key; the seed measured 30 s.  Ten minutes is more than any run needs.
DEFAULT_LOAD_DURATION = 5
MAX_LOAD_DURATION = 600

#: An option's parse and check: its value and the values parsed before it.
Parse = Callable[[Any, Mapping[str, Any]], Any]


def unique(values: Any) -> tuple[Any, ...]:
    """A repeatable option's values in the order given, each once."""
    return tuple(dict.fromkeys(values))


def parse_servers(servers: tuple[str, ...], parsed: Mapping[str, Any]) -> tuple[str, ...]:
    for s in servers:
        if s not in SERVER_KINDS:
            raise UsageError(
                f"unknown --server {s!r}; use one of {', '.join(SERVER_KINDS)}"
            )
    return unique(servers)


def parse_workers(workers: int, parsed: Mapping[str, Any]) -> int:
    cap, why = workers_cap()
    if not 1 <= workers <= cap:
        raise UsageError(f"--workers {workers!r} must be from 1 to {cap} on this machine "
                         f"({why}); e.g. --workers 4")
    return workers


def parse_worker_classes(classes: tuple[str, ...], parsed: Mapping[str, Any]) -> tuple[str, ...]:
    for wc in classes:
        if wc not in WORKER_CLASSES:
            raise UsageError(
                f"unknown --worker-class {wc!r}; use one of {', '.join(WORKER_CLASSES)}"
            )
    return unique(classes) or ("sync",)


def parse_scenarios(ids: tuple[str, ...], parsed: Mapping[str, Any]) -> tuple[str, ...]:
    load_expectations().check_scenarios(list(ids))
    return unique(ids)


def parse_config(pairs: tuple[str, ...], parsed: Mapping[str, Any]) -> dict[str, Any]:
    config = config_of(list(pairs))
    check_config(config)
    return config


def parse_report_dir(value: str | Path, parsed: Mapping[str, Any]) -> Path:
    check_report_dir(Path(value))
    return Path(value)


def parse_settle(settle: float, parsed: Mapping[str, Any]) -> float:
    if not (math.isfinite(settle) and 0 <= settle <= MAX_SETTLE):
        raise UsageError(f"--settle {settle!r} must be from 0 to {MAX_SETTLE:g} seconds; "
                         "e.g. --settle 1")
    return settle


def parse_port(port: int | None, parsed: Mapping[str, Any]) -> int | None:
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"--port {port!r} must be between 1 and 65535")
    # Looked at again when an instance starts; here it is refused before
    # any session does.
    if port is not None:
        ensure_free(port)
    return port


def parse_app(app: str, parsed: Mapping[str, Any]) -> str:
    module, sep, attr = app.partition(":")
    if not sep or not module or not attr:
        raise UsageError(f"--app {app!r} must be MODULE:NAME or 'MODULE:create_app()', "
                         "e.g. apps.demo:app")
    return app


def parse_memoized(targets: tuple[str, ...], parsed: Mapping[str, Any]) -> tuple[str, ...]:
    for target in targets:
        module, sep, qualname = target.partition(":")
        if not sep or not module or not qualname:
            raise UsageError(f"--memoized {target!r} must be MODULE:QUALNAME, e.g. "
                             "apps.features:NAMED_PRICES.price")
    return unique(targets)


def parse_samples(pairs: tuple[str, ...], parsed: Mapping[str, Any]) -> dict[str, Any]:
    return _samples_of(pairs)


def parse_version(flag: str) -> Parse:
    def parse(value: str | None, parsed: Mapping[str, Any]) -> str | None:
        return None if value is None else check_version(value, flag)
    return parse


def parse_load_duration(seconds: int, parsed: Mapping[str, Any]) -> int:
    if not 1 <= seconds <= MAX_LOAD_DURATION:
        raise UsageError(f"--load-duration {seconds!r} must be from 1 to "
                         f"{MAX_LOAD_DURATION} seconds; e.g. --load-duration "
                         f"{DEFAULT_LOAD_DURATION}")
    return seconds


def parse_jobs(jobs: int | None, parsed: Mapping[str, Any]) -> int:
    port: int | None = parsed["port"]
    scenarios: tuple[str, ...] = parsed["scenarios"]
    if jobs is None:
        # One fixed port serves one gunicorn at a time.
        groups = len(parsed["backends"]) * len(parsed["worker_classes"])
        return 1 if port is not None else schedule.default_jobs(groups, scenarios)
    if not 1 <= jobs <= schedule.max_jobs():
        raise UsageError(f"--jobs {jobs!r} must be from 1 to {schedule.max_jobs()} on this "
                         f"machine ({schedule.MAX_JOBS_PER_CPU} per CPU); e.g. --jobs 2")
    if jobs > 1 and port is not None:
        raise UsageError(f"--port {port} serves one gunicorn at a time, and --jobs {jobs} runs "
                         "several; pass --jobs 1 with --port, or drop --port")
    quiet = sorted(load_expectations().quiet & set(scenarios))
    if jobs > 1 and quiet:
        raise UsageError(f"--scenario {quiet[0]} measures time against a baseline of the same "
                         f"run and needs the machine to itself; pass --jobs 1, or drop --jobs")
    return jobs


def config_of(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
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


def check_config(config: dict[str, Any]) -> None:
    for key, value in config.items():
        if key == "CACHE_TYPE":
            raise UsageError(
                f"--config CACHE_TYPE={value!r} would relabel every backend's row; "
                f"choose the backend with --backend {value} instead")
        if key.endswith("TIMEOUT"):
            number = value if isinstance(value, int | float) and not isinstance(value, bool) \
                else None
            if number is None or not math.isfinite(number) or \
                    not 0 <= number <= MAX_TIMEOUT_CONFIG:
                raise UsageError(
                    f"--config {key}={value!r} must be a number of seconds from 0 (never "
                    f"expires) to {MAX_TIMEOUT_CONFIG} (a year); e.g. --config {key}=300")
        if key == "CACHE_THRESHOLD" and (not isinstance(value, int) or isinstance(value, bool)
                                         or value < 0):
            raise UsageError(f"--config CACHE_THRESHOLD={value!r} must be a whole number "
                             "of entries, 0 or more; e.g. --config CACHE_THRESHOLD=500")


def _available_mib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def workers_cap() -> tuple[int, str]:
    """The most workers this machine can run, and how that number was reached."""
    cpus = os.cpu_count() or 1
    cap, why = WORKERS_PER_CPU * cpus, f"{WORKERS_PER_CPU} per CPU x {cpus} CPUs"
    mib = _available_mib()
    if mib is not None and mib // MIB_PER_WORKER < cap:
        cap = max(1, mib // MIB_PER_WORKER)
        why = f"{MIB_PER_WORKER} MiB each of {mib} MiB available"
    return cap, why


def _samples_of(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    samples: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        try:
            value = json.loads(raw) if sep else None
        except ValueError:
            value = None
        if not name.strip() or not isinstance(value, list | dict):
            raise UsageError(f"--sample-args {pair!r} must be NAME=JSON with a JSON list or "
                             "object, e.g. --sample-args 'price=[3]' or "
                             "--sample-args 'item={\"item_id\": 7}'")
        samples[name.strip()] = value
    return samples
