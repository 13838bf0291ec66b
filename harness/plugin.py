"""The pytest plugin: options, fixtures and hooks that wire the library.

Registered through the ``pytest11`` entry point.  It owns no scenario or
server logic: options become :class:`~harness.options.RunOptions`, the
``topology`` fixture asks a :class:`~harness.topology.pool.TopologyPool`,
and results go to :mod:`harness.report`.  The ``coherence`` CLI runs the
same scenario files through this plugin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pytest

from . import environment, report
from .errors import HarnessError
from .expectations import load as load_expectations
from .history import History
from .options import RunOptions, build
from .topology.pool import Topology, TopologyKey, TopologyPool
from .topology.servers import find_binary, missing_reason
from .verdict import INCONCLUSIVE, Result, Verdict

OPTIONS = pytest.StashKey[RunOptions]()
RESULTS = pytest.StashKey[list[Result]]()
REPORT_PATH = pytest.StashKey[Path]()
ITEM_RESULTS = pytest.StashKey[list[Result]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("coherence", "multi-process cache coherence")
    g.addoption("--backend", action="append", default=[], metavar="CACHE_TYPE",
                help="backend to check (repeatable): a Flask-Caching CACHE_TYPE or an "
                     "import path; default: NullCache, SimpleCache, FileSystemCache, "
                     "RedisCache, MemcachedCache")
    g.addoption("--server", action="append", default=[], choices=["redis", "memcached"],
                help="also start this server for custom backends (repeatable)")
    g.addoption("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    g.addoption("--worker-class", action="append", default=[], dest="worker_class",
                help="sync, gthread or gevent (repeatable; default sync)")
    g.addoption("--preload", action="store_true", help="start gunicorn with --preload")
    g.addoption("--scenario", action="append", default=[], help="run only this scenario id")
    g.addoption("--config", action="append", default=[], metavar="KEY=VALUE",
                help="extra Flask config for the app (repeatable; JSON values parsed)")
    g.addoption("--report-dir", default=None, help="where reports go (default: reports/)")
    g.addoption("--settle", type=float, default=None,
                help="seconds to wait for a late write to become visible (default 1)")
    g.addoption("--port", type=int, default=None,
                help="TCP port for gunicorn's shared listener (default: a free one)")
    g.addoption("--app", default=None,
                help="app to serve for the key-operation scenarios, MODULE:NAME "
                     "(default apps.features:app)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario(*ids): the stable scenario ids a test reports "
                                       "under, its main one first")
    config.addinivalue_line("markers", "app(MODULE:NAME): the app whose routes a scenario needs")
    opt = config.getoption
    report_dir = opt("report_dir") or (config.rootpath / "reports")
    kwargs: dict[str, Any] = {}
    if opt("settle") is not None:
        kwargs["settle"] = opt("settle")
    if opt("app"):
        kwargs["app"] = opt("app")
    try:
        config.stash[OPTIONS] = build(
            backends=opt("backend"), servers=opt("server"), workers=opt("workers"),
            worker_classes=opt("worker_class"), preload=opt("preload"),
            scenarios=opt("scenario"), config=opt("config"), report_dir=report_dir,
            port=opt("port"), **kwargs,
        )
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[RESULTS] = []


def _keys(options: RunOptions) -> list[TopologyKey]:
    return [
        TopologyKey(backend=b, worker_class=wc, workers=options.workers, preload=options.preload,
                    app=options.app)
        for b in options.backends for wc in options.worker_classes
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "topology" in metafunc.fixturenames:
        options = metafunc.config.stash[OPTIONS]
        keys = _keys(options)
        # A scenario that needs particular routes names its app with
        # @pytest.mark.app(...); with the default app (which has them all)
        # its key equals the others', so the same gunicorn serves it.
        marker = metafunc.definition.get_closest_marker("app")
        if marker is not None:
            keys = [replace(k, app=str(marker.args[0])) for k in keys]
        metafunc.parametrize(
            "topology_key", keys, ids=[k.label.replace(" ", "-") for k in keys], scope="function"
        )


def scenarios_of(item: pytest.Item) -> tuple[str, ...]:
    """The scenario ids a test reports under; the first is its main one."""
    marker = item.get_closest_marker("scenario")
    return tuple(str(a) for a in marker.args) if marker else ()


def scenario_of(item: pytest.Item) -> str | None:
    ids = scenarios_of(item)
    return ids[0] if ids else None


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    options = config.stash[OPTIONS]
    if options.scenarios:
        keep = [i for i in items
                if set(scenarios_of(i)) & set(options.scenarios) or not _uses_topology(i)]
        drop = [i for i in items if i not in keep]
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    # Group tests by topology so each gunicorn starts exactly once per run;
    # within one backend and worker class, the default app's tests come first.
    order = {replace(k, app=""): n for n, k in enumerate(_keys(options))}

    def position(item: pytest.Item) -> tuple[int, bool, str]:
        key = _topology_key(item)
        if key is None:
            return (-1, False, "")
        return (order.get(replace(key, app=""), -1), key.app != options.app, key.app)

    items.sort(key=position)


def _uses_topology(item: pytest.Item) -> bool:
    return "topology" in getattr(item, "fixturenames", ())


def _topology_key(item: pytest.Item) -> TopologyKey | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("topology_key") if callspec else None


@pytest.fixture(scope="session")
def coherence_options(request: pytest.FixtureRequest) -> RunOptions:
    """The validated options of this run."""
    return request.config.stash[OPTIONS]


@pytest.fixture(scope="session")
def coherence_pool(xprocess: Any, coherence_options: RunOptions) -> Iterator[TopologyPool]:
    """Every process of the run; all are stopped when the session ends."""
    pool = TopologyPool(
        xprocess=xprocess, app=coherence_options.app, app_root=coherence_options.app_root,
        user_config=coherence_options.config, port=coherence_options.port,
    )
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def topology_key(request: pytest.FixtureRequest) -> TopologyKey:
    key: TopologyKey = request.param
    return key


@pytest.fixture
def topology(coherence_pool: TopologyPool, topology_key: TopologyKey) -> Topology:
    """The running gunicorn (and servers) for this test's backend and worker class.

    A missing server binary skips the test with the install hint, except
    under ``CI=true``, where a silently skipped backend would be a lie.
    """
    for kind in coherence_pool.needed_servers(topology_key.backend):
        if find_binary(kind) is None:
            reason = missing_reason(kind)
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"{reason}; CI must install it")
            pytest.skip(reason)
    return coherence_pool.get(topology_key)


class Launch(Protocol):
    def __call__(self, name: str, *, workers: int | None = None, preload: bool | None = None,
                 config: dict[str, Any] | None = None, app: str | None = None) -> Topology: ...


@pytest.fixture
def launch(coherence_pool: TopologyPool, topology: Topology) -> Iterator[Launch]:
    """Start extra gunicorn instances of this test's backend, stopped after the test.

    For scenarios that need instances of their own: a second app, a second
    master, ``--preload``, or workers they may kill.
    """
    stack = ExitStack()
    try:
        def _launch(name: str, *, workers: int | None = None, preload: bool | None = None,
                    config: dict[str, Any] | None = None, app: str | None = None) -> Topology:
            key = topology.key
            key = replace(key, workers=workers if workers is not None else key.workers,
                          preload=preload if preload is not None else key.preload)
            spec: dict[str, Any] = {"app": app} if app else {}
            return coherence_pool.start(key, name=name, stack=stack, config=config, **spec)

        yield _launch
    finally:
        coherence_pool.retire(stack)


@pytest.fixture
def record(request: pytest.FixtureRequest, topology: Topology) -> Callable[[Verdict], Result]:
    """Turn this test's verdict into a report row, compared to the expectations file."""
    sid = scenario_of(request.node)
    if sid is None:
        raise pytest.UsageError(f"{request.node.nodeid} needs @pytest.mark.scenario('<id>')")
    catalog = load_expectations()

    def _record(verdict: Verdict, *, scenario: str | None = None,
                history: History | None = None) -> Result:
        name = scenario or sid
        if name not in scenarios_of(request.node):
            raise pytest.UsageError(f"{request.node.nodeid} records {name!r} but its "
                                    f"scenario marker lists only {scenarios_of(request.node)}")
        expectation = catalog.expected(topology.key.backend.name, name)
        result = Result(
            backend=topology.key.backend.name, worker_class=topology.key.worker_class,
            workers=topology.key.workers, preload=topology.key.preload, scenario=name,
            verdict=verdict.verdict, expected=expectation.verdict if expectation else None,
            evidence=verdict.evidence, history=history,
        )
        request.config.stash[RESULTS].append(result)
        request.node.stash.setdefault(ITEM_RESULTS, []).append(result)
        return result

    return _record


def assert_expected(result: Result) -> None:
    """Fail unless the verdict matches the expectations file.

    With no expectation (a custom backend), any conclusive verdict passes:
    it is recorded, and there is nothing documented to compare it to.
    """
    where = f"{result.backend} {result.worker_class}x{result.workers} {result.scenario}"
    if result.verdict in INCONCLUSIVE:
        pytest.fail(f"{where}: verdict {result.verdict!r}; evidence: {result.evidence}")
    if result.expected is not None and result.verdict != result.expected:
        exp = load_expectations().expected(result.backend, result.scenario)
        why = f" ({exp.reason}; {exp.ref})" if exp else ""
        pytest.fail(f"{where}: observed {result.verdict!r}, expected {result.expected!r}"
                    f"{why}; evidence: {result.evidence}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    results = config.stash.get(RESULTS, [])
    if not results:
        return
    options = config.stash[OPTIONS]
    config.stash[REPORT_PATH] = report.write_run(
        results, options.report_dir, environment=environment.describe(),
        run={"workers": options.workers, "worker_classes": list(options.worker_classes),
             "preload": options.preload, "settle_s": options.settle, "app": options.app},
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    config = terminalreporter.config
    results = config.stash.get(RESULTS, [])
    if not results:
        return
    terminalreporter.write_sep("=", "cache coherence matrix")
    terminalreporter.write_line(report.terminal_table(results))
    path = config.stash.get(REPORT_PATH, None)
    if path is not None:
        terminalreporter.write_line(f"report: {path}")
