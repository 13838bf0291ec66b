"""report.md: a sentence per backend, the matrix, what was unexpected, the reasons, the processes.

Markdown is what CI pastes into a job summary, so it stays short; the
evidence in full and the timelines are in report.html.
"""

from __future__ import annotations

import json

from . import cost
from .matrix import matrix_rows
from .model import PROCESS_COLUMNS, RunReport, process_rows
from .summary import text as summary_text


def _cell(text: str) -> str:
    """A table cell's text: a ``|`` (in a socket path, say) would end the cell."""
    return text.replace("|", "\\|")


def _app_environment(report: RunReport) -> list[str]:
    """The interpreter the app was served with, and its stack, when the report has it."""
    app = report.app_environment
    if not app:
        return []
    where = "--python" if app.get("given") else "the harness's own interpreter"
    versions = ", ".join(f"{k} {v}" for k, v in app.items()
                         if v and k not in ("executable", "given", "python", "prefix",
                                            "implementation"))
    return [f"App environment ({where}): `{app.get('executable')}`, Python "
            f"{app.get('python')}; {versions or 'no packages found'}.", ""]


def render_markdown(report: RunReport) -> str:
    results = report.results
    header, body = matrix_rows(results)
    environment = report.environment
    out = ["# Cache coherence report", ""]
    if not report.complete:
        out += [f"> **PARTIAL RUN: {report.partial_reason}.** Only the checks that finished "
                "are below; the others have no verdict, so this is not a pass.", ""]
    out += [
        f"Created {report.created.strftime('%Y-%m-%d %H:%M:%S')} UTC.  The harness: "
        + ", ".join(f"{k} {v}" for k, v in environment.items() if v and k != "platform"),
        "",
        *_app_environment(report),
        "## What this run found",
        "",
        summary_text(results),
        "",
        "## Verdicts",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in body),
        "",
    ]
    out += cost.markdown(results, report.run.get("load_duration_s"))
    unexpected = [r for r in results if r.ok is False]
    if unexpected:
        out += ["## Unexpected results", ""]
        for r in unexpected:
            out.append(f"- **{r.backend}** {r.worker_class}x{r.workers} `{r.scenario}`: "
                       f"got `{r.verdict}`, expected `{r.expected}`. "
                       f"Evidence: `{json.dumps(r.evidence, default=str)[:600]}`")
        out.append("")
    reasons = [e for e in (report.expectation(n) for n in range(len(results))) if e is not None]
    if reasons:
        out += ["## Why these are the expected verdicts", "",
                "| backend | scenario | expected | reason | upstream |",
                "|---|---|---|---|---|"]
        for e in dict.fromkeys(reasons):
            out.append(f"| {e.backend} | {e.scenario} | {e.verdict} | {e.reason} | `{e.ref}` |")
        out.append("")
    ran_on = [(r, rows) for r in results if (rows := process_rows(r.topology))]
    if ran_on:
        out += ["## Processes each result ran on", ""]
        for r, rows in ran_on:
            out += [f"**{r.backend}** {r.worker_class}x{r.workers} `{r.scenario}`", "",
                    "| " + " | ".join(PROCESS_COLUMNS) + " |",
                    "|" + "|".join("---" for _ in PROCESS_COLUMNS) + "|",
                    *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows), ""]
    return "\n".join(out)
