"""What a run found, in one sentence per backend: the top of every report.

A team checking its app reads this first, so it leads with what differs
from the documentation (the unexpected results), then with what the backend
is proven not to do (its findings: per-worker, violated, stale, lost...),
and folds everything that held as documented into a count.  report.html,
report.md and the terminal summary all print these sentences, so the three
never disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..expectations import load as load_expectations
from ..verdict import INCONCLUSIVE, Conclusion, Result
from .matrix import matrix_grid

#: What a result is for the reader, most urgent first; cards are shown in this order.
CATEGORIES = ("unexpected", "finding", "documented")
CATEGORY_TITLES = {"unexpected": "Unexpected",
                   "finding": "Findings: documented, and proven here, not to hold",
                   "documented": "Everything else, as documented"}
#: Verdicts that say the property held, or the write travelled to every worker.
GOOD = (Conclusion.SHARED, Conclusion.STABLE, Conclusion.HOLDS)

#: The headline of a backend, from its first sharing scenario's verdict.
_SHARING = {
    Conclusion.SHARED: "is shared across workers",
    Conclusion.EVENTUAL: "is shared across workers, but a write reaches the others late",
    Conclusion.PER_INSTANCE: "is shared within one gunicorn instance only",
    Conclusion.PER_WORKER: "is per-worker, each worker seeing only its own writes",
    Conclusion.PARTIAL: "is shared by some workers only",
    Conclusion.NONE: "stores nothing",
}


def category(r: Result) -> str:
    """``unexpected`` (not as documented, or inconclusive), ``finding`` or ``documented``.

    A finding is a verdict other than shared, stable or holds that is as
    documented (or has no documentation): something the backend is proven
    not to do, which a team must know although nothing went wrong.
    """
    if r.ok is False:
        return "unexpected"
    if r.verdict in GOOD or r.verdict in INCONCLUSIVE:
        return "documented"
    return "finding"


@dataclass(frozen=True, kw_only=True)
class Item:
    """One result named in a sentence, with the index the reports link it by."""

    scenario: str
    verdict: str
    expected: str | None
    index: int


#: How many of the app's unshared targets a sentence names; more are counted by
#: verdict, and the card lists them all.
SHOWN_TARGETS = 3


@dataclass(frozen=True, kw_only=True)
class AppTargets:
    """The app's own targets a scenario found not shared (``app-views``)."""

    item: Item
    #: (target name, verdict) of each target whose verdict is not a good one.
    bad: tuple[tuple[str, str], ...]
    total: int

    def clause(self) -> str:
        if not self.bad:
            return f"all {self.total} of the app's own targets in {self.item.scenario} shared"
        head = f"{len(self.bad)} of the app's {self.total} own targets in {self.item.scenario} "
        if len(self.bad) <= SHOWN_TARGETS:
            return head + "not shared: " + ", ".join(f"{name} {verdict}"
                                                     for name, verdict in self.bad)
        counts = Counter(verdict for _, verdict in self.bad)
        return head + "not shared (" + ", ".join(f"{v} {n}" for v, n in counts.items()) + ")"


@dataclass(frozen=True, kw_only=True)
class BackendSummary:
    """One backend's (one matrix column's) sentence, in parts a report can link."""

    label: str
    #: ``is shared across workers`` and the like; None without a sharing scenario.
    headline: str | None
    #: The result the headline comes from.
    headline_item: Item | None
    unexpected: tuple[Item, ...]
    #: (verdict, results) for each finding verdict, in the matrix's order.
    findings: tuple[tuple[str, tuple[Item, ...]], ...]
    #: Results with the headline's verdict, besides the headline's own.
    like_headline: int
    #: Results as documented that are neither findings nor unexpected.
    documented: int
    #: Scenarios that judge the app's own code target by target (their
    #: evidence lists ``targets``) with no documented verdict (a foreign
    #: app's) or not as documented: the targets not shared, of how many.
    app_targets: tuple[AppTargets, ...] = ()

    @property
    def has_findings(self) -> bool:
        """Whether it has a finding, its headline (``is per-worker``) included."""
        head = self.headline_item
        return bool(self.findings) or (head is not None and head.verdict not in GOOD)

    def parts(self) -> list[str]:
        """The sentence's clauses, as plain text."""
        out = []
        if self.headline is not None:
            more = f" (and so in {self.like_headline} more checks)" if self.like_headline else ""
            out.append(f"{self.label} {self.headline}{more}")
        else:
            out.append(self.label)
        if self.unexpected:
            out.append(f"{len(self.unexpected)} UNEXPECTED: " + ", ".join(
                f"{i.scenario} {i.verdict}" + (f" (expected {i.expected})" if i.expected else "")
                for i in self.unexpected))
        for verdict, items in self.findings:
            out.append(f"{verdict} in " + ", ".join(i.scenario for i in items))
        if self.documented:
            out.append(f"the other {self.documented} as documented")
        out.extend(t.clause() for t in self.app_targets)
        return out

    def sentence(self) -> str:
        return "; ".join(self.parts()) + "."


def summarize(results: Sequence[Result]) -> list[BackendSummary]:
    """One summary per matrix column, those with unexpected results first, then with findings."""
    scenarios, grid = matrix_grid(results)
    catalog = load_expectations()
    out = []
    for label, cols in grid:
        indices = [cols[s] for s in scenarios if s in cols]
        # A scenario judging the app's own code is not the backend's headline.
        head = next((n for n in indices if not _targets(results[n])
                     and (sc := catalog.scenarios.get(results[n].scenario)) is not None
                     and Conclusion.SHARED in sc.verdicts
                     and results[n].verdict in _SHARING), None)
        headline_item = None if head is None else _item(results[head], head)
        unexpected, documented, like = [], 0, 0
        findings: dict[str, list[Item]] = {}
        for n in indices:
            r = results[n]
            kind = category(r)
            if kind == "unexpected":
                unexpected.append(_item(r, n))
            elif n == head:
                continue
            elif kind == "finding" and headline_item is not None \
                    and r.verdict == headline_item.verdict:
                like += 1
            elif kind == "finding":
                findings.setdefault(r.verdict, []).append(_item(r, n))
            else:
                documented += 1
        headline = None if head is None else _SHARING[Conclusion(results[head].verdict)]
        out.append(BackendSummary(
            label=label, headline=headline, headline_item=headline_item,
            unexpected=tuple(unexpected),
            findings=tuple((v, tuple(items)) for v, items in findings.items()),
            like_headline=like, documented=documented,
            # Named for the app's own code (no documented verdict), or when not as
            # documented; a documented row's targets are on its card.
            app_targets=tuple(_app_targets(results[n], n) for n in indices
                              if _targets(results[n]) and (results[n].expected is None
                                                           or results[n].ok is False))))
    return sorted(out, key=lambda s: (not s.unexpected, not s.has_findings))


def _targets(r: Result) -> list[dict[str, Any]]:
    targets = r.evidence.get("targets") if isinstance(r.evidence, dict) else None
    return [t for t in targets if isinstance(t, dict)] if isinstance(targets, list) else []


def _app_targets(r: Result, n: int) -> AppTargets:
    targets = _targets(r)
    bad = tuple((str(t.get("name")), str(t.get("verdict"))) for t in targets
                if t.get("verdict") not in GOOD)
    return AppTargets(item=_item(r, n), bad=bad, total=len(targets))


def _item(r: Result, n: int) -> Item:
    return Item(scenario=r.scenario, verdict=r.verdict, expected=r.expected, index=n)


def card_order(results: Sequence[Result]) -> list[int]:
    """Result indices for the cards: unexpected first, then findings, then the rest."""
    return sorted(range(len(results)), key=lambda n: CATEGORIES.index(category(results[n])))


def text(results: Sequence[Result]) -> str:
    """The summary for a terminal or Markdown: one ``- sentence`` line per backend."""
    return "\n".join(f"- {s.sentence()}" for s in summarize(results))
