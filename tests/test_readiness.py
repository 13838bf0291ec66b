"""A server kind that does not come up: everything it started stops, and one line says why.

The servers are real redis-servers behind a short shell wrapper that breaks
one role: either the replicas exit as they start, or they never follow
their master (``--replicaof`` is dropped), so the Sentinel group can never
become ready and a short readiness timeout (``COHERENCE_READY_TIMEOUT``,
the pool's ``ready_timeout``) ends the wait in about a second.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.errors import BootError
from harness.topology import boots, kinds
from harness.topology.kinds import find_binary
from harness.topology.pool import TopologyPool
from harness.topology.servers import READY_TIMEOUT_ENV, Deployment, Launcher

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.needs("redis")

#: Shell bodies run in front of the real redis-server ("$REAL"), one per way to fail.
BROKEN = {
    "replica exits at once": (
        'for a in "$@"; do\n'
        '  if [ "$a" = --replicaof ]; then echo "broken replica: exiting" >&2; exit 3; fi\n'
        'done\n'
        'exec "$REAL" "$@"\n'),
    "replica never follows its master": (
        # Drop --replicaof and its two arguments: a replica that is a master of its own.
        'skip=0\n'
        'for a in "$@"; do\n'
        '  shift\n'
        '  if [ $skip -gt 0 ]; then skip=$((skip - 1)); continue; fi\n'
        '  if [ "$a" = --replicaof ]; then skip=2; continue; fi\n'
        '  set -- "$@" "$a"\n'
        'done\n'
        'exec "$REAL" "$@"\n'),
}
#: What the one line says for each way: the step that failed.
SAYS = {"replica exits at once": "exited with status 3 as it started",
        "replica never follows its master": "did not become ready within 1s: no link to the master"}
#: The readiness timeout these tests ask for, in seconds.
SHORT = "1"


def _broken_bin(where: Path, case: str) -> Path:
    """A directory whose ``redis-server`` is the real one behind the ``case`` wrapper."""
    real = find_binary("redis")
    assert real is not None
    bin_dir = where / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "redis-server"
    script.write_text(f"#!/bin/sh\nREAL={real}\n{BROKEN[case]}")
    script.chmod(0o755)
    return bin_dir


def _env(bin_dir: Path) -> dict[str, str]:
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", READY_TIMEOUT_ENV: SHORT}


def _the_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def _check_line(line: str, case: str) -> None:
    """The line names the process (kind, role, address), what went wrong, and a log that exists."""
    found = re.search(r"(?:full log:|see) (\S+)$", line)
    assert found, line
    _check_message(line, Path(found.group(1)), case)


def _check_message(message: str, log: Path, case: str) -> None:
    assert re.search(r"redis-sentinel replica on 127\.0\.0\.1:\d+ ", message), message
    assert SAYS[case] in message, message
    assert log.is_file(), f"the log the message names is gone: {log}"
    if case == "replica exits at once":
        assert "broken replica: exiting" in log.read_text()
    else:
        # The replica's own redis log: it ran, as a master, and never synced.
        assert "Ready to accept connections" in log.read_text()


@pytest.mark.parametrize("case", BROKEN)
def test_cli_says_which_process_did_not_come_up_in_one_line_exit_2(cli, tmp_path: Path,
                                                                   case: str) -> None:
    run = cli("--backend", "RedisSentinelCache", "--scenario", "visibility", "--workers", "2",
              env=_env(_broken_bin(tmp_path, case)))
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    line = _the_line(run.stderr)
    assert line.startswith("coherence: error: "), line
    _check_line(line, case)
    assert run.leftovers == []


@pytest.mark.parametrize("value", ["soon", "0", "1e9"])
def test_a_bad_readiness_timeout_is_one_line_exit_2(cli, value: str) -> None:
    run = cli("--backend", "RedisSentinelCache", "--scenario", "visibility",
              env={READY_TIMEOUT_ENV: value})
    assert run.code == 2, (run.code, run.stdout, run.stderr)
    line = _the_line(run.stderr)
    assert line.startswith(f"coherence: error: {READY_TIMEOUT_ENV}={value!r}: "), line
    assert f"e.g. {READY_TIMEOUT_ENV}=60" in line
    assert "running" not in run.stdout, "refused only after the session had started"
    assert run.leftovers == []


def test_pytest_reports_the_same_line_without_a_traceback(tmp_path: Path, tagged: Any) -> None:
    case = "replica never follows its master"
    tag = os.urandom(8).hex()
    env = {**os.environ, **_env(_broken_bin(tmp_path, case)), "COHERENCE_TEST_TAG": tag}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("COHERENCE_RUN", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios/test_visibility.py", "-q", "-x",
         "-o", f"cache_dir={tmp_path / 'cache'}", "--coherence-backend", "RedisSentinelCache",
         "--coherence-workers", "2", "--coherence-report-dir", str(tmp_path / "r")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout + proc.stderr
    # The error section's line; pytest's short summary repeats it after
    # "ERROR <node id> - " (in full under CI=true, cut to the terminal's width elsewhere).
    lines = [line for line in proc.stdout.splitlines()
             if "redis-sentinel replica on" in line and not line.startswith("ERROR ")]
    assert len(lines) == 1, proc.stdout
    _check_line(lines[0], case)
    assert "Traceback" not in proc.stdout and "harness/topology" not in proc.stdout, proc.stdout
    assert tagged(tag) == []


@pytest.fixture
def pool(xprocess: Any, tmp_path: Path) -> Iterator[TopologyPool]:
    p = TopologyPool(xprocess=xprocess, app="apps.demo:app", app_root=ROOT,
                     log_dir=tmp_path / "logs", ready_timeout=float(SHORT))
    try:
        yield p
    finally:
        p.close()


def _children() -> set[int]:
    return {c.pid for c in psutil.Process().children(recursive=True)
            if c.status() != psutil.STATUS_ZOMBIE}


@pytest.mark.parametrize("case", BROKEN)
def test_pool_stops_every_node_before_the_error_leaves(pool: TopologyPool, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       case: str) -> None:
    """Checked while this process lives, so no parent-death signal can have done the stopping."""
    monkeypatch.setenv("PATH", _env(_broken_bin(tmp_path, case))["PATH"])
    # The binary lookup is cached per process: read this test's PATH afresh,
    # and forget the wrapper again afterwards.
    kinds._find.cache_clear()
    before = _children()
    try:
        with pytest.raises(BootError) as raised:
            pool.server("redis-sentinel", 2)
    finally:
        kinds._find.cache_clear()
    assert _children() - before == set(), "a node of the failed deployment is still running"
    assert raised.value.log is not None
    _check_message(str(raised.value), raised.value.log, case)


def test_a_node_that_never_accepts_is_stopped_when_the_wait_ends(
        xprocess: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A start timeout leaves the node running under xprocess; the launcher must stop it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "redis-server"
    # The replicas listen on no TCP port (a later --port wins) but on a unix
    # socket, without which redis would exit: alive, and never reachable.
    script.write_text(f"#!/bin/sh\nREAL={find_binary('redis')}\n"
                      'for a in "$@"; do [ "$a" = --replicaof ] && exec "$REAL" "$@" --port 0 '
                      f'--unixsocket {bin_dir}/r-$$.sock; done\n'
                      'exec "$REAL" "$@"\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    kinds._find.cache_clear()
    before = _children()
    try:
        with ExitStack() as stack:
            launcher = Launcher(xprocess=xprocess, root=tmp_path / "servers", stack=stack,
                                prefix="never-accepts", start_timeout=1.0)
            with pytest.raises(BootError) as raised:
                Deployment.start("redis-sentinel", 2, launcher)
            [master] = launcher.nodes
            # Only the master, which the stack still owns, is left running.
            assert _children() - before == {master.pid}
        assert _children() - before == set()
    finally:
        kinds._find.cache_clear()
    message = str(raised.value)
    assert re.search(r"^redis-sentinel replica on 127\.0\.0\.1:\d+ did not accept connections "
                     r"within 1s; see \S+$", message), message


def test_a_boot_past_its_window_is_an_error_row_naming_the_load_and_the_run_goes_on(
        cli) -> None:
    """A readiness timeout is the machine, not the input: every row of that
    instance is ``error`` with the window and the load, the next backend still
    runs, and the run exits 1 (2 is for bad input)."""
    run = cli("--backend", "SimpleCache", "--backend", "NullCache", "--scenario", "visibility",
              "--jobs", "1", env={READY_TIMEOUT_ENV: "0.05"})
    assert run.code == 1, (run.code, run.stdout, run.stderr)
    assert "coherence: error" not in run.stderr, run.stderr
    rows = run.report()["results"]
    assert {r["backend"] for r in rows} == {"SimpleCache", "NullCache"}
    for row in rows:
        assert row["verdict"] == "error" and row["ok"] is False, row
        evidence = row["evidence"]
        assert evidence["window_s"] == 0.05 and evidence["gunicorns_booting"] >= 1, evidence
        assert isinstance(evidence["load_average"], float), evidence
        assert "did not answer within 0.05 s (load average " in evidence["boot_error"]
        assert "gunicorn booting" in evidence["boot_error"], evidence
    lines = [line for line in run.stdout.splitlines() if " visibility: " in line]
    assert len(lines) == 2 and all("error (UNEXPECTED): gunicorn workers" in line
                                   for line in lines), run.stdout
    assert run.leftovers == []


def test_the_boot_window_grows_with_the_boots_at_once_and_the_load() -> None:
    idle = boots.Pressure(load=0.0, booting=1, cpu_s=0.4)
    assert boots.window(idle) == pytest.approx(
        boots.BASE_WINDOW + boots.SLOWER_MACHINE * 0.4 / boots.cpus())
    crowded = boots.Pressure(load=0.0, booting=8, cpu_s=8 * 0.9)
    loaded = boots.Pressure(load=4.0 * boots.cpus(), booting=8, cpu_s=8 * 0.9)
    assert boots.window(idle) < boots.window(crowded) < boots.window(loaded)
    assert boots.window(loaded) == pytest.approx(
        boots.BASE_WINDOW + boots.SLOWER_MACHINE * 7.2 / boots.cpus() * 4.0)
    assert boots.window(loaded, override=3.0) == 3.0
    huge = boots.Pressure(load=1000.0, booting=100, cpu_s=1000.0)
    assert boots.window(huge) == boots.MAX_READY_TIMEOUT


def test_no_more_gunicorns_boot_at_once_than_there_are_slots(monkeypatch, tmp_path) -> None:
    """Slots are flock'd files: one more boot than slots waits until one is freed,
    and then reads the others' CPU cost into its window."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setattr(boots, "slots", lambda: 2)
    got: list[float] = []
    with ExitStack() as held:
        first = held.enter_context(boots.slot(4, "gevent"))
        held.enter_context(boots.slot(4, "sync"))
        assert first.pressure().booting == 2
        assert first.pressure().cpu_s == pytest.approx(boots.cost(4, "gevent")
                                                       + boots.cost(4, "sync"))

        def third() -> None:
            with boots.slot(2, "sync"):
                got.append(time.monotonic())

        thread = threading.Thread(target=third)
        thread.start()
        time.sleep(0.5)
        assert got == [], "a third boot started while both slots were held"
        freed = time.monotonic()
    thread.join(timeout=5)
    assert got and got[0] >= freed
    assert all(p.stat().st_size == 0 for p in (tmp_path / "flask-cache-coherence"
                                                / "boot-slots").iterdir())


def test_a_boot_slot_held_by_a_killed_run_is_free_at_once(monkeypatch, tmp_path) -> None:
    """The kernel drops a flock when its holder dies: a SIGKILLed run blocks no later boot."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setattr(boots, "slots", lambda: 1)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from harness.topology import boots\n"
         "boots.slots = lambda: 1\n"
         "with boots.slot(4, 'sync'):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)},
        start_new_session=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        holder.kill()
        holder.wait(timeout=10)
        started = time.monotonic()
        with boots.slot(4, "sync") as boot:
            assert time.monotonic() - started < 1.0
            assert boot.pressure().booting == 1
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
