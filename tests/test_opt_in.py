"""Opt-in scenarios: ``default = false`` in the expectations file keeps a
scenario out of a run that names none, and ``--scenario`` runs it."""

from __future__ import annotations

import pytest

from harness.errors import DefinitionError
from harness.expectations import load, parse, profiles_markdown

DATA = {
    "scenarios": {
        "quick": {"summary": "q", "verdicts": ["holds", "violated"]},
        "slow": {"summary": "s", "verdicts": ["holds", "violated"], "default": False},
    },
    "expect": {"SimpleCache": {
        "quick": {"verdict": "holds", "reason": "r", "ref": "x.py:1"},
        "slow": {"verdict": "violated", "reason": "r", "ref": "x.py:2"}}},
}


def test_default_run_leaves_opt_in_scenarios_out() -> None:
    catalog = parse(DATA)
    assert catalog.opt_in == ("slow",)
    assert catalog.selected(()) == {"quick"}


def test_naming_a_scenario_runs_it_whatever_its_default() -> None:
    catalog = parse(DATA)
    assert catalog.selected(["slow"]) == {"slow"}
    assert catalog.selected(["quick", "slow"]) == {"quick", "slow"}


def test_default_must_be_a_boolean() -> None:
    bad = {"scenarios": {"slow": {"summary": "s", "verdicts": ["holds"], "default": "no"}}}
    with pytest.raises(DefinitionError, match="default = false"):
        parse(bad)


def test_profiles_table_marks_opt_in_rows() -> None:
    table = profiles_markdown(parse(DATA))
    assert "| `slow` (opt-in) | violated |" in table
    assert "| `quick` | holds |" in table


def test_every_packaged_scenario_has_a_boolean_default() -> None:
    assert all(isinstance(s.default, bool) for s in load().scenarios.values())


# --- the packaged opt-in scenarios, as a run selects them ---------------------------

def _collected(tmp_path, *args: str) -> str:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "COHERENCE_RUN")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", "--collect-only", "-q", "-p", "no:randomly",
         "--coherence-backend", "SimpleCache", "--coherence-report-dir", str(tmp_path / "r"),
         "-o", f"cache_dir={tmp_path / 'c'}", *args],
        capture_output=True, text=True, cwd=root, env=env, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_a_run_without_scenario_leaves_load_and_stampede_out(tmp_path) -> None:
    out = _collected(tmp_path)
    assert "test_visibility.py::test_visibility" in out
    assert "test_load.py" not in out and "test_stampede.py" not in out
    assert "deselected" in out


def test_naming_an_opt_in_scenario_runs_it(tmp_path) -> None:
    out = _collected(tmp_path, "--coherence-scenario", "load",
                     "--coherence-scenario", "stampede-cached")
    assert "test_load.py::test_load[SimpleCache-syncx4]" in out
    assert "test_stampede.py::test_stampede[SimpleCache-syncx4]" in out
    assert "test_visibility.py" not in out


def test_list_marks_opt_in_scenarios() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "harness", "list"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    [line] = [x for x in out.splitlines() if x.startswith("  load:")]
    assert line.endswith("[opt-in: runs only with --scenario load]")
    [summary] = [x for x in out.splitlines() if "leaves out the opt-in ones:" in x]
    assert all(sid in summary for sid in ("load", "stampede", "server-restart", "failover"))


# --- scenario properties: quiet, cost, and the verdict vocabulary -------------------

def test_a_misspelled_verdict_fails_at_load_naming_the_scenario_and_the_fix() -> None:
    bad = {"scenarios": {"slow": {"summary": "s", "verdicts": ["holds", "violatd"]}}}
    with pytest.raises(DefinitionError) as info:
        parse(bad)
    message = str(info.value)
    assert "scenario 'slow' lists verdict 'violatd'" in message
    assert "use one of shared, stable, holds" in message
    assert "harness.verdict.Conclusion" in message


def test_every_packaged_verdict_list_names_conclusions() -> None:
    from harness.verdict import Conclusion

    for s in load().scenarios.values():
        assert s.verdicts and all(v in set(Conclusion) for v in s.verdicts), s.id


def test_quiet_and_cost_are_read_from_the_scenario_tables() -> None:
    data = {"scenarios": {
        "quick": {"summary": "q", "verdicts": ["holds"]},
        "timed": {"summary": "t", "verdicts": ["holds"], "quiet": True, "cost": "load"},
        "race": {"summary": "r", "verdicts": ["holds"], "cost": "stampede"}}}
    catalog = parse(data)
    assert catalog.quiet == {"timed"}
    assert catalog.feeding("load") == ("timed",)
    assert catalog.feeding("stampede") == ("race",)
    assert not catalog.scenarios["quick"].quiet and catalog.scenarios["quick"].cost is None


@pytest.mark.parametrize(("key", "value", "fix"), [
    ("quiet", "yes", "write quiet = true"),
    ("cost", "loads", "write one of 'load', 'stampede'"),
])
def test_a_bad_property_names_the_scenario_and_the_fix(key: str, value: str, fix: str) -> None:
    bad = {"scenarios": {"slow": {"summary": "s", "verdicts": ["holds"], key: value}}}
    with pytest.raises(DefinitionError, match=f"scenario 'slow' has {key} = {value!r}; {fix}"):
        parse(bad)


def test_the_timed_scenarios_are_quiet_and_feed_the_cost_section() -> None:
    from harness import schedule
    from harness.report import cost
    from harness.workloads import stampede

    catalog = load()
    assert catalog.quiet == {"load", "stampede", "stampede-cached", "stampede-memoize"}
    assert cost.load_ids() == ("load",)
    # The stampede workload's routes are the scenarios the cost section counts.
    assert cost.stampede_ids() == tuple(stampede.ROUTES)
    assert schedule.default_jobs(5, ("stampede-cached",)) == 1
    assert schedule.default_jobs(5, ("visibility",), cpus=2) == 5


def test_an_expectation_for_a_scenario_without_its_table_names_the_table_to_add() -> None:
    bad = {"scenarios": {}, "expect": {"RedisCache": {"worker-pause": {
        "verdict": "holds", "reason": "r", "ref": "x"}}}}
    with pytest.raises(DefinitionError, match=r"\[expect\.RedisCache\.worker-pause\] names "
                       r"scenario 'worker-pause', which has no \[scenarios\.worker-pause\] "
                       r"table; add one"):
        parse(bad)


# --- expectations for one worker class, and any of several verdicts ----------------

def _by_class(**sub: object) -> dict:
    return {"scenarios": {"pause": {"summary": "p", "verdicts": ["holds", "stale", "silent"]}},
            "expect": {"MemcachedCache": {"pause": {
                "verdict": "holds", "reason": "r", "ref": "x.py:1", **sub}}}}


def test_a_worker_class_entry_overrides_the_backend_s_for_its_rows_and_sized_rows() -> None:
    from harness.verdict import Result

    catalog = parse(_by_class(gevent={"verdict": ["stale", "silent"], "reason": "g",
                                      "ref": "y.py:2"}))
    assert catalog.expected("MemcachedCache", "pause").verdict == "holds"
    assert catalog.expected("MemcachedCache", "pause", "sync").verdict == "holds"
    found = catalog.expected("MemcachedCache:3", "pause", "gevent")
    assert found is not None and found.verdict == "stale|silent"
    assert found.worker_class == "gevent" and found.ref == "y.py:2"

    def ok(verdict: str) -> bool | None:
        return Result(backend="MemcachedCache", worker_class="gevent", workers=4,
                      preload=False, scenario="pause", verdict=verdict,
                      expected=found.verdict).ok

    assert ok("stale") and ok("silent") and ok("holds") is False and ok("unknown") is False


def test_a_bad_worker_class_entry_fails_at_load_naming_it_and_the_fix() -> None:
    with pytest.raises(DefinitionError, match=r"\[expect.MemcachedCache.pause.geventt\] names "
                                              "no worker class; use one of sync, gthread, gevent"):
        parse(_by_class(geventt={"verdict": "holds", "reason": "r", "ref": "x"}))
    with pytest.raises(DefinitionError, match=r"\[expect.MemcachedCache.pause.gthread\] has "
                                              "verdict 'lost'"):
        parse(_by_class(gthread={"verdict": ["stale", "lost"], "reason": "r", "ref": "x"}))
    with pytest.raises(DefinitionError, match="name one, or several different ones"):
        parse(_by_class(gthread={"verdict": ["stale", "stale"], "reason": "r", "ref": "x"}))
