"""The fixtures a scenario asks for: the run's options and pool, its topology, and its judge.

Each is a thin handle on a library object: the validated
:class:`~harness.options.RunOptions`, a
:class:`~harness.topology.pool.TopologyPool` that owns every process of
the run, the :class:`~harness.topology.pool.Topology` of this test's
backend and worker class, and a :class:`~.recording.Judge` that turns the
test's histories into rows asserted against the expectations file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn, Protocol

import pytest

from ..errors import ReadinessTimeout
from ..options import RunOptions
from ..topology.kinds import find_binary, missing_reason
from ..topology.pool import Topology, TopologyKey, TopologyPool
from .activation import OPTIONS_KEY
from .recording import Judge, Recorder, error_rows

#: The fixtures whose use switches the plugin on in a session that did not ask at start-up.
NAMES = frozenset({"topology", "topology_key", "coherence_options", "coherence_pool",
                   "launch", "judge"})


def missing_tool(reason: str) -> NoReturn:
    """Skip the test for a program that is not installed, or fail it under ``CI=true``.

    In CI a silently skipped backend or scenario would be a lie.
    """
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must install it")
    pytest.skip(reason)


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
        cache=coherence_options.cache, copy_exclude=coherence_options.copy_exclude,
        keep_out=(coherence_options.report_dir,),
        # None unless --python names one: a row whose client needs a venv
        # of its own (MemcachedCache[pylibmc]) then gets that venv.
        python=coherence_options.python.executable if coherence_options.python.given else None,
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
                    f"--app {coherence_options.app} does not have; app-views checks the "
                    "app's own cached views and memoized functions")
    foreign = coherence_pool.foreign_storage(topology_key.backend)
    if foreign and request.node.get_closest_marker("destructive") \
            and not coherence_options.allow_destructive:
        pytest.skip(f"would clear storage the harness did not start ({foreign}); "
                    "pass --allow-destructive to run it anyway")
    try:
        topo = coherence_pool.get(topology_key)
    except ReadinessTimeout as exc:
        error_rows(request.node, topology_key, exc.evidence())
        pytest.fail(f"{topology_key.label}: {exc}; nothing was run")
    problems = coherence_pool.health(topo, when="before the scenario")
    if problems:
        error_rows(request.node, topo.key, {"server_problems": problems}, topo.describe())
        pytest.fail(f"{topo.key.label}: {problems[0]['problem']}; nothing was run")
    return topo


class Launch(Protocol):
    def __call__(self, name: str, *, workers: int | None = None, preload: bool | None = None,
                 config: dict[str, Any] | None = None, app: str | None = None,
                 private_servers: bool = False, app_root: Path | None = None,
                 elsewhere: bool = False) -> Topology: ...


@contextmanager
def owned(pool: TopologyPool) -> Iterator[ExitStack]:
    """A stack for instances a scenario starts with options ``launch`` has no word for
    (``pool.start(..., stack=stack)``); they are stopped, in the background, after."""
    stack = ExitStack()
    try:
        yield stack
    finally:
        pool.retire(stack)


@pytest.fixture
def launch(coherence_pool: TopologyPool, topology: Topology) -> Iterator[Launch]:
    """Start extra gunicorn instances of this test's backend, stopped after the test.

    For scenarios that need instances of their own: a second app, a second
    master, ``--preload``, or workers they may kill.  ``elsewhere`` starts
    one as another deployment would, from a copy of the project tree.
    """
    stack = ExitStack()
    try:
        def _launch(name: str, *, workers: int | None = None, preload: bool | None = None,
                    config: dict[str, Any] | None = None, app: str | None = None,
                    private_servers: bool = False, app_root: Path | None = None,
                    elsewhere: bool = False) -> Topology:
            key = topology.key
            key = replace(key, workers=workers if workers is not None else key.workers,
                          preload=preload if preload is not None else key.preload)
            spec: dict[str, Any] = {"app": app} if app else {}
            if app_root is not None:
                # Another working directory and path to the same code.
                spec["app_root"] = app_root
            return coherence_pool.start(key, name=name, stack=stack, config=config,
                                        private_servers=private_servers,
                                        elsewhere=elsewhere, **spec)

        yield _launch
    finally:
        coherence_pool.retire(stack)


@pytest.fixture
def judge(request: pytest.FixtureRequest, topology: Topology, coherence_pool: TopologyPool,
          coherence_options: RunOptions) -> Judge:
    """Judge this test's histories: the verdict, its report row, and the assertion.

    The row is compared to the expectations file; see :class:`~.recording.Judge`.
    """
    return Judge(Recorder(request.node, topology, coherence_pool, coherence_options))
