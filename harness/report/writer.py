"""Write a run's report directory and point ``latest`` at it.

Layout: ``<report-dir>/<UTC timestamp>/report.json`` and ``report.md``,
plus ``histories/*.jsonl`` (one operation per line, named by each result's
``history`` field), with ``<report-dir>/latest`` a symlink to the newest run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..expectations import load as load_expectations
from ..verdict import Result
from .matrix import matrix_rows

SCHEMA = "coherence-report/1"


def to_json(results: Sequence[Result], *, created: datetime,
            environment: dict[str, Any], run: dict[str, Any],
            history_paths: Sequence[str | None] = ()) -> dict[str, Any]:
    rows = []
    for n, r in enumerate(results):
        row = r.to_json()
        row["history"] = history_paths[n] if n < len(history_paths) else None
        rows.append(row)
    return {
        "schema": SCHEMA,
        "created": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "environment": environment,
        "run": run,
        "results": rows,
    }


def write_histories(results: Sequence[Result], target: Path) -> list[str | None]:
    """Write each result's history as ``histories/NNN-<scenario>.jsonl``.

    Returns the paths relative to ``target``, one per result (None when a
    result carries no history), for report.json to point at.
    """
    paths: list[str | None] = []
    for n, r in enumerate(results):
        if r.history is None:
            paths.append(None)
            continue
        rel = f"histories/{n:03d}-{_slug(r.backend)}-{r.worker_class}-{_slug(r.scenario)}.jsonl"
        path = target / rel
        path.parent.mkdir(exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for op in r.history:
                fh.write(json.dumps(op.to_json(), default=str) + "\n")
        paths.append(rel)
    return paths


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text.rsplit(".", 1)[-1])


def to_markdown(results: Sequence[Result], *, created: datetime,
                environment: dict[str, Any]) -> str:
    header, body = matrix_rows(results)
    catalog = load_expectations()
    out = [
        "# Cache coherence report",
        "",
        f"Created {created.strftime('%Y-%m-%d %H:%M:%S')} UTC.  "
        + ", ".join(f"{k} {v}" for k, v in environment.items() if v and k != "platform"),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in body),
        "",
    ]
    unexpected = [r for r in results if r.ok is False]
    if unexpected:
        out += ["## Unexpected results", ""]
        for r in unexpected:
            out.append(f"- **{r.backend}** {r.worker_class}x{r.workers} `{r.scenario}`: "
                       f"got `{r.verdict}`, expected `{r.expected}`. "
                       f"Evidence: `{json.dumps(r.evidence, default=str)[:600]}`")
        out.append("")
    reasons = [
        e for e in (catalog.expected(r.backend, r.scenario) for r in results) if e is not None
    ]
    if reasons:
        out += ["## Why these are the expected verdicts", "",
                "| backend | scenario | expected | reason | upstream |",
                "|---|---|---|---|---|"]
        for e in dict.fromkeys(reasons):
            out.append(f"| {e.backend} | {e.scenario} | {e.verdict} | {e.reason} | `{e.ref}` |")
        out.append("")
    return "\n".join(out)


def write_run(results: Sequence[Result], report_dir: Path, *,
              environment: dict[str, Any], run: dict[str, Any]) -> Path:
    """Write report.json and report.md into a new timestamped directory."""
    created = datetime.now(UTC)
    stamp = created.strftime("%Y%m%dT%H%M%S%fZ")
    target = report_dir / stamp
    target.mkdir(parents=True, exist_ok=False)
    history_paths = write_histories(results, target)
    data = to_json(results, created=created, environment=environment, run=run,
                   history_paths=history_paths)
    (target / "report.json").write_text(json.dumps(data, indent=2, default=str) + "\n", "utf-8")
    (target / "report.md").write_text(
        to_markdown(results, created=created, environment=environment), "utf-8")
    latest = report_dir / "latest"
    tmp = report_dir / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    # Relative link, swapped in atomically, so a reader never sees it missing.
    tmp.symlink_to(stamp, target_is_directory=True)
    os.replace(tmp, latest)
    return target
