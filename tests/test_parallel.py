"""``--jobs``: backends side by side give the same verdicts, stop on a signal, and
report through the same hooks as a sequential run."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from harness import schedule
from harness.history.faults import Fault
from harness.history.ops import History, Meta, Op
from harness.observe import Step
from harness.verdict import Result

#: The issue's promise for a parallel run: a stop signal ends it within this many seconds.
STOP_WITHIN = 10.0


@pytest.mark.parametrize("args,needle", [
    (["--jobs", "0"], "--jobs 0 must be from 1 to"),
    (["--jobs", "1000"], "--jobs 1000 must be from 1 to"),
    (["--jobs", "2", "--port", "18123"], "pass --jobs 1 with --port"),
    (["--jobs", "2", "--scenario", "load"], "needs the machine to itself"),
])
def test_bad_jobs_is_one_line_and_exit_2(cli, args, needle) -> None:
    run = cli("--backend", "SimpleCache", *args, timeout=30)
    assert run.code == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], run.stderr
    assert run.leftovers == []


def test_side_by_side_gives_the_sequential_verdicts(cli) -> None:
    args = ["--backend", "SimpleCache", "--backend", "RedisCache", "--workers", "2",
            "--scenario", "visibility", "--scenario", "delete", "--scenario", "add-race"]
    parallel = cli(*args, "--jobs", "2")
    sequential = cli(*args, "--jobs", "1")
    assert parallel.code == 0 and sequential.code == 0, parallel.stdout + sequential.stdout
    assert "2 side by side" in parallel.stdout
    assert "side by side" not in sequential.stdout
    assert parallel.verdicts() == sequential.verdicts()
    assert len(parallel.verdicts()) == 2 * 5  # visibility adds the two session checks
    # Rows keep the order of --backend, whichever group finished first.
    assert [r["backend"] for r in parallel.report()["results"]][0] == "SimpleCache"
    assert parallel.leftovers == [] and sequential.leftovers == []


@pytest.mark.parametrize("to_group", [False, True], ids=["controller", "terminal"])
def test_sigint_during_a_parallel_run_stops_everything(background, to_group) -> None:
    """To the controller alone (its workers get it forwarded) or, as a terminal's
    Ctrl-C does, to the whole foreground process group (controller and workers)."""
    run = background("--backend", "RedisCache", "--backend", "MemcachedCache",
                     "--backend", "FileSystemCache", "--workers", "2", "--jobs", "3")
    run.wait_for("[2/")
    assert any("redis-server" in p for p in run.leftovers(grace=0)), run.lines
    started = time.monotonic()
    if to_group:
        os.killpg(run.proc.pid, signal.SIGINT)
    else:
        run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert time.monotonic() - started < STOP_WITHIN
    assert code == 130, err
    assert "Traceback" not in err
    assert run.leftovers() == []
    assert run.temp_files() == [], "temp dirs, sockets or ledger files survived"
    [report] = list(run.report_dir.glob("*/report.json"))
    assert json.loads(report.read_text())["complete"] is False


def test_results_travel_in_a_report_with_their_history() -> None:
    history = History()
    history.add(Op(process=1, pid=42, f="set", key="k", args={"value": "v"}, meta=Meta(),
                   type="ok", value=True, error=None, answered=True, start=1.0, end=1.5))
    history.fault(Fault(f="kill", target="redis master :6379", start=1.2, end=1.3, pid=7))
    result = Result(backend="RedisCache", worker_class="sync", workers=4, preload=False,
                    scenario="visibility", verdict="shared", expected="shared",
                    evidence={"reads": 3, "keys": ("a", "b")},
                    topology=[{"kind": "redis", "role": "master", "port": 6379, "pid": 7}],
                    history=history)
    report = pytest.TestReport(nodeid="x", location=("x", 0, "x"), keywords={},
                               outcome="passed", longrepr=None, when="call")
    schedule.attach(report, [result])
    [back] = schedule.results_of(report)
    assert back.to_json() == json.loads(json.dumps(result.to_json(), default=list))
    assert back.history is not None
    assert [x.to_json() for x in back.history.records()] == \
        [x.to_json() for x in history.records()]


def test_a_plugin_hears_the_run_through_the_hook(cli, tmp_path: Path) -> None:
    """What bench/ relies on: PYTEST_PLUGINS reaches every process of a parallel run."""
    (tmp_path / "listener.py").write_text(
        "import json, os\n"
        "def pytest_coherence_event(event):\n"
        "    with open(os.path.join(os.environ['EVENTS'], f'{os.getpid()}.jsonl'), 'a') as f:\n"
        "        f.write(json.dumps(event) + '\\n')\n")
    events = tmp_path / "events"
    events.mkdir()
    run = cli("--backend", "SimpleCache", "--backend", "NullCache", "--workers", "2",
              "--scenario", "visibility", "--scenario", "delete", "--scenario", "preload",
              "--jobs", "2",
              env={"PYTEST_PLUGINS": "listener", "EVENTS": str(events),
                   "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])})
    assert run.code == 0, run.stdout + run.stderr
    events_of = {path.name: [json.loads(x) for x in path.read_text().splitlines()]
                 for path in events.iterdir()}
    seen = {name: {e["event"] for e in found} for name, found in events_of.items()}
    # A backend's tests stay in one process, so its gunicorns all start there.
    backends = [{e["backend"] for e in found if e["event"] == Step.TOPOLOGY}
                for found in events_of.values()]
    assert sorted(map(sorted, filter(None, backends))) == [["NullCache"], ["SimpleCache"]]
    # Two workers ran a backend each (boots, requests, checkers); the
    # controller wrote the report.
    runners = [names for names in seen.values() if {Step.BOOT, Step.REQUEST, Step.CHECKER} <= names]
    assert len(runners) == 2, seen
    assert any("report" in names for names in seen.values()), seen
