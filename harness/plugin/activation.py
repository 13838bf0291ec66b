"""Switching the plugin on: whether a session asked for it, its options, and its state.

The ``pytest11`` entry point loads the plugin into every pytest session of
an environment that has the package; :func:`wanted` says whether this one
asked for it, and :func:`activate` switches it on: the validated
:class:`~harness.options.RunOptions`, the run's process ledger and signal
handling.  The stash keys below are the session's state, shared by the
plugin's modules and read by the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .. import interrupt, observe, schedule
from ..errors import HarnessError
from ..options import OPTIONS, SCENARIO_DIR, RunOptions, from_values
from ..probe import probe_app
from ..topology.processes import ledger
from ..verdict import Result
from .completion import Completion

#: The plugin's module, as ``-p`` and ``PYTEST_PLUGINS`` name it.
NAME = "harness.plugin"

OPTIONS_KEY = pytest.StashKey[RunOptions]()
RESULTS = pytest.StashKey[list[Result]]()
REPORT_PATH = pytest.StashKey[Path]()
PROGRESS = pytest.StashKey[Completion]()
LISTENER = pytest.StashKey[Callable[[dict[str, Any]], None]]()
INSTALLED = pytest.StashKey[bool]()
ACTIVE = pytest.StashKey[bool]()


class Preset:
    """Carries the CLI's RunOptions into the session, so pytest parses nothing twice.

    The CLI has also checked the app already (see
    :func:`~harness.topology.appcheck.check_app`).
    """

    def __init__(self, options: RunOptions) -> None:
        self.options = options


def preset(config: pytest.Config) -> Preset | None:
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, Preset):
            return plugin
    return None


def add_options(parser: pytest.Parser) -> None:
    """Every run option as a prefixed ``--coherence-*`` option, from the one table."""
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


def session_options(config: pytest.Config) -> RunOptions:
    """The run's options: validated once, whoever handed them in."""
    if OPTIONS_KEY in config.stash:
        return config.stash[OPTIONS_KEY]
    received = schedule.received_options(config)
    if received is not None:
        return received  # type: ignore[no-any-return]
    given_preset = preset(config)
    if given_preset is not None:
        return given_preset.options

    flags = {opt.dest: opt.pytest_dest for opt in OPTIONS}

    def get(dest: str) -> Any:
        value = config.getoption(flags[dest])
        if dest == "report_dir" and value is None:
            # pytest runs from anywhere inside the checkout; reports go to its root.
            return config.rootpath / "reports"
        return value

    given = bool(config.getoption(flags["backends"]))
    return probe_app(from_values(get), backends_given=given)


def validated(config: pytest.Config) -> RunOptions:
    """:func:`session_options`, stashed; bad input is a usage error in pytest's terms."""
    try:
        config.stash[OPTIONS_KEY] = session_options(config)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    return config.stash[OPTIONS_KEY]


def wanted(config: pytest.Config) -> bool:
    """Whether this session asked for the plugin at start-up.

    It did when the CLI drives it, when ``-p harness.plugin`` (or
    ``PYTEST_PLUGINS``) names it, when any ``--coherence-*`` option is
    given, or when a path it collects is, or holds, the scenario files.
    """
    if preset(config) is not None or schedule.received_options(config) is not None:
        return True
    named = [*(config.getoption("plugins", None) or []),
             *os.environ.get("PYTEST_PLUGINS", "").split(",")]
    if NAME in (n.strip() for n in named):
        return True
    if any(config.getoption(o.pytest_dest, None) not in (None, [], False) for o in OPTIONS):
        return True
    return any(path == SCENARIO_DIR or SCENARIO_DIR in path.parents
               or path in SCENARIO_DIR.parents for path in _collected(config))


def _collected(config: pytest.Config) -> list[Path]:
    """The paths the session was asked to collect, resolved."""
    base = config.invocation_params.dir
    return [(base / arg.split("::", 1)[0]).resolve() for arg in config.args]


def scenarios_only(config: pytest.Config) -> bool:
    """Whether the session collects scenario files and nothing else.

    Only a run of the scenarios is cut into backend groups; a session that
    also holds other tests (the harness's own suite) keeps pytest's order,
    unless it asks for xdist itself with ``-n``.
    """
    return all(path == SCENARIO_DIR or SCENARIO_DIR in path.parents
               for path in _collected(config))


def active(config: pytest.Config) -> bool:
    return config.stash.get(ACTIVE, False)


def activate(config: pytest.Config) -> None:
    """Switch the plugin on for this session: options, the run's ledger, signal handling."""
    if active(config):
        return
    config.stash[ACTIVE] = True
    config.addinivalue_line("markers", "scenario(*ids): the stable scenario ids a test reports "
                                       "under, its main one first")
    config.addinivalue_line("markers", "app(MODULE:NAME): the app whose routes a scenario needs")
    config.addinivalue_line("markers", "destructive: the scenario clears or flushes the whole "
                                       "cache; skipped on storage the harness did not start "
                                       "unless --allow-destructive")
    validated(config)
    config.stash[RESULTS] = []
    config.stash[PROGRESS] = Completion(config.stash[RESULTS],
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


def deactivate(config: pytest.Config) -> None:
    """Undo :func:`activate`, stopping whatever a cut-short teardown left running."""
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
