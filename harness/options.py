"""Run options: declared once, validated once, for both front doors.

:data:`OPTIONS` is the one declaration of every option: its flag, type,
default, choices and help.  The ``coherence`` CLI turns it into click
options and the pytest plugin into pytest options, so a default or a help
text cannot drift between them.  :func:`build` validates the raw values into
a :class:`RunOptions` and raises :class:`~harness.errors.UsageError` for
anything out of range, before anything starts; the CLI then hands its
RunOptions to the plugin as they are.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from . import schedule
from .errors import UsageError
from .expectations import load as load_expectations
from .report.writer import check_report_dir
from .topology import backends as _backends
from .topology.appcheck import AppInfo, check_app
from .topology.backends import Backend, ServerKind
from .topology.boots import directory as boot_slots
from .topology.boots import ready_override
from .topology.gunicorn import WORKER_CLASSES, WorkerClass
from .topology.kinds import SERVER_KINDS
from .topology.pool import check_configured_servers
from .topology.ports import ensure_free
from .topology.venvs import check_version
from .workloads.settle import DEFAULT_SETTLE


def _project_root() -> Path:
    """The checkout when running from one, else the copy the wheel carries.

    A checkout (``pip install -e .``) is told by its pyproject.toml beside
    ``harness/``; an installed wheel has ``apps/`` and ``scenarios/`` under
    ``harness/_bundle/`` (mapped in pyproject.toml), and no pyproject.toml
    next to site-packages' ``harness/``.
    """
    here = Path(__file__).resolve().parent
    if (here.parent / "pyproject.toml").is_file() and (here.parent / "scenarios").is_dir():
        return here.parent
    return here / "_bundle"


#: Where ``apps/`` and ``scenarios/`` are: the checkout, or the wheel's copy.
PROJECT_ROOT = _project_root()
SCENARIO_DIR = PROJECT_ROOT / "scenarios"
DEFAULT_APP = "apps.features:app"

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


#: What the pytest plugin puts before every option's name; the CLI keeps the short names.
PYTEST_PREFIX = "--coherence-"


@dataclass(frozen=True, kw_only=True)
class Option:
    """One option of a run, as both front doors declare it."""

    flag: str
    dest: str
    help: str
    type: type[Any] = str
    default: Any = None
    multiple: bool = False
    flag_only: bool = False
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    @property
    def pytest_flag(self) -> str:
        """The flag in pytest, where bare names such as ``--workers`` belong to others.

        Every pytest session in an environment that has this package
        installed sees the plugin's options, and pytest stops at start-up
        when two plugins declare the same flag (pytest-parallel has
        ``--workers``), so there each option carries :data:`PYTEST_PREFIX`.
        """
        return PYTEST_PREFIX + self.flag.removeprefix("--")

    @property
    def pytest_dest(self) -> str:
        """The attribute in pytest's namespace: pytest refuses two options with one dest."""
        return self.pytest_flag.removeprefix("--").replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option(flag="--backend", dest="backends", multiple=True, metavar="CACHE_TYPE",
           help="backend to check (repeatable): a Flask-Caching CACHE_TYPE or an import "
                "path; default: " + ", ".join(_backends.DEFAULT_BACKENDS)),
    Option(flag="--server", dest="servers", multiple=True, choices=SERVER_KINDS,
           help="also start this server for custom backends (repeatable)"),
    Option(flag="--workers", dest="workers", type=int, default=4,
           help="gunicorn workers (default 4)"),
    Option(flag="--worker-class", dest="worker_classes", multiple=True, choices=WORKER_CLASSES,
           help="worker class (repeatable; default sync)"),
    Option(flag="--preload", dest="preload", flag_only=True, default=False,
           help="start gunicorn with --preload"),
    Option(flag="--scenario", dest="scenarios", multiple=True, metavar="ID",
           help="scenario id (repeatable; 'coherence list' shows them)"),
    Option(flag="--config", dest="config", multiple=True, metavar="KEY=VALUE",
           help="extra Flask config (repeatable; value parsed as JSON when it parses)"),
    Option(flag="--report-dir", dest="report_dir", default="reports",
           help="where run directories go (default reports/)"),
    Option(flag="--settle", dest="settle", type=float, default=DEFAULT_SETTLE,
           help=f"seconds to wait for a late write to show up on another worker "
                f"(default {DEFAULT_SETTLE:g}, at most {MAX_SETTLE:g})"),
    Option(flag="--port", dest="port", type=int,
           help="TCP port for gunicorn's shared listener (default: a free one)"),
    Option(flag="--app", dest="app", default=DEFAULT_APP, metavar="MODULE:NAME",
           help=f"app to check: MODULE:NAME or 'MODULE:create_app()', any Flask app "
                f"with a Flask-Caching instance, unchanged (default {DEFAULT_APP})"),
    Option(flag="--memoized", dest="memoized", multiple=True, metavar="MODULE:QUALNAME",
           help="a @cache.memoize function or method whose keys key-stability compares "
                "across workers and instances, e.g. mypkg.models:catalog.price (repeatable)"),
    Option(flag="--sample-args", dest="sample_args", multiple=True, metavar="NAME=JSON",
           help="arguments key-stability calls NAME with: a view's endpoint and its URL "
                "values as a JSON object, or a --memoized target and a JSON list of "
                "arguments (repeatable)"),
    Option(flag="--old-version", dest="old_version", metavar="VERSION",
           help="rolling-deploy: the Flask-Caching version of the old instance, 2.4 (its "
                "latest release) or 2.4.1 (default: the minor release before the installed one)"),
    Option(flag="--new-version", dest="new_version", metavar="VERSION",
           help="rolling-deploy: the Flask-Caching version of the new instance "
                "(default: the installed one)"),
    Option(flag="--cache", dest="cache", metavar="NAME",
           help="which of the app's Flask-Caching instances to check, by the name of "
                "the variable that holds it (needed when it has several)"),
    Option(flag="--allow-destructive", dest="allow_destructive", flag_only=True, default=False,
           help="also run scenarios that clear or flush a cache server or directory the "
                "harness did not start (named by --config)"),
    Option(flag="--load-duration", dest="load_duration", type=int,
           default=DEFAULT_LOAD_DURATION, metavar="SECONDS",
           help=f"how long wrk drives each backend in the opt-in load scenario "
                f"(default {DEFAULT_LOAD_DURATION}, at most {MAX_LOAD_DURATION})"),
    Option(flag="--jobs", dest="jobs", type=int, metavar="N",
           help="backends (x worker classes) checked side by side, each in a process of "
                "its own; 1 runs them one after another (default: one per backend, at "
                f"most {schedule.MAX_JOBS_PER_CPU} per CPU)"),
)


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
    allow_destructive: bool = False
    cache: str | None = None
    memoized: tuple[str, ...] = ()
    sample_args: dict[str, Any] = field(default_factory=dict)
    old_version: str | None = None
    new_version: str | None = None
    #: Set by :func:`for_app` once the app is probed: it does not install
    #: the harness routes itself, and (with no ``--backend``) it runs on its
    #: own configured cache, whose CACHE_* settings are kept here.
    foreign_app: bool = False
    own_cache: bool = False
    app_cache_config: dict[str, Any] = field(default_factory=dict)
    load_duration: int = DEFAULT_LOAD_DURATION
    #: Groups (backend x worker class) run side by side; see :mod:`harness.schedule`.
    jobs: int = 1


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


def _check_config(config: dict[str, Any]) -> None:
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
    allow_destructive: bool = False,
    cache: str | None = None,
    memoized: list[str] | tuple[str, ...] = (),
    sample_args: list[str] | tuple[str, ...] = (),
    old_version: str | None = None,
    new_version: str | None = None,
    load_duration: int = DEFAULT_LOAD_DURATION,
    jobs: int | None = None,
) -> RunOptions:
    """Validate raw option values into RunOptions, or raise UsageError."""
    cap, why = workers_cap()
    if not 1 <= workers <= cap:
        raise UsageError(f"--workers {workers!r} must be from 1 to {cap} on this machine "
                         f"({why}); e.g. --workers 4")
    for wc in worker_classes:
        if wc not in WORKER_CLASSES:
            raise UsageError(
                f"unknown --worker-class {wc!r}; use one of {', '.join(WORKER_CLASSES)}"
            )
    for s in servers:
        if s not in SERVER_KINDS:
            raise UsageError(
                f"unknown --server {s!r}; use one of {', '.join(SERVER_KINDS)}"
            )
    if not (math.isfinite(settle) and 0 <= settle <= MAX_SETTLE):
        raise UsageError(f"--settle {settle!r} must be from 0 to {MAX_SETTLE:g} seconds; "
                         "e.g. --settle 1")
    if not 1 <= load_duration <= MAX_LOAD_DURATION:
        raise UsageError(f"--load-duration {load_duration!r} must be from 1 to "
                         f"{MAX_LOAD_DURATION} seconds; e.g. --load-duration "
                         f"{DEFAULT_LOAD_DURATION}")
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"--port {port!r} must be between 1 and 65535")
    # Both are looked at again when an instance starts; here they are
    # refused before any session does.
    if port is not None:
        ensure_free(port)
    ready_override()
    boot_slots()
    module, sep, attr = app.partition(":")
    if not sep or not module or not attr:
        raise UsageError(f"--app {app!r} must be MODULE:NAME or 'MODULE:create_app()', "
                         "e.g. apps.demo:app")
    for target in memoized:
        module, sep, qualname = target.partition(":")
        if not sep or not module or not qualname:
            raise UsageError(f"--memoized {target!r} must be MODULE:QUALNAME, e.g. "
                             "apps.features:NAMED_PRICES.price")
    samples = _parse_samples(sample_args)
    for value, flag in ((old_version, "--old-version"), (new_version, "--new-version")):
        if value is not None:
            check_version(value, flag)
    load_expectations().check_scenarios(list(scenarios))
    parsed = parse_config(list(config))
    _check_config(parsed)
    check_report_dir(Path(report_dir))
    extra = cast(tuple[ServerKind, ...], tuple(dict.fromkeys(servers)))
    pythonpath = [str(PROJECT_ROOT), *_backends.pythonpath_entries()]
    names = list(dict.fromkeys(backends)) or list(_backends.DEFAULT_BACKENDS)
    resolved = tuple({
        b.label: b for b in (_backends.resolve(n, extra_servers=extra, pythonpath=pythonpath)
                             for n in names)}.values())
    wcs = cast(tuple[WorkerClass, ...], tuple(dict.fromkeys(worker_classes))) or ("sync",)
    picked = tuple(dict.fromkeys(scenarios))
    return RunOptions(
        backends=resolved,
        workers=workers,
        worker_classes=wcs,
        preload=preload,
        scenarios=picked,
        config=parsed,
        report_dir=Path(report_dir),
        settle=settle,
        port=port,
        app=app,
        allow_destructive=allow_destructive,
        cache=cache,
        memoized=tuple(dict.fromkeys(memoized)),
        sample_args=samples,
        old_version=old_version,
        new_version=new_version,
        load_duration=load_duration,
        jobs=_jobs(jobs, groups=len(resolved) * len(wcs), scenarios=picked, port=port),
    )


def _jobs(jobs: int | None, *, groups: int, scenarios: tuple[str, ...], port: int | None) -> int:
    if jobs is None:
        # One fixed port serves one gunicorn at a time.
        return 1 if port is not None else schedule.default_jobs(groups, scenarios)
    if not 1 <= jobs <= schedule.max_jobs():
        raise UsageError(f"--jobs {jobs!r} must be from 1 to {schedule.max_jobs()} on this "
                         f"machine ({schedule.MAX_JOBS_PER_CPU} per CPU); e.g. --jobs 2")
    if jobs > 1 and port is not None:
        raise UsageError(f"--port {port} serves one gunicorn at a time, and --jobs {jobs} runs "
                         "several; pass --jobs 1 with --port, or drop --port")
    quiet = sorted(schedule.QUIET & set(scenarios))
    if jobs > 1 and quiet:
        raise UsageError(f"--scenario {quiet[0]} measures time against a baseline of the same "
                         f"run and needs the machine to itself; pass --jobs 1, or drop --jobs")
    return jobs


def _parse_samples(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
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


def probe_app(options: RunOptions, *, backends_given: bool) -> RunOptions:
    """Check ``--app`` before anything boots, and fit the options to it (:func:`for_app`).

    A foreign app's own cache server, which the harness does not start, must
    answer now rather than as workers that fail to boot.
    """
    info = check_app(options.app, options.app_root, cache=options.cache)
    options = for_app(options, info, backends_given=backends_given)
    if options.own_cache:
        check_configured_servers(options.app_cache_config)
    return options


def for_app(options: RunOptions, info: AppInfo, *, backends_given: bool) -> RunOptions:
    """``options`` for the probed app.

    A foreign app given no ``--backend`` is checked on the cache it
    configures itself: one backend, named as its CACHE_TYPE, with no server
    started and nothing overridden but ``--config``.
    """
    if not info.foreign:
        return options
    if backends_given or info.cache_type is None:
        return replace(options, foreign_app=True)
    pythonpath = [str(PROJECT_ROOT), *_backends.pythonpath_entries()]
    own = _backends.resolve(info.cache_type, pythonpath=pythonpath)
    return replace(options, foreign_app=True, own_cache=True, backends=(own,),
                   app_cache_config={**info.cache_config, **options.config})


def from_values(get: Callable[[str], Any]) -> RunOptions:
    """Build from a front door's parsed values, looked up by each option's ``dest``.

    A value of None (pytest's "not given") falls back to the declared default.
    """
    kwargs: dict[str, Any] = {}
    for opt in OPTIONS:
        value = get(opt.dest)
        if value is None:
            continue
        kwargs[opt.dest] = tuple(value) if opt.multiple else value
    return build(**kwargs)
