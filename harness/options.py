"""Run options: declared once, validated once, for both front doors.

:data:`OPTIONS` is the one declaration of every option: its flag, type,
default, choices, help, and its parse and check (in
:mod:`harness.option_values`).  The ``coherence`` CLI turns it into click
options and the pytest plugin into pytest options, so a default or a help
text cannot drift between them.  :func:`build` validates the raw values into
a :class:`RunOptions` and raises :class:`~harness.errors.UsageError` for
anything out of range, before anything starts; the CLI then hands its
RunOptions to the plugin as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, cast

from . import option_values as values
from . import schedule
from .errors import UsageError
from .option_values import DEFAULT_LOAD_DURATION, MAX_LOAD_DURATION, MAX_SETTLE, Parse
from .topology import backends as _backends
from .topology.appenv import AppEnvironment
from .topology.backends import Backend, ServerKind
from .topology.boots import directory as boot_slots
from .topology.boots import ready_override
from .topology.gunicorn import WORKER_CLASSES, WorkerClass
from .topology.kinds import SERVER_KINDS
from .topology.tree import PROJECT_ROOT as PROJECT_ROOT
from .topology.tree import search_path
from .workloads.settle import DEFAULT_SETTLE

SCENARIO_DIR = PROJECT_ROOT / "scenarios"
DEFAULT_APP = "apps.features:app"

#: What the pytest plugin puts before every option's name; the CLI keeps the short names.
PYTEST_PREFIX = "--coherence-"


@dataclass(frozen=True, kw_only=True)
class Option:
    """One option of a run, as both front doors declare it."""

    flag: str
    dest: str
    help: str
    #: str, or a click type (harness.option_values.INT, FLOAT) argparse can call too.
    type: Any = str
    default: Any = None
    multiple: bool = False
    flag_only: bool = False
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    #: The option's parse and check: the given value (or the default) to
    #: the field of :class:`RunOptions`, or :class:`~harness.errors.UsageError`
    #: naming the value and the fix.  It sees the values parsed before it.
    parse: Parse = field(default=lambda value, parsed: value, repr=False)
    #: Options parsed in a later stage see every value of the earlier ones:
    #: ``--backend`` needs ``--server``, and ``--jobs`` the backends.
    stage: int = 0

    @property
    def fallback(self) -> Any:
        """The value :func:`build` takes when a front door passes none."""
        return () if self.multiple else self.default

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


def _backends_of(names: tuple[str, ...], parsed: Mapping[str, Any]) -> tuple[Backend, ...]:
    extra = cast(tuple[ServerKind, ...], parsed["servers"])
    pythonpath = search_path(parsed["app_root"], _backends.pythonpath_entries())
    chosen = list(dict.fromkeys(names)) or list(_backends.DEFAULT_BACKENDS)
    resolved = tuple({
        b.label: b for b in (_backends.resolve(n, extra_servers=extra, pythonpath=pythonpath)
                             for n in chosen)}.values())
    if extra and all(b.spec.builtin for b in resolved):
        raise UsageError(
            f"--server {extra[0]} starts a server for a custom backend, and every --backend "
            "here is a built-in that starts its own; add --backend mypkg.MyCache, or drop "
            "--server")
    return resolved


OPTIONS: tuple[Option, ...] = (
    Option(flag="--backend", dest="backends", multiple=True,
           parse=_backends_of, stage=1, metavar="CACHE_TYPE",
           help="backend to check (repeatable): a Flask-Caching CACHE_TYPE or an import "
                "path; default: " + ", ".join(_backends.DEFAULT_BACKENDS)),
    Option(flag="--server", dest="servers", multiple=True,
           parse=values.parse_servers, choices=SERVER_KINDS,
           help="also start this server for custom backends (repeatable)"),
    Option(flag="--workers", dest="workers", type=values.INT, default=4,
           parse=values.parse_workers,
           help="gunicorn workers (default 4)"),
    Option(flag="--worker-class", dest="worker_classes", multiple=True,
           parse=values.parse_worker_classes, choices=WORKER_CLASSES,
           help="worker class (repeatable; default sync)"),
    Option(flag="--preload", dest="preload", flag_only=True, default=False,
           help="start gunicorn with --preload"),
    Option(flag="--scenario", dest="scenarios", multiple=True,
           parse=values.parse_scenarios, metavar="ID",
           help="scenario id (repeatable; 'coherence list' shows them)"),
    Option(flag="--config", dest="config", multiple=True,
           parse=values.parse_config, metavar="KEY=VALUE",
           help="extra Flask config (repeatable; value parsed as JSON when it parses)"),
    Option(flag="--report-dir", dest="report_dir", default="reports",
           parse=values.parse_report_dir,
           help="where run directories go (default reports/)"),
    Option(flag="--settle", dest="settle", type=values.FLOAT, default=DEFAULT_SETTLE,
           parse=values.parse_settle,
           help=f"seconds to wait for a late write to show up on another worker "
                f"(default {DEFAULT_SETTLE:g}, at most {MAX_SETTLE:g})"),
    Option(flag="--port", dest="port", type=values.INT,
           parse=values.parse_port,
           help="TCP port for gunicorn's shared listener (default: a free one)"),
    Option(flag="--app", dest="app", default=DEFAULT_APP,
           parse=values.parse_app, metavar="MODULE:NAME",
           help=f"app to check: MODULE:NAME or 'MODULE:create_app()', any Flask app "
                f"with a Flask-Caching instance, unchanged (default {DEFAULT_APP})"),
    Option(flag="--chdir", dest="app_root", parse=values.parse_chdir, metavar="DIR",
           help="change to DIR before loading the app, as gunicorn's --chdir: the app is "
                "imported from DIR and gunicorn runs there (default: the working directory)"),
    Option(flag="--copy-exclude", dest="copy_exclude", multiple=True,
           parse=values.parse_copy_exclude, metavar="NAME",
           help="a file or directory name (shell pattern) left out of the project copy "
                "extra instances start from, besides .git, virtualenvs and caches (repeatable)"),
    Option(flag="--memoized", dest="memoized", multiple=True,
           parse=values.parse_memoized, metavar="MODULE:QUALNAME",
           help="a @cache.memoize function or method whose keys key-stability compares "
                "across workers and instances, e.g. mypkg.models:catalog.price (repeatable)"),
    Option(flag="--sample-args", dest="sample_args", multiple=True,
           parse=values.parse_samples, metavar="NAME=JSON",
           help="arguments key-stability calls NAME with: a view's endpoint and its URL "
                "values as a JSON object, or a --memoized target and a JSON list of "
                "arguments (repeatable)"),
    Option(flag="--old-version", dest="old_version",
           parse=values.parse_version("--old-version"), metavar="VERSION",
           help="rolling-deploy: the Flask-Caching version of the old instance, 2.4 (its "
                "latest release) or 2.4.1 (default: the minor release before the installed one)"),
    Option(flag="--new-version", dest="new_version",
           parse=values.parse_version("--new-version"), metavar="VERSION",
           help="rolling-deploy: the Flask-Caching version of the new instance "
                "(default: the installed one)"),
    Option(flag="--cache", dest="cache", metavar="NAME",
           help="which of the app's Flask-Caching instances to check, by the name of "
                "the variable that holds it (needed when it has several)"),
    Option(flag="--allow-destructive", dest="allow_destructive", flag_only=True, default=False,
           help="also run scenarios that clear or flush a cache server or directory the "
                "harness did not start (named by --config)"),
    Option(flag="--load-duration", dest="load_duration", type=values.INT,
           default=DEFAULT_LOAD_DURATION, metavar="SECONDS", parse=values.parse_load_duration,
           help=f"how long wrk drives each backend in the opt-in load scenario "
                f"(default {DEFAULT_LOAD_DURATION}, at most {MAX_LOAD_DURATION})"),
    Option(flag="--python", dest="python", parse=values.parse_python, stage=2, metavar="PATH",
           help="the app's own interpreter (its venv's bin/python), which runs gunicorn, the "
                "app and the harness's worker side; checked before anything starts "
                "(default: the harness's own)"),
    Option(flag="--jobs", dest="jobs", type=values.INT,
           parse=values.parse_jobs, stage=2, metavar="N",
           help="backends (x worker classes) checked side by side, each in a process of "
                "its own; 1 runs them one after another (default: one per backend, at "
                f"most {schedule.MAX_JOBS_PER_CPU} per CPU)"),
)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """One run's choices, each the parsed value of its option in :data:`OPTIONS`.

    Only :func:`build` makes one, so the fields of the options carry no
    defaults of their own: each default is the option's.
    """

    backends: tuple[Backend, ...]
    workers: int
    worker_classes: tuple[WorkerClass, ...]
    preload: bool
    scenarios: tuple[str, ...]
    config: dict[str, Any]
    report_dir: Path
    settle: float
    port: int | None
    app: str
    allow_destructive: bool
    cache: str | None
    memoized: tuple[str, ...]
    sample_args: dict[str, Any]
    old_version: str | None
    new_version: str | None
    load_duration: int
    #: Groups (backend x worker class) run side by side; see :mod:`harness.schedule`.
    jobs: int
    #: The interpreter the app is served with, and its stack's versions.
    python: AppEnvironment
    #: Where gunicorn runs and the app is imported from first
    #: (:func:`harness.topology.tree.app_root`), and what copies of it leave out.
    app_root: Path
    copy_exclude: tuple[str, ...]
    #: Set by :func:`harness.probe.for_app` once the app is probed: it does not install
    #: the harness routes itself, and (with no ``--backend``) it runs on its
    #: own configured cache, whose CACHE_* settings are kept here.
    foreign_app: bool = False
    own_cache: bool = False
    app_cache_config: dict[str, Any] = field(default_factory=dict)


def build(**raw: Any) -> RunOptions:
    """Validate raw option values, by ``dest``, into RunOptions, or raise UsageError.

    Each option parses and checks its own value (:attr:`Option.parse`), in
    the order of :data:`OPTIONS` within each stage.  A value not given
    takes the option's default.
    """
    unknown = set(raw) - {opt.dest for opt in OPTIONS}
    if unknown:
        raise TypeError(f"build() got unknown options {sorted(unknown)}")
    parsed: dict[str, Any] = {}
    for stage in sorted({opt.stage for opt in OPTIONS}):
        if stage == 1:
            # The environment's settings, looked at again when an instance
            # starts; here they are refused before any session does.
            ready_override()
            boot_slots()
        for opt in (o for o in OPTIONS if o.stage == stage):
            parsed[opt.dest] = opt.parse(raw.get(opt.dest, opt.fallback), parsed)
    known = {f.name for f in fields(RunOptions)}
    return RunOptions(**{dest: value for dest, value in parsed.items() if dest in known})


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
