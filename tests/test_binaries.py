"""The rule every test that needs a program follows (tests/binaries.py)."""

from __future__ import annotations

import pytest
from binaries import TOOLS, missing, need

from harness.topology.kinds import KINDS


@pytest.mark.parametrize("ci", ["", "false"])
def test_a_missing_program_skips_the_test_outside_ci(monkeypatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match=r"^wrk not found \(apt-get install wrk\)$"):
        missing("wrk not found (apt-get install wrk)")


@pytest.mark.parametrize("ci", ["true", "TRUE"])
def test_a_missing_program_fails_the_test_under_ci(monkeypatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="; CI must install it$"):
        missing("memcached not found (apt-get install memcached)")


def test_every_kind_and_tool_has_its_install_hint(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", "")
    monkeypatch.setattr("harness.topology.kinds._find", lambda binary, wheel: None)
    for program in (*KINDS, *TOOLS):
        with pytest.raises(pytest.skip.Exception, match=r" not found \(apt-get install \S+"):
            need(program)
