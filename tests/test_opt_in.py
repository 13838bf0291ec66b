"""Opt-in scenarios: ``default = false`` in the expectations file keeps a
scenario out of a run that names none, and ``--scenario`` runs it."""

from __future__ import annotations

import pytest

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
    with pytest.raises(ValueError, match="default = false"):
        parse(bad)


def test_profiles_table_marks_opt_in_rows() -> None:
    table = profiles_markdown(parse(DATA))
    assert "| `slow` (opt-in) | violated |" in table
    assert "| `quick` | holds |" in table


def test_every_packaged_scenario_has_a_boolean_default() -> None:
    assert all(isinstance(s.default, bool) for s in load().scenarios.values())
