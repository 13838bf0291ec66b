"""The harness watches its own servers: a verdict drawn while one died is an error."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest


def _redis_pid(run) -> int | None:
    for line in run.leftovers(grace=0):
        pid, _, cmd = line.partition(" ")
        if "redis-server" in cmd:
            return int(pid)
    return None


@pytest.mark.needs("redis")
def test_redis_killed_during_register_is_an_error_never_holds(background) -> None:
    run = background("--backend", "RedisCache", "--workers", "2",
                     "--scenario", "inc-race", "--scenario", "register")
    run.wait_for("inc-race")  # register starts now
    pid = _redis_pid(run)
    assert pid is not None, run.lines
    time.sleep(0.3)  # into the register workload; before or after, the verdict must be error
    os.kill(pid, signal.SIGKILL)
    code, out, err = run.finish(timeout=120)
    assert code == 1, out + err
    report = run.report_dir / "latest" / "report.json"
    rows = {r["scenario"]: r for r in json.loads(report.read_text())["results"]}
    register = rows["register"]
    assert register["verdict"] == "error", register["verdict"]
    [problem] = register["evidence"]["server_problems"]
    assert "redis-server" in problem["problem"] and "exited with status -9" in problem["problem"]
    assert problem["exit_status"] == -9
    assert Path(problem["log"]).is_file(), "the server's log must outlive the run"
    assert "register: error (UNEXPECTED)" in out
    assert run.leftovers() == []


def test_boot_failure_names_a_log_that_still_exists(cli) -> None:
    # The class imports (the app check accepts it); only the workers fail to build it.
    run = cli("--backend", "apps.custom_backends.RefusesToStart", "--scenario", "visibility")
    assert run.code == 2
    [line] = [x for x in run.stderr.splitlines() if x.strip()]
    assert "RefusesToStart needs a setting" in line
    m = re.search(r"full log: (\S+\.log)$", line)
    assert m, line
    log = Path(m.group(1))
    assert log.is_file() and log.is_relative_to(run.report_dir)
    assert "RefusesToStart needs a setting" in log.read_text()
