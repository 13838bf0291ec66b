"""The expectations file: documented behaviour per backend and scenario.

Expectations are data, not code, so that the scenarios (which assert them)
and the reports (which print them) cannot disagree.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from .errors import DefinitionError, UsageError, shorten
from .topology.gunicorn import WORKER_CLASSES
from .verdict import ANY_OF, Conclusion

#: The expectations file, as messages name it.
FILE = "harness/expectations.toml"
#: The parts of the report's cost section a scenario may feed (``cost = ...``):
#: ``load`` gives a row its figures, ``stampede`` the counts beside them.
COST_PARTS = ("load", "stampede")


@dataclass(frozen=True, kw_only=True)
class Expectation:
    """The verdict a backend should get in a scenario, and why.

    ``verdict`` may name several, joined by :data:`~harness.verdict.ANY_OF`
    (written as a list in the file), any one of which is expected.
    ``worker_class`` is set on an entry for one worker class only
    (``[expect.<Backend>.<scenario>.<worker class>]``), which overrides the
    backend's entry for rows of that class.
    """

    backend: str
    scenario: str
    verdict: str
    reason: str
    ref: str
    worker_class: str | None = None


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A scenario's stable id, its one-line summary and its verdict vocabulary.

    ``default`` is False for an opt-in scenario (``default = false`` in its
    ``[scenarios.<id>]`` table): one too slow, or too heavy on the machine,
    for the quick default run, which runs only when ``--scenario`` names it.
    ``quiet`` (``quiet = true``): its verdict rests on a time measured against
    a baseline of the same run, so it needs the machine to itself (see
    :mod:`harness.schedule`).  ``cost``: the part of the report's cost section
    it feeds (one of :data:`COST_PARTS`), or None.
    """

    id: str
    summary: str
    verdicts: tuple[str, ...]
    default: bool = True
    quiet: bool = False
    cost: str | None = None


@dataclass(frozen=True, kw_only=True)
class Catalog:
    scenarios: dict[str, Scenario]
    expectations: dict[tuple[str, str], Expectation]
    #: Entries for one worker class, by (backend, scenario, worker class).
    by_worker_class: dict[tuple[str, str, str], Expectation] = field(default_factory=dict)

    def expected(self, backend: str, scenario: str,
                 worker_class: str | None = None) -> Expectation | None:
        """The expectation for a row name (``MemcachedCache:3``), else for its backend.

        A sized row may carry its own entry where the size changes the
        behaviour; otherwise it inherits its backend's.  With ``worker_class``,
        an entry for that class comes first, found the same way.
        """
        names = (backend, backend.partition(":")[0]) if ":" in backend else (backend,)
        if worker_class is not None:
            for name in names:
                if (found := self.by_worker_class.get((name, scenario, worker_class))):
                    return found
        for name in names:
            if (found := self.expectations.get((name, scenario))) is not None:
                return found
        return None

    @property
    def opt_in(self) -> tuple[str, ...]:
        """The scenarios a run without ``--scenario`` leaves out."""
        return tuple(sid for sid, s in self.scenarios.items() if not s.default)

    @property
    def quiet(self) -> frozenset[str]:
        """The scenarios that need the machine to themselves."""
        return frozenset(sid for sid, s in self.scenarios.items() if s.quiet)

    def feeding(self, part: str) -> tuple[str, ...]:
        """The scenarios that feed ``part`` of the cost section, in file order."""
        return tuple(sid for sid, s in self.scenarios.items() if s.cost == part)

    def selected(self, ids: Sequence[str]) -> frozenset[str]:
        """The scenario ids a run runs: those named with ``--scenario``, else every default one."""
        if ids:
            return frozenset(ids)
        return frozenset(sid for sid, s in self.scenarios.items() if s.default)

    def check_scenarios(self, ids: list[str]) -> None:
        for sid in ids:
            if sid not in self.scenarios:
                raise UsageError(
                    f"unknown scenario {shorten(sid)}: choose from {', '.join(self.scenarios)} "
                    "(see 'coherence list')"
                )


def profiles_markdown(catalog: Catalog) -> str:
    """The README's "backend profiles" table: expected verdicts, scenario x backend.

    Scenarios are the rows: there are many more of them than backends.
    """
    backends = list(dict.fromkeys(b for b, _ in catalog.expectations))
    lines = ["| scenario | " + " | ".join(backends) + " |",
             "|---|" + "---|" * len(backends)]
    for s in catalog.scenarios:
        cells = [e.verdict if (e := catalog.expected(b, s)) else "-" for b in backends]
        opt_in = "" if catalog.scenarios[s].default else " (opt-in)"
        lines.append(f"| `{s}`{opt_in} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _scenario(sid: str, s: dict[str, Any]) -> Scenario:
    """One ``[scenarios.<id>]`` table, refused with the fix when a value is wrong."""
    default = s.get("default", True)
    if not isinstance(default, bool):
        raise DefinitionError(f"scenario {sid!r} has default = {default!r}; write "
                         "default = false (opt-in) or leave it out")
    quiet = s.get("quiet", False)
    if not isinstance(quiet, bool):
        raise DefinitionError(f"scenario {sid!r} has quiet = {quiet!r}; write quiet = true "
                         "(it needs the machine to itself) or leave it out")
    cost = s.get("cost")
    if cost is not None and cost not in COST_PARTS:
        raise DefinitionError(f"scenario {sid!r} has cost = {cost!r}; write one of "
                         f"{', '.join(repr(p) for p in COST_PARTS)} or leave it out")
    known = {c.value for c in Conclusion}
    for verdict in s["verdicts"]:
        if verdict not in known:
            raise DefinitionError(f"scenario {sid!r} lists verdict {verdict!r}, which no checker "
                             f"returns; use one of {', '.join(Conclusion)} "
                             "(harness.verdict.Conclusion)")
    return Scenario(id=sid, summary=s["summary"], verdicts=tuple(s["verdicts"]),
                    default=default, quiet=quiet, cost=cost)


def _expectation(backend: str, sid: str, e: dict[str, Any], scenario: Scenario,
                 worker_class: str | None = None) -> Expectation:
    """One ``[expect.<Backend>.<scenario>]`` table (or its worker class's), checked."""
    where = f"[expect.{backend}.{sid}{'.' + worker_class if worker_class else ''}]"
    verdicts = e.get("verdict")
    listed = [str(v) for v in (verdicts if isinstance(verdicts, list) else [verdicts])]
    for v in listed:
        if v not in scenario.verdicts:
            raise DefinitionError(
                f"expectation {where} has verdict {v!r}, not one of {scenario.verdicts}; "
                f"correct it, or add it to the verdicts of [scenarios.{sid}]")
    if not listed or len(set(listed)) != len(listed):
        raise DefinitionError(f"expectation {where} lists verdicts {listed!r}; name one, or "
                              "several different ones, any of which is expected")
    return Expectation(backend=backend, scenario=sid, verdict=ANY_OF.join(listed),
                       reason=e["reason"], ref=e["ref"], worker_class=worker_class)


def parse(data: dict[str, Any]) -> Catalog:
    scenarios = {sid: _scenario(sid, s) for sid, s in data.get("scenarios", {}).items()}
    expectations: dict[tuple[str, str], Expectation] = {}
    by_class: dict[tuple[str, str, str], Expectation] = {}
    for backend, per_scenario in data.get("expect", {}).items():
        for sid, e in per_scenario.items():
            if sid not in scenarios:
                raise DefinitionError(
                    f"{FILE}: [expect.{backend}.{sid}] names scenario {sid!r}, which has no "
                    f"[scenarios.{sid}] table; add one (summary, verdicts) or correct the name")
            expectations[(backend, sid)] = _expectation(backend, sid, e, scenarios[sid])
            for wc, sub in e.items():
                if not isinstance(sub, dict):
                    continue
                if wc not in WORKER_CLASSES:
                    raise DefinitionError(
                        f"{FILE}: [expect.{backend}.{sid}.{wc}] names no worker class; use "
                        f"one of {', '.join(WORKER_CLASSES)}")
                by_class[(backend, sid, wc)] = _expectation(backend, sid, sub, scenarios[sid], wc)
    return Catalog(scenarios=scenarios, expectations=expectations, by_worker_class=by_class)


@cache
def load() -> Catalog:
    """The packaged expectations file, parsed and validated once."""
    text = resources.files("harness").joinpath("expectations.toml").read_text("utf-8")
    return parse(tomllib.loads(text))
