"""Running independent scenario groups side by side (``--jobs N``), on pytest-xdist.

Backends share nothing: each has its own servers, gunicorns and keys.  So a
run is cut into **groups**, one per backend and worker class, and up to
``--jobs`` groups run at once, each in an xdist worker process with its own
:class:`~harness.topology.pool.TopologyPool`.  Within a group the tests run
one after another in collection order, exactly as ``--jobs 1`` runs them,
so a scenario's own steps, waits and instances never interleave with
another scenario of the same backend.  A TTL or settle wait of one backend
overlaps the boots and requests of another.

Why groups by backend and not finer: the scenarios of one backend share its
servers and its 4-worker gunicorn, and some (multi-instance, FileSystemCache's
shared directory) compare instances on the same storage; splitting them
would start each backend's servers and gunicorn once per process.

Quiet: the race and linearizability scenarios (``concurrency``, the inc and
register races) release clients together and judge what interleaved; a busy
neighbour only changes *how* they interleave, and their checkers judge any
interleaving (see :mod:`harness.checkers.linearizable`), so they need no
quiet.  The scenarios whose verdicts rest on a measured time do: none of
the default ones does; ``load`` reports req/s and latency against a NullCache
baseline taken in the same run, which neighbours would distort, so a run
that names ``load`` (or the stampede scenarios, which count slow calls in a
50 ms window) runs with one job.  They say so with ``quiet = true`` in
their ``[scenarios.<id>]`` table of the expectations file.

The controller collects every worker's results from its test reports
(:func:`attach` / :func:`results_of`) and writes one report, as a sequential
run does; a stop signal it receives is passed on to every worker by pid
(:func:`harness.interrupt.forward_to`).
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import re
import signal
import weakref
from typing import TYPE_CHECKING, Any

from . import interrupt
from .expectations import load as load_expectations
from .history.ops import History, record_from_json
from .topology.processes import set_pdeathsig
from .verdict import Result

if TYPE_CHECKING:
    import pytest

#: The user property that carries a test's results from the process that ran it.
RESULTS_PROPERTY = "coherence_results"
#: The workerinput key that carries the validated options to every worker.
OPTIONS_INPUT = "coherence_options"
#: Upper bound of ``--jobs``, and of the default: each job runs a 4-worker
#: gunicorn and its servers.
MAX_JOBS_PER_CPU = 4


def default_jobs(groups: int, scenarios: tuple[str, ...] = (), cpus: int | None = None) -> int:
    """The jobs a run gets by default: one per group, so no group waits for
    another (up to :func:`max_jobs`).  bench/README.md ("Choosing --jobs")
    has the sweep this rests on: five groups on 2 CPUs took 30-31 s with 5
    jobs, 35 s with 3 and 36-38 s with 4, where one job runs two groups.

    A run that names a ``quiet = true`` scenario (see the module docstring)
    gets one job.
    """
    if load_expectations().quiet & set(scenarios):
        return 1
    return max(1, min(groups, max_jobs(cpus)))


def max_jobs(cpus: int | None = None) -> int:
    return MAX_JOBS_PER_CPU * (cpus or os.cpu_count() or 1)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def follow_controller() -> None:
    """In a worker: die with the controller, as every process the harness starts does.

    execnet starts workers without the parent-death signal; a SIGKILLed
    controller would leave them running their tests.  With it, the worker
    goes at once, and its own children (gunicorns, servers) follow it by
    theirs (:mod:`harness.topology.processes`).
    """
    parent = os.getppid()
    set_pdeathsig(signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)  # the controller died before the signal was set


def distribute(config: pytest.Config, jobs: int) -> None:
    """Ask xdist for ``jobs`` workers with one group per worker at a time.

    Called from ``pytest_cmdline_main`` before xdist's own, which turns
    ``numprocesses`` into its worker specs.  A user's own ``-n`` wins.
    """
    option = config.option
    if getattr(option, "numprocesses", None) is None and jobs > 1:
        option.numprocesses = jobs
    if getattr(option, "numprocesses", None) and option.dist in ("no", "load"):
        option.dist = "loadscope"  # the scopes are ours: see scheduler()


# --- options to the workers ------------------------------------------------------

def send_options(node: Any, options: object) -> None:
    node.workerinput[OPTIONS_INPUT] = base64.b64encode(pickle.dumps(options)).decode()


#: A scenario test's parametrization id: ``[<backend label>-<worker class>x<N>...]``;
#: a label may end in its client, ``MemcachedCache[pylibmc]``.
_TOPOLOGY_ID = re.compile(
    r"\[(?P<backend>[^\[\]]+?(?:\[[^\[\]]+\](?::\d+)?)?)-(?P<wc>sync|gthread|gevent)x\d+")


def group_of(nodeid: str) -> str:
    """The group a test runs in: its backend and worker class, or the test alone."""
    m = _TOPOLOGY_ID.search(nodeid)
    return f"{m['backend']}-{m['wc']}" if m else nodeid


def scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's scope scheduling with one scope per :func:`group_of`.

    A group's tests go to one worker, in collection order (the plugin's
    order: the shared topology's tests, then the others); groups are handed
    out largest first as workers free up.
    """
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class _Groups(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return _Groups(config, log)


def received_options(config: pytest.Config) -> Any:
    """The controller's validated options, in a worker; None elsewhere."""
    raw = getattr(config, "workerinput", {}).get(OPTIONS_INPUT)
    return None if raw is None else pickle.loads(base64.b64decode(raw))  # noqa: S301 - our own


def watch(node: Any) -> None:
    """Pass stop signals on to a worker that came up (its pid, from execnet's cached info)."""
    pid = getattr(node.gateway._rinfo(), "pid", None)
    if isinstance(pid, int):
        node.coherence_pid = pid
        interrupt.forward_to(pid)


def unwatch(node: Any) -> None:
    pid = getattr(node, "coherence_pid", None)
    if pid is not None:
        interrupt.forget(pid)


# --- results back to the controller ---------------------------------------------------

def attach(report: pytest.TestReport, results: list[Result]) -> None:
    """Carry ``results`` in the report, as JSON text, so xdist can ship it."""
    rows = []
    for r in results:
        row = r.to_json()
        row.pop("ok", None)
        row["history"] = None if r.history is None else [x.to_json() for x in r.history.records()]
        rows.append(row)
    report.user_properties.append((RESULTS_PROPERTY, json.dumps(rows, default=str)))


#: Reports already decoded: the run's list and the CLI's progress lines both ask.
_decoded: weakref.WeakKeyDictionary[pytest.TestReport, list[Result]] = \
    weakref.WeakKeyDictionary()


def results_of(report: pytest.TestReport) -> list[Result]:
    """The results a report carries (see :func:`attach`)."""
    if report in _decoded:
        return _decoded[report]
    found: list[Result] = []
    for name, value in report.user_properties:
        if name != RESULTS_PROPERTY:
            continue
        for row in json.loads(str(value)):
            records = row.pop("history")
            history = None if records is None else History.from_records(
                record_from_json(x) for x in records)
            found.append(Result(**row, history=history))
    _decoded[report] = found
    return found
