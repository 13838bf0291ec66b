"""What each run option's value may be: its limits, and its parse and check.

Every function ``parse_<option>(value, parsed)`` takes the value a front
door was given (or the default) and the values parsed before it, and
returns the field of :class:`~harness.options.RunOptions`, or raises
:class:`~harness.errors.UsageError` naming the value and the fix;
:data:`harness.options.OPTIONS` attaches each to its option.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import schedule
from .config_values import check_config, config_of
from .errors import UsageError, shorten
from .expectations import load as load_expectations
from .topology import appenv
from .topology.gunicorn import WORKER_CLASSES
from .topology.kinds import OPTION_CONFIG, SERVER_KINDS, check_servers
from .topology.ports import ensure_free
from .topology.tree import app_root
from .topology.venvs import check_pair, check_version

#: Longest settle window: a write that needs longer than this to show up on
#: another worker is not worth waiting for in a test run, and every missed
#: read waits this long.
MAX_SETTLE = 30.0
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


if TYPE_CHECKING:  # generic from click 8.2 on (Flask asks only for 8.1.3)
    _ParamType = click.ParamType[Any, Any]
else:
    _ParamType = click.ParamType


class _AsciiNumber(_ParamType):
    """click's int or float, but only in ASCII digits, as a backend size is.

    Python's int() and float() read any Unicode digit, so ``--workers ４``
    (fullwidth) would be taken as 4.  The same object is the pytest
    option's argparse type: there a refusal is a ValueError, whose message
    argparse writes itself from ``__name__`` ("invalid int value: 'x'").
    """

    number: type[int] | type[float] = int

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, self.number) and not isinstance(value, bool):
            return value
        text = str(value)
        try:
            number = self.number(text)
        except ValueError:
            number = None
        if number is None or not text.isascii():
            fix = f": use ASCII digits, e.g. {number}" if number is not None else ""
            self.fail(f"{shorten(text)} is not a valid {self.name}{fix}.", param, ctx)
        return number

    def __call__(self, value: Any, param: click.Parameter | None = None,
                 ctx: click.Context | None = None) -> Any:
        try:
            return super().__call__(value, param, ctx)
        except click.BadParameter as exc:
            if param is not None or ctx is not None:
                raise
            if isinstance(value, str) and not value.isascii():
                raise argparse.ArgumentTypeError(exc.message) from None
            raise ValueError(exc.message) from None


class AsciiInt(_AsciiNumber):
    name = "integer"
    __name__ = "int"
    number = int


class AsciiFloat(_AsciiNumber):
    name = "float"
    __name__ = "float"
    number = float


#: The types of the numeric options.
INT, FLOAT = AsciiInt(), AsciiFloat()


def unique(values: Any) -> tuple[Any, ...]:
    """A repeatable option's values in the order given, each once."""
    return tuple(dict.fromkeys(values))


def parse_servers(servers: tuple[str, ...], parsed: Mapping[str, Any]) -> tuple[str, ...]:
    for s in servers:
        if s not in SERVER_KINDS:
            raise UsageError(
                f"unknown --server {shorten(s)}; use one of {', '.join(SERVER_KINDS)}"
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
                f"unknown --worker-class {shorten(wc)}; use one of {', '.join(WORKER_CLASSES)}"
            )
    return unique(classes) or ("sync",)


def parse_scenarios(ids: tuple[str, ...], parsed: Mapping[str, Any]) -> tuple[str, ...]:
    load_expectations().check_scenarios(list(ids))
    return unique(ids)


def parse_config(pairs: tuple[str, ...], parsed: Mapping[str, Any]) -> dict[str, Any]:
    config = config_of(list(pairs))
    check_config(config)
    # A value that names no server is refused now; whether a server answers
    # is asked once the app is probed and the backends that read it are
    # known (harness.probe.check_named_servers).
    check_servers(config, origin=OPTION_CONFIG, reach=False)
    return config


def parse_report_dir(value: str | Path, parsed: Mapping[str, Any]) -> Path:
    # Imported here: the report writer brings jinja2, which a refusal never needs.
    from .report.writer import check_report_dir

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
        raise UsageError(f"--app {shorten(app)} must be MODULE:NAME or 'MODULE:create_app()', "
                         "e.g. apps.demo:app")
    return app


def parse_chdir(value: str | Path | None, parsed: Mapping[str, Any]) -> Path:
    """The app's root (:func:`harness.topology.tree.app_root`): ``--chdir DIR``, checked here."""
    if value is None:
        return app_root(parsed["app"], None)
    path = Path(value).expanduser()
    if not path.exists():
        raise UsageError(f"--chdir {shorten(str(value))} does not exist; give the directory "
                         "gunicorn would start in (the project's root), e.g. --chdir .")
    if not path.is_dir():
        raise UsageError(f"--chdir {shorten(str(value))} is not a directory; give the directory "
                         "holding the app's package, e.g. --chdir .")
    if not os.access(path, os.R_OK | os.X_OK):
        raise UsageError(f"--chdir {shorten(str(value))} cannot be entered (permission "
                         "denied); give a directory you can read")
    return app_root(parsed["app"], path)


def parse_copy_exclude(names: tuple[str, ...], parsed: Mapping[str, Any]) -> tuple[str, ...]:
    for name in names:
        if not name.strip() or "/" in name or name in (".", ".."):
            raise UsageError(f"--copy-exclude {shorten(name)} must be a file or directory "
                             "name or a shell pattern of one, without '/', e.g. "
                             "--copy-exclude data or --copy-exclude '*.sqlite'")
    return unique(names)


def parse_memoized(targets: tuple[str, ...], parsed: Mapping[str, Any]) -> tuple[str, ...]:
    for target in targets:
        module, sep, qualname = target.partition(":")
        if not sep or not module or not qualname:
            raise UsageError(f"--memoized {shorten(target)} must be MODULE:QUALNAME, e.g. "
                             "apps.features:NAMED_PRICES.price")
    return unique(targets)


def parse_samples(pairs: tuple[str, ...], parsed: Mapping[str, Any]) -> dict[str, Any]:
    return _samples_of(pairs)


def parse_version(flag: str) -> Parse:
    def parse(value: str | None, parsed: Mapping[str, Any]) -> str | None:
        version = None if value is None else check_version(value, flag)
        if flag == "--new-version":
            # The last of the two: both are known, and the scenarios.
            check_pair(parsed["old_version"], version, scenarios=parsed["scenarios"])
        return version
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


def parse_python(path: str | None, parsed: Mapping[str, Any]) -> appenv.AppEnvironment:
    """The app's interpreter, run once now, and its stack checked for this run's needs."""
    env = appenv.own() if path is None else appenv.check_python(path)
    env.require(server_kinds=[k for b in parsed["backends"] for k in b.servers],
                worker_classes=parsed["worker_classes"])
    return env


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
            raise UsageError(f"--sample-args {shorten(pair)} must be NAME=JSON with a JSON list or "
                             "object, e.g. --sample-args 'price=[3]' or "
                             "--sample-args 'item={\"item_id\": 7}'")
        samples[name.strip()] = value
    return samples
