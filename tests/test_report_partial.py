"""A report says when its run was partial, and keeps the reasons it was judged by."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from harness.report import render
from harness.report.writer import to_json
from harness.verdict import Result


def _write(tmp_path: Path, **kwargs: object) -> Path:
    result = Result(backend="SimpleCache", worker_class="sync", workers=2, preload=False,
                    scenario="visibility", verdict="per-worker", expected="per-worker",
                    evidence={})
    data = to_json([result], created=datetime(2026, 1, 1, tzinfo=UTC), environment={},
                   run={}, **kwargs)  # type: ignore[arg-type]
    (tmp_path / "report.json").write_text(json.dumps(data))
    return tmp_path


def test_partial_run_is_flagged_at_the_top_of_md_and_html(tmp_path: Path) -> None:
    run = _write(tmp_path, complete=False, partial_reason="interrupted by SIGTERM; 1 of 9 ran")
    assert json.loads((run / "report.json").read_text())["complete"] is False
    rendered = render(run, png=False)
    md = rendered.markdown.read_text()
    assert md.splitlines()[2].startswith("> **PARTIAL RUN: interrupted by SIGTERM; 1 of 9 ran")
    html = rendered.html.read_text()
    assert 'id="partial"' in html and "interrupted by SIGTERM" in html
    assert html.index('id="partial"') < html.index('id="overview"')


def test_complete_run_has_no_partial_banner(tmp_path: Path) -> None:
    rendered = render(_write(tmp_path), png=False)
    assert "PARTIAL" not in rendered.markdown.read_text()
    assert 'id="partial"' not in rendered.html.read_text()


def test_old_run_keeps_its_own_reasons(tmp_path: Path) -> None:
    """Re-rendering shows the reason stored at run time, not today's expectations file."""
    run = _write(tmp_path)
    data = json.loads((run / "report.json").read_text())
    assert data["results"][0]["expected_reason"], "the run stores its reason"
    data["results"][0]["expected_reason"] = "the reason as it stood then"
    data["results"][0]["expected_ref"] = "cachelib/simple.py:1"
    (run / "report.json").write_text(json.dumps(data))
    rendered = render(run, png=False)
    assert "the reason as it stood then" in rendered.markdown.read_text()
    assert "the reason as it stood then" in rendered.html.read_text()
