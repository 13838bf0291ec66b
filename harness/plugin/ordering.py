"""Parametrization and order: one test per topology, grouped so each gunicorn starts once.

Every test that uses the ``topology`` fixture runs once per backend and
worker class of the run (:func:`parametrize`); the opt-in scenarios are
left out unless named, and the rest are sorted by topology
(:func:`select_and_order`).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ..expectations import FILE as EXPECTATIONS_FILE
from ..expectations import load as load_expectations
from ..options import RunOptions
from ..topology.pool import TopologyKey


def keys(options: RunOptions) -> list[TopologyKey]:
    """The topology of every backend and worker class of the run, in the run's order."""
    return [
        TopologyKey(backend=b, worker_class=wc, workers=options.workers, preload=options.preload,
                    app=options.app)
        for b in options.backends for wc in options.worker_classes
    ]


def scenarios_of(item: pytest.Item) -> tuple[str, ...]:
    """The scenario ids a test reports under; the first is its main one."""
    marker = item.get_closest_marker("scenario")
    return tuple(str(a) for a in marker.args) if marker else ()


def scenario_of(item: pytest.Item) -> str | None:
    ids = scenarios_of(item)
    return ids[0] if ids else None


def check_marker(metafunc: pytest.Metafunc) -> None:
    """Refuse a ``scenario`` marker that names an id the expectations file lacks."""
    marker = metafunc.definition.get_closest_marker("scenario")
    if marker is None:
        return
    known = load_expectations().scenarios
    for sid in marker.args:
        if sid not in known:
            # CollectError: pytest reports its message alone, as one line.
            raise pytest.Collector.CollectError(
                f"{metafunc.definition.nodeid}: scenario id {sid!r} is not in "
                f"{EXPECTATIONS_FILE}; add a [scenarios.{sid}] table there or fix the id")


def parametrize(metafunc: pytest.Metafunc, options: RunOptions) -> None:
    """One test per topology of the run, for a test that uses the ``topology`` fixture."""
    if "topology" not in metafunc.fixturenames:
        return
    found = keys(options)
    # A scenario that needs particular routes names its app with
    # @pytest.mark.app(...); with the default app (which has them all)
    # its key equals the others', so the same gunicorn serves it.
    marker = metafunc.definition.get_closest_marker("app")
    if marker is not None:
        found = [replace(k, app=str(marker.args[0])) for k in found]
    metafunc.parametrize(
        "topology_key", found, ids=[k.label.replace(" ", "-") for k in found], scope="function"
    )


def select_and_order(config: pytest.Config, options: RunOptions,
                     items: list[pytest.Item]) -> None:
    """Leave out the scenarios this run does not run, and group the rest by topology."""
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
    order = {replace(k, app=""): n for n, k in enumerate(keys(options))}

    def position(item: pytest.Item) -> tuple[int, bool, str]:
        key = topology_key(item)
        if key is None:
            return (-1, False, "")
        return (order.get(replace(key, app=""), -1), key.app != options.app, key.app)

    items.sort(key=position)


def _uses_topology(item: pytest.Item) -> bool:
    return "topology" in getattr(item, "fixturenames", ())


def topology_key(item: pytest.Item) -> TopologyKey | None:
    """The topology a parametrized test runs on, or None for any other test."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("topology_key") if callspec else None
