"""The pytest plugin: options, fixtures and hooks that wire the library.

Registered through the ``pytest11`` entry point, so it is loaded into every
pytest session of an environment that has the package; it stays inert there
(see :func:`wanted`) unless the session runs the scenarios, names one of its
``--coherence-*`` options or ``-p harness.plugin``, or a test asks for one
of its fixtures.  It owns no scenario or server logic: options become
:class:`~harness.options.RunOptions`, the ``topology`` fixture asks a
:class:`~harness.topology.pool.TopologyPool`, and results go to
:mod:`harness.report`.  The ``coherence`` CLI runs the same scenario files
through this plugin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn, Protocol

import pytest

from . import environment, hooks, interrupt, observe, report, schedule
from .backends import BUILTIN
from .errors import HarnessError, ReadinessTimeout
from .expectations import FILE as EXPECTATIONS_FILE
from .expectations import load as load_expectations
from .history.ops import History
from .options import OPTIONS, SCENARIO_DIR, RunOptions, from_values, probe_app
from .report.cost import text as cost_text
from .topology.kinds import find_binary, missing_reason
from .topology.pool import Topology, TopologyKey, TopologyPool
from .topology.processes import ledger
from .verdict import INCONCLUSIVE, Result, Verdict

OPTIONS_KEY = pytest.StashKey[RunOptions]()
RESULTS = pytest.StashKey[list[Result]]()
REPORT_PATH = pytest.StashKey[Path]()
ITEM_RESULTS = pytest.StashKey[list[Result]]()
SENT = pytest.StashKey[int]()
LISTENER = pytest.StashKey[Callable[[dict[str, Any]], None]]()
#: User properties of a test report, beside :data:`harness.schedule.RESULTS_PROPERTY`.
SCENARIO_PROPERTY = "coherence_scenario"
ERROR_PROPERTY = "coherence_error"
PROGRESS = pytest.StashKey["_Completion"]()
INSTALLED = pytest.StashKey[bool]()
ACTIVE = pytest.StashKey[bool]()

#: The fixtures whose use switches the plugin on in a session that did not ask at start-up.
FIXTURES = frozenset({"topology", "topology_key", "coherence_options", "coherence_pool",
                      "launch", "record"})


class Preset:
    """Carries the CLI's RunOptions into the session, so pytest parses nothing twice.

    The CLI has also checked the app already (see
    :func:`~harness.topology.appcheck.check_app`).
    """

    def __init__(self, options: RunOptions) -> None:
        self.options = options


def _preset(config: pytest.Config) -> Preset | None:
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, Preset):
            return plugin
    return None


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("coherence", "multi-process cache coherence")
    for opt in OPTIONS:
        kwargs: dict[str, Any] = {"dest": opt.pytest_dest, "help": opt.help}
        if opt.flag_only:
            kwargs["action"] = "store_true"
        elif opt.multiple:
            kwargs.update(action="append", default=[])
        else:
            # None means "not given": options.from_values applies the default.
            kwargs.update(type=opt.type, default=None)
        if opt.choices:
            kwargs["choices"] = list(opt.choices)
        if opt.metavar:
            kwargs["metavar"] = opt.metavar
        g.addoption(opt.pytest_flag, **kwargs)


def _session_options(config: pytest.Config) -> RunOptions:
    if OPTIONS_KEY in config.stash:
        return config.stash[OPTIONS_KEY]
    received = schedule.received_options(config)
    if received is not None:
        return received  # type: ignore[no-any-return]
    preset = _preset(config)
    if preset is not None:
        return preset.options

    flags = {opt.dest: opt.pytest_dest for opt in OPTIONS}

    def get(dest: str) -> Any:
        value = config.getoption(flags[dest])
        if dest == "report_dir" and value is None:
            # pytest runs from anywhere inside the checkout; reports go to its root.
            return config.rootpath / "reports"
        return value

    given = bool(config.getoption(next(o.pytest_dest for o in OPTIONS if o.dest == "backends")))
    return probe_app(from_values(get), backends_given=given)


def wanted(config: pytest.Config) -> bool:
    """Whether this session asked for the plugin at start-up.

    It did when the CLI drives it, when ``-p harness.plugin`` (or
    ``PYTEST_PLUGINS``) names it, when any ``--coherence-*`` option is
    given, or when a path it collects is, or holds, the scenario files.
    """
    if _preset(config) is not None or schedule.received_options(config) is not None:
        return True
    named = [*(config.getoption("plugins", None) or []),
             *os.environ.get("PYTEST_PLUGINS", "").split(",")]
    if __name__ in (n.strip() for n in named):
        return True
    if any(config.getoption(o.pytest_dest, None) not in (None, [], False) for o in OPTIONS):
        return True
    return any(path == SCENARIO_DIR or SCENARIO_DIR in path.parents
               or path in SCENARIO_DIR.parents for path in _collected(config))


def _collected(config: pytest.Config) -> list[Path]:
    """The paths the session was asked to collect, resolved."""
    base = config.invocation_params.dir
    return [(base / arg.split("::", 1)[0]).resolve() for arg in config.args]


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    """Validate the options once, and ask xdist for ``--jobs`` workers.

    A wrapper, so it runs before every plugin's own implementation,
    xdist's included (which reads the number of workers), whatever the
    order the plugins were registered in.
    """
    if not schedule.is_worker(config) and wanted(config):
        try:
            config.stash[OPTIONS_KEY] = _session_options(config)
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
        if _scenarios_only(config):
            schedule.distribute(config, config.stash[OPTIONS_KEY].jobs)
    return (yield)


def _scenarios_only(config: pytest.Config) -> bool:
    """Whether the session collects scenario files and nothing else.

    Only a run of the scenarios is cut into backend groups; a session that
    also holds other tests (the harness's own suite) keeps pytest's order,
    unless it asks for xdist itself with ``-n``.
    """
    return all(path == SCENARIO_DIR or SCENARIO_DIR in path.parents
               for path in _collected(config))


def pytest_configure(config: pytest.Config) -> None:
    if wanted(config):
        activate(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    if OPTIONS_KEY in node.config.stash:
        schedule.send_options(node, node.config.stash[OPTIONS_KEY])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if OPTIONS_KEY in config.stash:
        return schedule.scheduler(config, log)
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodeready(node: Any) -> None:
    schedule.watch(node)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    schedule.unwatch(node)


def activate(config: pytest.Config) -> None:
    """Switch the plugin on for this session: options, the run's ledger, signal handling."""
    if config.stash.get(ACTIVE, False):
        return
    config.stash[ACTIVE] = True
    config.addinivalue_line("markers", "scenario(*ids): the stable scenario ids a test reports "
                                       "under, its main one first")
    config.addinivalue_line("markers", "app(MODULE:NAME): the app whose routes a scenario needs")
    config.addinivalue_line("markers", "destructive: the scenario clears or flushes the whole "
                                       "cache; skipped on storage the harness did not start "
                                       "unless --allow-destructive")
    try:
        config.stash[OPTIONS_KEY] = _session_options(config)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[RESULTS] = []
    config.stash[PROGRESS] = _Completion(config.stash[RESULTS],
                                         collect=not schedule.is_worker(config))
    config.pluginmanager.register(config.stash[PROGRESS], "coherence-completion")
    ledger()
    config.stash[INSTALLED] = not interrupt.installed()
    interrupt.install()
    interrupt.raising(True)
    if schedule.is_worker(config):
        interrupt.expect_echoes()
        schedule.follow_controller()
    if config.pluginmanager.hook.pytest_coherence_event.get_hookimpls():
        config.stash[LISTENER] = lambda event: config.hook.pytest_coherence_event(event=event)
        observe.listen(config.stash[LISTENER])


def pytest_unconfigure(config: pytest.Config) -> None:
    if OPTIONS_KEY not in config.stash:
        return
    interrupt.raising(False)
    if LISTENER in config.stash:
        observe.unlisten(config.stash[LISTENER])
    # The pool's own teardown has stopped everything by now; whatever is
    # still registered was left by a teardown a signal cut short.
    ledger().stop_all()
    if config.stash.get(INSTALLED, False):
        interrupt.uninstall()


class _Completion:
    """Counts the selected checks that ran to an outcome: a full run from a partial one."""

    def __init__(self, results: list[Result], *, collect: bool) -> None:
        self.selected = 0
        self.finished = 0
        self.stopped: str | None = None
        #: The run's results, gathered from the test reports (a parallel
        #: run's workers send theirs; they do not gather).
        self.results = results
        self.collect = collect

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.selected = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        # A parallel run's controller collects nothing itself: every worker
        # collects (and deselects) the same ids.
        self.selected = len(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.finished += 1
        if self.collect:
            self.results.extend(schedule.results_of(report))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        interrupt.raising(True)
        if interrupt.requested() is not None:
            raise KeyboardInterrupt(interrupt.describe())

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        # Teardown stops processes (and, after the last test, the whole
        # pool): a signal now is recorded and acted on at the next setup.
        interrupt.raising(False)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        if interrupt.requested() is not None:
            raise KeyboardInterrupt(interrupt.describe())
        try:
            return (yield)
        finally:
            # From here on a signal is only recorded: raising it in a teardown
            # would cut short the very cleanup it asks for.
            interrupt.raising(False)
            stop = session.shouldstop or session.shouldfail
            if stop:
                self.stopped = str(stop)


def partial_reason(config: pytest.Config) -> str | None:
    """Why this session's report is partial, or None when every selected check ran."""
    signum = interrupt.describe()
    done = config.stash.get(PROGRESS, None)
    if signum is not None:
        ran = f"; {done.finished} of {done.selected} checks ran" if done else ""
        return f"interrupted by {signum}{ran}"
    if done is not None and done.finished < done.selected:
        why = f"stopped early ({done.stopped})" if done.stopped else "stopped early"
        return f"{why}; {done.finished} of {done.selected} checks ran"
    return None


def _keys(options: RunOptions) -> list[TopologyKey]:
    return [
        TopologyKey(backend=b, worker_class=wc, workers=options.workers, preload=options.preload,
                    app=options.app)
        for b in options.backends for wc in options.worker_classes
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("scenario")
    if not metafunc.config.stash.get(ACTIVE, False):
        if marker is None and not FIXTURES & set(metafunc.fixturenames):
            return
        # A test of the user's own suite asked for the topology fixtures.
        activate(metafunc.config)
    if marker is not None:
        known = load_expectations().scenarios
        for sid in marker.args:
            if sid not in known:
                # CollectError: pytest reports its message alone, as one line.
                raise pytest.Collector.CollectError(
                    f"{metafunc.definition.nodeid}: scenario id {sid!r} is not in "
                    f"{EXPECTATIONS_FILE}; add a [scenarios.{sid}] table there or fix the id")
    if "topology" in metafunc.fixturenames:
        options = metafunc.config.stash[OPTIONS_KEY]
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
    if not config.stash.get(ACTIVE, False):
        return
    options = config.stash[OPTIONS_KEY]
    # Named scenarios run whatever their default; without --scenario, the
    # opt-in ones (default = false in the expectations file) are left out.
    wanted = load_expectations().selected(options.scenarios)

    def kept(item: pytest.Item) -> bool:
        ids = set(scenarios_of(item))
        if not _uses_topology(item):
            return True
        return bool(ids & wanted) if ids else not options.scenarios

    keep = [i for i in items if kept(i)]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if not kept(i)])
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
    return request.config.stash[OPTIONS_KEY]


@pytest.fixture(scope="session")
def coherence_pool(request: pytest.FixtureRequest,
                   coherence_options: RunOptions) -> Iterator[TopologyPool]:
    """Every process of the run; all are stopped when the session ends.

    Each process of a parallel run keeps its xprocess files apart: xprocess
    empties every log file under its directory when a session starts, which
    would cut short the logs of a neighbour's servers.  The XProcess is the
    pool's own, not pytest-xprocess's fixture: that one hands the log files
    it opens to pytest's config, where its report hook reads them after
    every test, and another user of the fixture in the same session would
    replace ours and have them closed under that hook.  Ours keeps them to
    itself and closes them when the pool is done.
    """
    import py  # type: ignore[import-untyped]
    from xprocess import XProcess

    assert request.config.cache is not None, "the topology fixtures need pytest's cacheprovider"
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    root = request.config.cache.mkdir(".xprocess") / f"coherence-{worker}"
    xprocess = XProcess(SimpleNamespace(), py.path.local(root))
    pool = TopologyPool(
        xprocess=xprocess, app=coherence_options.app, app_root=coherence_options.app_root,
        user_config=coherence_options.config, port=coherence_options.port,
        log_dir=coherence_options.report_dir / "logs", own_cache=coherence_options.own_cache,
        cache=coherence_options.cache,
    )
    try:
        yield pool
    finally:
        try:
            pool.close()
        finally:
            for resource in xprocess.resources:
                resource.release()


@pytest.fixture
def topology_key(request: pytest.FixtureRequest) -> TopologyKey:
    key: TopologyKey = request.param
    return key


@pytest.fixture
def topology(request: pytest.FixtureRequest, coherence_pool: TopologyPool,
             coherence_options: RunOptions, topology_key: TopologyKey) -> Topology:
    """The running gunicorn (and servers) for this test's backend and worker class.

    A missing server binary skips the test with the install hint, except
    under ``CI=true``, where a silently skipped backend would be a lie.  A
    destructive scenario on storage the harness did not start is skipped
    unless ``--allow-destructive``.  A server that is already dead, stalled
    or replaced gives every scenario of the test an ``error`` row at once.
    """
    for kind in coherence_pool.needed_servers(topology_key.backend):
        if find_binary(kind) is None:
            missing_tool(missing_reason(kind))
    app_marker = request.node.get_closest_marker("app")
    if coherence_options.foreign_app and app_marker is not None:
        pytest.skip(f"needs the feature routes of the sample app {app_marker.args[0]}, which "
                    f"--app {coherence_options.app} does not have")
    foreign = coherence_pool.foreign_storage(topology_key.backend)
    if foreign and request.node.get_closest_marker("destructive") \
            and not coherence_options.allow_destructive:
        pytest.skip(f"would clear storage the harness did not start ({foreign}); "
                    "pass --allow-destructive to run it anyway")
    try:
        topo = coherence_pool.get(topology_key)
    except ReadinessTimeout as exc:
        _error_rows(request.node, topology_key, exc.evidence())
        pytest.fail(f"{topology_key.label}: {exc}; nothing was run")
    problems = coherence_pool.health(topo, when="before the scenario")
    if problems:
        _error_rows(request.node, topo.key, {"server_problems": problems}, topo.describe())
        pytest.fail(f"{topo.key.label}: {problems[0]['problem']}; nothing was run")
    return topo


def _error_rows(item: pytest.Item, key: TopologyKey, evidence: dict[str, Any],
                processes: list[dict[str, Any]] | None = None) -> None:
    """An ``error`` row for each scenario of ``item`` that could not observe.

    Rows only for the ids this backend is judged on: a scenario that never
    applies to it (no expectation) gets no row of its own.
    """
    ids = scenarios_of(item)
    catalog = load_expectations()
    judged = [sid for sid in ids if catalog.expected(key.backend.label, sid)] or ids[:1]
    for sid in judged:
        _append_to(item, _result(key, sid, Verdict(verdict="error", evidence=evidence), None,
                                 processes or []))


def missing_tool(reason: str) -> NoReturn:
    """Skip the test for a program that is not installed, or fail it under ``CI=true``.

    In CI a silently skipped backend or scenario would be a lie.
    """
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must install it")
    pytest.skip(reason)


class Launch(Protocol):
    def __call__(self, name: str, *, workers: int | None = None, preload: bool | None = None,
                 config: dict[str, Any] | None = None, app: str | None = None,
                 private_servers: bool = False, app_root: Path | None = None) -> Topology: ...


@pytest.fixture
def launch(coherence_pool: TopologyPool, topology: Topology) -> Iterator[Launch]:
    """Start extra gunicorn instances of this test's backend, stopped after the test.

    For scenarios that need instances of their own: a second app, a second
    master, ``--preload``, or workers they may kill.
    """
    stack = ExitStack()
    try:
        def _launch(name: str, *, workers: int | None = None, preload: bool | None = None,
                    config: dict[str, Any] | None = None, app: str | None = None,
                    private_servers: bool = False, app_root: Path | None = None) -> Topology:
            key = topology.key
            key = replace(key, workers=workers if workers is not None else key.workers,
                          preload=preload if preload is not None else key.preload)
            spec: dict[str, Any] = {"app": app} if app else {}
            if app_root is not None:
                # Another working directory and path to the same code.
                spec["app_root"] = app_root
            return coherence_pool.start(key, name=name, stack=stack, config=config,
                                        private_servers=private_servers, **spec)

        yield _launch
    finally:
        coherence_pool.retire(stack)


@pytest.fixture
def record(request: pytest.FixtureRequest, topology: Topology, coherence_pool: TopologyPool,
           coherence_options: RunOptions) -> Callable[..., Result]:
    """Turn this test's verdict into a report row, compared to the expectations file."""
    sid = scenario_of(request.node)
    if sid is None:
        raise pytest.UsageError(f"{request.node.nodeid} needs @pytest.mark.scenario('<id>')")

    def _record(verdict: Verdict, *, scenario: str | None = None,
                history: History | None = None, ran_on: Topology | None = None,
                app_code: bool = False) -> Result:
        """``ran_on``: the instance the scenario ran on, when it started its own.
        ``app_code``: the verdict judges the app's own code (key-stability), and the
        expectations file describes the sample app's, so a foreign app's row has none."""
        name = scenario or sid
        if name not in scenarios_of(request.node):
            raise pytest.UsageError(f"{request.node.nodeid} records {name!r} but its "
                                    f"scenario marker lists only {scenarios_of(request.node)}")
        backend = topology.key.backend.label
        if (topology.key.backend.name in BUILTIN
                and load_expectations().expected(backend, name) is None):
            # A built-in backend is documented for every scenario it runs; a
            # missing entry would silently pass as "no expectation".
            raise pytest.UsageError(
                f"{EXPECTATIONS_FILE} has no expectation for {backend} in scenario {name!r}; "
                f"add [expect.{topology.key.backend.name}.{name}]")
        problems = coherence_pool.health(topology, when="after the scenario")
        if problems:
            # A verdict drawn while a server was dying says nothing about the backend.
            verdict = Verdict(verdict="error", evidence={
                "server_problems": problems, "checker_verdict": verdict.verdict,
                "checker_evidence": verdict.evidence})
        result = _result(topology.key, name, verdict, history, topology.describe())
        if ran_on is not None:
            result = replace(result, topology=ran_on.describe())
        if app_code and coherence_options.foreign_app:
            result = replace(result, expected=None)
        return _append_to(request.node, result)

    return _record


def _result(key: TopologyKey, scenario: str, verdict: Verdict, history: History | None,
            processes: list[dict[str, Any]]) -> Result:
    expectation = load_expectations().expected(key.backend.label, scenario)
    return Result(
        backend=key.backend.label, worker_class=key.worker_class,
        workers=key.workers, preload=key.preload, scenario=scenario,
        verdict=verdict.verdict, expected=expectation.verdict if expectation else None,
        evidence=verdict.evidence, history=history, topology=processes,
    )


def _append_to(item: pytest.Item, result: Result) -> Result:
    # The result reaches the run's list through the test's report
    # (pytest_runtest_makereport), which is how a parallel run's workers
    # send it to the process that writes the report.
    item.stash.setdefault(ITEM_RESULTS, []).append(result)
    return result


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Carry the results recorded since the last phase, the scenario id and any
    environment error in the report: the one way they reach the run's list.

    An environment error (a server that did not come up, bad input) is
    reported as its one line: its message names the process, the fix and a
    log that outlives the run, which a traceback through the pool and the
    captured start-up chatter would only bury.
    """
    rep: pytest.TestReport = yield
    if not item.config.stash.get(ACTIVE, False):
        return rep
    excinfo = call.excinfo
    error: BaseException | None = excinfo.value if excinfo is not None else None
    if isinstance(error, ReadinessTimeout) and not item.stash.get(ITEM_RESULTS, []):
        # An instance the test started itself (launch) timed out: its rows
        # say so, and the run goes on.
        key = _topology_key(item)
        if key is not None:
            _error_rows(item, key, error.evidence())
    results = item.stash.get(ITEM_RESULTS, [])
    sent = item.stash.get(SENT, 0)
    item.stash[SENT] = len(results)
    schedule.attach(rep, results[sent:])
    sid = scenario_of(item)
    if sid is not None:
        rep.user_properties.append((SCENARIO_PROPERTY, sid))
    if isinstance(error, HarnessError):
        if error.stops_run:
            rep.user_properties.append((ERROR_PROPERTY, str(error)))
        rep.longrepr = str(error)
        rep.sections = []
    return rep


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if schedule.is_worker(config):
        return  # its results went to the controller in its reports
    results = config.stash.get(RESULTS, [])
    if not results:
        return
    options = config.stash[OPTIONS_KEY]
    # A parallel run's results arrive as groups finish; put them in the
    # order of the run's backends, as a sequential run has them.
    order = {b.label: n for n, b in enumerate(options.backends)}
    classes: dict[str, int] = {wc: n for n, wc in enumerate(options.worker_classes)}
    results.sort(key=lambda r: (order.get(r.backend, len(order)),
                                classes.get(r.worker_class, len(classes))))
    partial = partial_reason(config)
    if partial is not None:
        _drop_junitxml(config)
    config.stash[REPORT_PATH] = report.write_run(
        results, options.report_dir, environment=environment.describe(),
        run={"workers": options.workers, "worker_classes": list(options.worker_classes),
             "preload": options.preload, "settle_s": options.settle, "app": options.app,
             "allow_destructive": options.allow_destructive, "cache": options.cache,
             "own_cache": options.own_cache, "load_duration_s": options.load_duration},
        partial_reason=partial,
    )


def _drop_junitxml(config: pytest.Config) -> None:
    """No JUnit file for a partial run: fewer tests and no failures would read as green."""
    from _pytest.junitxml import LogXML

    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, LogXML):
            config.pluginmanager.unregister(plugin)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    config = terminalreporter.config
    results = config.stash.get(RESULTS, [])
    if not results:
        return
    terminalreporter.write_sep("=", "cache coherence matrix")
    terminalreporter.write_line(report.terminal_table(results))
    costs = cost_text(results)
    if costs:
        terminalreporter.write_sep("-", "cost under load (vs the NullCache baseline)")
        terminalreporter.write_line(costs)
    path = config.stash.get(REPORT_PATH, None)
    if path is not None:
        terminalreporter.write_line(f"report: {path}")
