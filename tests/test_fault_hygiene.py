"""Fault scenarios leave nothing running, and their rows show the topology their kind defines.

A fault scenario starts the most processes of any (the run's servers, its
own private servers, two gunicorns) and breaks one of them on purpose.
Whether it passes, fails or is interrupted while the nemesis holds a server
killed or stopped, no redis-server, sentinel, memcached or gunicorn of the
run may survive it; survivors are found by the run's tag in
``/proc/*/environ``, never by name.  The backends are the two with the most
processes: a Sentinel group (master, replicas, sentinels) and memcached
over three servers.

The moments to act are found by watching the run's processes (how many
servers are up, whether one is stopped), never by sleeping.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from binaries import need
from clirun import CliRun, processes_tagged, run_cli
from test_report_html import _article, _open

from harness.topology.backends import resolve
from harness.topology.kinds import KINDS
from harness.topology.procfs import start_time

pytestmark = pytest.mark.needs("redis", "memcached")

#: The fault-scenario backends with the most processes.
FAULTED = ("RedisSentinelCache", "MemcachedCache:3")
#: Every multi-process kind, for the topology check of a passing run.
SIZED = (*FAULTED, "RedisClusterCache")
WORKERS = 2
#: How long a whole fault run may take here, start-up and teardown included.
RUN_TIMEOUT = 120.0


@dataclass(frozen=True)
class Proc:
    pid: int
    binary: str
    #: /proc state: "T" when stopped by SIGSTOP.
    state: str
    start: int


def _procs(tag: str) -> list[Proc]:
    """The run's live processes (by its tag), oldest first."""
    found = []
    for line in processes_tagged(tag):
        pid_text, _, cmd = line.partition(" ")
        pid = int(pid_text)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        start = start_time(pid)
        if start is None:
            continue
        found.append(Proc(pid=pid, binary=Path(cmd.split(" ", 1)[0]).name, state=stat[0],
                          start=start))
    return sorted(found, key=lambda p: (p.start, p.pid))


def _servers(tag: str, label: str) -> list[Proc]:
    """The run's live server processes of ``label``'s kind, oldest first."""
    binary = KINDS[_kind(label)].binary
    return [p for p in _procs(tag) if p.binary == binary]


def _kind(label: str) -> str:
    kind = resolve(label).server
    assert kind is not None
    return kind


def _per_deployment(label: str) -> int:
    """How many server processes one deployment of ``label`` runs, from its kind's roles."""
    backend = resolve(label)
    return sum(KINDS[_kind(label)].roles(backend.size).values())


def _wait(run: Any, what: str, until: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``until`` until it returns something true; fail if the run ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = until()
        if found:
            return found
        if run.proc.poll() is not None:
            break
        time.sleep(0.01)
    out, err = run.proc.communicate(timeout=30) if run.proc.poll() is None else ("", "")
    raise AssertionError(f"never saw {what}; exit {run.proc.poll()}: {out[-2000:]} {err[-2000:]}")


def _private_servers_up(run: Any, label: str) -> list[Proc]:
    """Wait until the run's shared servers and the scenario's private ones all run."""
    n = _per_deployment(label)
    return _wait(run, f"{2 * n} {label} servers (shared and private)",
                 lambda: (s := _servers(run.tag, label)) and len(s) == 2 * n and s)


def _run_args(label: str, scenario: str) -> tuple[str, ...]:
    return ("--backend", label, "--scenario", scenario, "--workers", str(WORKERS))


# --- passes -----------------------------------------------------------------


@pytest.fixture(scope="module")
def passing_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """One run of server-restart on every multi-process kind; every verdict as expected."""
    args = [a for label in SIZED for a in ("--backend", label)]
    return run_cli(tmp_path_factory.mktemp("faults"), *args, "--scenario", "server-restart",
                   "--workers", str(WORKERS), timeout=3 * RUN_TIMEOUT)


def test_a_passing_fault_run_leaves_nothing_running(passing_run: CliRun) -> None:
    assert passing_run.code == 0, passing_run.stdout + passing_run.stderr
    assert {r["backend"] for r in passing_run.report()["results"]} == {
        resolve(label).label for label in SIZED}
    assert passing_run.leftovers == []


def test_each_row_topology_is_the_processes_its_kind_defines(passing_run: CliRun) -> None:
    """Roles and counts come from the kind's definition; pids and ports are real and distinct."""
    rows = passing_run.report()["results"]
    assert rows, passing_run.stdout + passing_run.stderr
    for row in rows:
        backend = resolve(row["backend"])
        assert backend.server is not None
        kind = KINDS[backend.server]
        topo = row["topology"]
        servers = [t for t in topo if t["kind"] == kind.name]
        assert Counter(t["role"] for t in servers) == Counter(kind.roles(backend.size)), row
        assert all(t["process"] == kind.binary for t in servers), servers
        assert len({t["port"] for t in servers}) == len(servers), servers
        gunicorn = [t for t in topo if t["kind"] == "gunicorn"]
        assert Counter(t["role"] for t in gunicorn) == {"arbiter": 1, "worker": WORKERS}, topo
        assert len(servers) + len(gunicorn) == len(topo), "a process of an unknown kind"
        pids = [t["pid"] for t in topo]
        assert all(isinstance(p, int) and p > 0 for p in pids) and len(set(pids)) == len(pids)
        # The pids are those of the processes that ran the scenario: every
        # worker's operations carry its pid, and a node the nemesis restarted
        # is shown with the pid it restarted with.
        lines = (passing_run.report_dir / "latest" / row["history"]).read_text().splitlines()
        history = [json.loads(line) for line in lines]
        workers = {t["pid"] for t in gunicorn if t["role"] == "worker"}
        assert {op["pid"] for op in history if op["process"] != "nemesis"} == workers
        restarted = [op["value"]["pid"] for op in history if op["f"] == "restart"]
        assert restarted and set(restarted) <= {t["pid"] for t in servers}, restarted


def test_a_real_fault_run_draws_the_nemesis_lane_and_its_window_in_chromium(
        passing_run: CliRun) -> None:
    """On each row's timeline, as Chromium builds the page: the nemesis lane holds the
    kill and the restart, and one window is shaded from the kill to the restart's end,
    across every lane."""
    need("chromium")
    doc = _open(passing_run.report_dir / "latest" / "report.html")
    assert doc.find("body").attrs["data-js-errors"] == "0"
    for row in passing_run.report()["results"]:
        article = _article(doc, row["backend"], row["scenario"])
        svg = article.find("div", "timeline-box").find("svg", "timeline")
        nemesis = svg.find("g", "nemesis")
        marks = {g.attrs["data-f"]: g.find("rect", "fault-mark")
                 for g in nemesis.iter("g", "fault")}
        assert set(marks) == {"kill", "restart"}, row["backend"]
        [window] = list(svg.iter("rect", "fault-window"))
        assert window.attrs["data-fault"] == "kill"
        x, width = float(window.attrs["x"]), float(window.attrs["width"])
        kill, restart = marks["kill"], marks["restart"]
        assert abs(x - float(kill.attrs["x"])) < 1
        assert abs(x + width - float(restart.attrs["x"]) - float(restart.attrs["width"])) < 1
        lanes = list(svg.iter("rect", "lane-bg"))
        top, bottom = float(lanes[0].attrs["y"]), float(lanes[-1].attrs["y"]) + float(
            lanes[-1].attrs["height"])
        assert float(window.attrs["y"]) == top
        assert float(window.attrs["y"]) + float(window.attrs["height"]) == bottom
        assert len(lanes) == 1 + WORKERS, "the nemesis lane and one per worker"
    assert (passing_run.report_dir / "latest" / "report.png").is_file()


# --- fails ------------------------------------------------------------------


@pytest.mark.parametrize("label", FAULTED)
def test_a_failing_fault_run_leaves_nothing_running(background: Any, label: str) -> None:
    """One of the run's own servers dies while the fault scenario runs on its private ones.

    No option overrides an expectation, and a mismatch cannot be produced
    without changing what is measured; a server that dies under the run is
    a real failure the harness must turn into an ``error`` row (its health
    check after the scenario) and exit 1, with the failure path's teardown.
    """
    run = background(*_run_args(label, "server-restart"))
    shared = _private_servers_up(run, label)[:_per_deployment(label)]
    victim = shared[-1]  # a sentinel, or the last memcached; the nemesis touches neither
    os.kill(victim.pid, signal.SIGKILL)
    code, out, err = run.finish(timeout=RUN_TIMEOUT)
    assert code == 1, out + err
    [row] = [r for r in _report(run)["results"] if r["scenario"] == "server-restart"]
    assert row["verdict"] == "error", row["evidence"]
    problems = row["evidence"]["server_problems"]
    assert any(f"pid {victim.pid} " in p["process"] for p in problems), problems
    assert run.leftovers(grace=0) == []
    assert _temp_files(run) == []


def _temp_files(run: Any) -> list[str]:
    """What the run left under its TMPDIR, but Chromium's GTK settings store.

    A complete run renders report.png; Chromium (through GTK) keeps
    ``$XDG_RUNTIME_DIR/dconf/user`` as any desktop program does, and the
    test's TMPDIR doubles as that runtime dir.
    """
    dconf = str(run.tmpdir / "dconf")
    return [f for f in run.temp_files() if f != dconf and not f.startswith(dconf + "/")]


def _report(run: Any) -> dict[str, Any]:
    return json.loads((run.report_dir / "latest" / "report.json").read_text())


# --- interrupted ------------------------------------------------------------


def _killed(run: Any, label: str) -> set[int]:
    """Wait until the nemesis has killed a private server and not yet restarted it."""
    up = {p.pid for p in _private_servers_up(run, label)}
    gone: set[int] = _wait(run, "a server killed by the nemesis",
                           lambda: up - {p.pid for p in _servers(run.tag, label)})
    return gone


def _stopped(run: Any, label: str) -> set[int]:
    """Wait until the nemesis holds a private server stopped (SIGSTOP)."""
    _private_servers_up(run, label)
    found = _wait(run, "a server stopped by the nemesis",
                  lambda: [p for p in _servers(run.tag, label) if p.state == "T"])
    assert len(found) == 1, found
    return {found[0].pid}


MOMENTS: dict[str, tuple[str, Callable[[Any, str], set[int]]]] = {
    "killed": ("server-restart", _killed),
    "stopped": ("server-pause", _stopped),
}


@pytest.mark.parametrize("label,moment", [("RedisSentinelCache", "stopped"),
                                          ("MemcachedCache:3", "killed"),
                                          ("MemcachedCache:3", "stopped")])
def test_sigint_while_the_nemesis_holds_a_server_down_leaves_nothing_running(
        background: Any, label: str, moment: str) -> None:
    scenario, held = MOMENTS[moment]
    run = background(*_run_args(label, scenario))
    held(run, label)
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish(timeout=RUN_TIMEOUT)
    assert code == 130, out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted by SIGINT" in lines[0], err
    # Without "; stopped N more": the teardown stopped every process itself,
    # the paused one included, before the ledger's last sweep found any.
    assert lines[0].endswith("every process the run started was stopped"), err
    assert run.leftovers(grace=0) == []
    assert _temp_files(run) == []


def test_the_runs_own_server_dying_is_an_error_row_not_a_config_problem(background: Any) -> None:
    """The run's shared redis-server dies between two scenarios; the next one
    starts another instance on it.  That is no bad input (exit 2 blaming
    --config): the rows on it are ``error`` and the run exits 1."""
    run = background("--backend", "RedisCache", "--workers", "2",
                     "--scenario", "cached-view", "--scenario", "multi-instance")
    run.wait_for("cached-view:")
    [server] = [p for p in _procs(run.tag) if p.binary == "redis-server"]
    os.kill(server.pid, signal.SIGKILL)
    code, out, err = run.finish(timeout=RUN_TIMEOUT)
    assert code == 1, out + err
    assert "--config" not in err, err
    rows = {r["scenario"]: r["verdict"] for r in _report(run)["results"]}
    assert rows["multi-instance"] == "error", rows
    assert run.leftovers(grace=0) == []
