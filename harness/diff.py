"""Compare two runs' verdicts: what changed when a dependency was bumped.

``coherence diff OLD NEW`` reads two ``report.json`` files (or run
directories), pairs their rows by backend, worker class, workers, preload
and scenario, and lists every row whose verdict changed or that only one run
has, beside each run's versions from its ``environment`` block.  It exits 1
when any verdict got *worse* (:func:`worse`), so CI can fail the bump that
broke coherence rather than merely print a different table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .environment import version_keys
from .report.model import RunReport, load
from .topology.appenv import REPORT_KEYS
from .verdict import INCONCLUSIVE, Result

#: A row's identity across runs.
RowKey = tuple[str, str, int, bool, str]

#: The environment entries a verdict depends on, in the order they are shown.
VERSION_KEYS = version_keys()
#: The app's environment (``--python``) entries, shown as ``app <key>`` after them.
APP_VERSION_KEYS = ("python", *REPORT_KEYS.values(), "memcached_client")


def key_of(r: Result) -> RowKey:
    return (r.backend, r.worker_class, r.workers, r.preload, r.scenario)


def label(key: RowKey) -> str:
    backend, wc, workers, preload, scenario = key
    return f"{backend} {wc}x{workers}{'+preload' if preload else ''} {scenario}"


def worse(old: Result, new: Result) -> bool:
    """Whether ``new`` is a regression of ``old``.

    It is when the new verdict is ``error`` or ``unknown`` and the old one
    was not (nothing can be said any more), or when the old row matched its
    expectation and the new one does not (the verdict moved away from what
    the backend is documented to do).  A change between two conclusive
    verdicts of a row with no expectation (a custom backend) is listed but
    not worse: there is nothing documented to call it worse against.
    """
    if new.verdict in INCONCLUSIVE and old.verdict not in INCONCLUSIVE:
        return True
    return old.ok is True and new.ok is False


def better(old: Result, new: Result) -> bool:
    """The mirror of :func:`worse`: the new row is conclusive, or newly as expected."""
    return worse(new, old)


@dataclass(frozen=True, kw_only=True)
class Change:
    key: RowKey
    old: Result | None
    new: Result | None

    @property
    def kind(self) -> str:
        if self.old is None:
            return "only in NEW"
        if self.new is None:
            return "only in OLD"
        if worse(self.old, self.new):
            return "WORSE"
        if better(self.old, self.new):
            return "better"
        return "changed"


@dataclass(frozen=True, kw_only=True)
class Diff:
    old: RunReport
    new: RunReport
    compared: int
    changes: list[Change]
    #: How the two runs were named on the command line.
    labels: tuple[str, str] = ("OLD", "NEW")

    @property
    def worse(self) -> list[Change]:
        return [c for c in self.changes if c.kind == "WORSE"]


def compare(old: RunReport, new: RunReport, *,
            labels: tuple[str, str] = ("OLD", "NEW")) -> Diff:
    """Pair the two runs' rows and keep those that changed or are on one side only."""
    before = {key_of(r): r for r in old.results}
    after = {key_of(r): r for r in new.results}
    changes = []
    for key in [*before, *(k for k in after if k not in before)]:
        o, n = before.get(key), after.get(key)
        if o is not None and n is not None and o.verdict == n.verdict and o.ok == n.ok:
            continue
        changes.append(Change(key=key, old=o, new=n))
    return Diff(old=old, new=new, compared=len(before.keys() & after.keys()), changes=changes,
                labels=labels)


def _cell(r: Result | None) -> str:
    if r is None:
        return "-"
    judged = {True: "ok", False: "UNEXPECTED", None: "no expectation"}[r.ok]
    return f"{r.verdict} ({judged})"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]


def render(diff: Diff) -> str:
    """The diff as plain text: versions, changed rows, rows on one side, a summary line."""
    lines = [f"OLD {diff.labels[0]}", f"NEW {diff.labels[1]}", ""]
    env_rows: list[tuple[str, ...]] = [("version", "OLD", "NEW", "")]
    for k in VERSION_KEYS:
        o, n = diff.old.environment.get(k), diff.new.environment.get(k)
        env_rows.append((k, str(o or "-"), str(n or "-"), "changed" if o != n else ""))
    if diff.old.app_environment or diff.new.app_environment:
        for k in APP_VERSION_KEYS:
            o, n = diff.old.app_environment.get(k), diff.new.app_environment.get(k)
            env_rows.append((f"app {k}", str(o or "-"), str(n or "-"),
                             "changed" if o != n else ""))
    lines += _table(env_rows)
    for side, run in (("OLD", diff.old), ("NEW", diff.new)):
        if run.partial_reason is not None:
            lines.append(f"{side} is a partial run: {run.partial_reason}")
    lines.append("")
    if diff.changes:
        rows: list[tuple[str, ...]] = [("row", "OLD", "NEW", "")]
        rows += [(label(c.key), _cell(c.old), _cell(c.new), c.kind) for c in diff.changes]
        lines += _table(rows)
    else:
        lines.append("no verdict changed")
    one_side = sum(1 for c in diff.changes if c.old is None or c.new is None)
    changed = len(diff.changes) - one_side
    lines.append("")
    lines.append(f"{diff.compared} rows in both, {changed} changed, {len(diff.worse)} worse, "
                 f"{one_side} in one run only")
    return "\n".join(lines)


def run(old: Path, new: Path) -> tuple[str, int]:
    """Text and exit status of ``coherence diff OLD NEW``: 1 when any row got worse."""
    diff = compare(load(old), load(new), labels=(str(old), str(new)))
    return render(diff), 1 if diff.worse else 0
