"""The pytest plugin: the hooks that wire the library into a pytest session.

Registered through the ``pytest11`` entry point, so it is loaded into every
pytest session of an environment that has the package; it stays inert there
(see :func:`.activation.wanted`) unless the session runs the scenarios,
names one of its ``--coherence-*`` options or ``-p harness.plugin``, or a
test asks for one of its fixtures.  Each hook only hands over to a module of
its own: :mod:`.activation` (options and the session's state),
:mod:`.completion` (a full run from a partial one), :mod:`.ordering`
(parametrization and order), :mod:`.fixtures`, :mod:`.recording` (rows
against the expectations) and :mod:`.summary` (the report and the
terminal).  The ``coherence`` CLI runs the same scenario files through this
plugin.
"""

from __future__ import annotations

from typing import Any

import pytest

from .. import hooks, schedule
from . import activation, ordering, recording, summary
from .activation import OPTIONS_KEY, activate, active, wanted

# pytest finds a plugin's fixtures in its namespace.
from .fixtures import (
    NAMES,
    coherence_options,
    coherence_pool,
    judge,
    launch,
    topology,
    topology_key,
)

__all__ = ["coherence_options", "coherence_pool", "judge", "launch", "topology", "topology_key"]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    activation.add_options(parser)


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Any:
    """Validate the options once, and ask xdist for ``--jobs`` workers.

    A wrapper, so it runs before every plugin's own implementation,
    xdist's included (which reads the number of workers), whatever the
    order the plugins were registered in.
    """
    if not schedule.is_worker(config) and wanted(config):
        options = activation.validated(config)
        if activation.scenarios_only(config):
            schedule.distribute(config, options.jobs)
    return (yield)


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


def pytest_unconfigure(config: pytest.Config) -> None:
    activation.deactivate(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not active(metafunc.config):
        if (metafunc.definition.get_closest_marker("scenario") is None
                and not NAMES & set(metafunc.fixturenames)):
            return
        # A test of the user's own suite asked for the topology fixtures.
        activate(metafunc.config)
    ordering.check_marker(metafunc)
    ordering.parametrize(metafunc, metafunc.config.stash[OPTIONS_KEY])


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if active(config):
        ordering.select_and_order(config, config.stash[OPTIONS_KEY], items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep: pytest.TestReport = yield
    if active(item.config):
        recording.carry(item, call, rep)
    return rep


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    summary.write_report(session)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    summary.terminal_summary(terminalreporter)
