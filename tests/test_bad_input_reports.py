"""Bad reports given to ``coherence report`` and ``coherence diff``: one line naming the
first bad field, exit 2, quickly, with no file read from outside the run directory and
nothing left behind (no process, no ledger file, no temp dir)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from binaries import need
from clirun import ROOT, CliRun, processes_tagged
from test_bad_input import FAST, _assert_clean_error

from harness import diff
from harness.errors import UsageError
from harness.report import SCHEMA, chromium, load, render

#: What one history line of a good report looks like.
OP = {"process": 0, "pid": 11, "f": "get", "key": "k", "args": {}, "type": "ok",
      "value": None, "error": None, "start": 100.0, "end": 100.001}


def _good() -> dict[str, Any]:
    """report.json as ``coherence run`` writes it, with one result and its history."""
    return {
        "schema": SCHEMA, "created": "2026-01-02T03:04:05Z", "complete": True,
        "environment": {"python": "3.11.7", "flask_caching": "2.5.1", "cachelib": "0.17.0"},
        "run": {"workers": 2, "worker_classes": ["sync"], "preload": False, "settle_s": 1.0,
                "app": "apps.features:app"},
        "results": [{
            "backend": "SimpleCache", "worker_class": "sync", "workers": 2, "preload": False,
            "scenario": "visibility", "verdict": "per-worker", "expected": "per-worker",
            "evidence": {"pids": [11, 12], "matrix": [["Y", "-"], ["-", "Y"]]},
            "topology": [{"kind": "gunicorn", "role": "master", "port": 8000, "pid": 10}],
            "ok": True, "history": "histories/000.jsonl",
            "expected_reason": "each worker has its own memory", "expected_ref": "docs"}],
    }


def _write(directory: Path, data: Any = None, *, raw: bytes | None = None,
           history: str = json.dumps(OP) + "\n") -> Path:
    """A run directory holding ``data`` as report.json (or ``raw`` bytes) and one history."""
    (directory / "histories").mkdir(parents=True)
    (directory / "histories" / "000.jsonl").write_text(history)
    body = raw if raw is not None else json.dumps(_good() if data is None else data).encode()
    (directory / "report.json").write_bytes(body)
    return directory


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """The good report with the field at ``path`` set to ``value``."""
    data = _good()
    where: Any = data
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value
    return data


def _coherence(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> CliRun:
    """``python -m harness ARGS`` with a TMPDIR and runtime directory of its own.

    Everything the command leaves there is then visible to :func:`_left_files`.
    """
    tag = uuid.uuid4().hex
    tmpdir, runtime = tmp_path / "tmp", tmp_path / "runtime"
    for d in (tmpdir, runtime):
        d.mkdir(mode=0o700, exist_ok=True)
    full_env = {**os.environ, "TMPDIR": str(tmpdir), "XDG_RUNTIME_DIR": str(runtime),
                **(env or {}), "COHERENCE_TEST_TAG": tag}
    full_env.pop("PYTEST_ADDOPTS", None)
    full_env.pop("COHERENCE_RUN", None)
    proc = subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=full_env)
    return CliRun(proc.returncode, proc.stdout, proc.stderr, tmp_path, processes_tagged(tag))


def _left_files(tmp_path: Path) -> list[str]:
    """What the command left in its TMPDIR and runtime directory: the ledger
    directory itself outlives every run by design, but not a file in it."""
    keep = tmp_path / "runtime" / "flask-cache-coherence"
    return sorted(str(p) for d in ("tmp", "runtime") for p in (tmp_path / d).rglob("*")
                  if p != keep)


def _refused(tmp_path: Path, args: list[str], needles: list[str],
             env: dict[str, str] | None = None) -> str:
    """Run the command; assert one line with every needle, exit 2, fast, nothing left."""
    started = time.monotonic()
    run = _coherence(tmp_path, *args, env=env)
    _assert_clean_error(run, needles, started)
    assert time.monotonic() - started < FAST + 1.5, "interpreter start-up plus the check"
    assert "Traceback" not in run.stderr
    assert _left_files(tmp_path) == []
    return run.stderr.strip()


# --- the shape of report.json (items 8 and 9) ----------------------------------------

#: A field set to a value of the wrong type, and what the line must say about it.
BAD_SHAPES = {
    "environment is a list": (("environment",), [1, 2],
                              ["'environment' must be an object", "not a list"]),
    "run is a string": (("run",), "x", ["'run' must be an object", "not a string ('x')"]),
    "workers is a list": (("results", 0, "workers"), [2],
                          ["results[0]['workers'] must be a whole number", "not a list"]),
    "history is an int": (("results", 0, "history"), 5,
                          ["results[0]['history'] must be a string or null",
                           "not a whole number (5)"]),
    "workers is true": (("results", 0, "workers"), True,
                        ["results[0]['workers'] must be a whole number", "not true:"]),
    "preload is a string": (("results", 0, "preload"), "no",
                            ["results[0]['preload'] must be true or false"]),
    "verdict is null": (("results", 0, "verdict"), None,
                        ["results[0]['verdict'] must be a string", "not null:"]),
    "topology is an object": (("results", 0, "topology"), {},
                              ["results[0]['topology'] must be a list"]),
    "a row is a string": (("results", 0), "row", ["results[0] must be an object"]),
    "results is an object": (("results",), {}, ["'results' must be a list"]),
    "created is a number": (("created",), 5, ["'created' must be a string"]),
    "created is not a time": (("created",), "yesterday",
                              ["'created' must be an ISO 8601 time", "'yesterday'"]),
    "complete is a string": (("complete",), "yes", ["'complete' must be true or false"]),
}


@pytest.mark.parametrize("case", BAD_SHAPES)
@pytest.mark.parametrize("command", ["report", "diff OLD", "diff NEW"])
def test_a_report_of_the_wrong_shape_is_one_line_naming_the_field(
        tmp_path: Path, command: str, case: str) -> None:
    """Items 8 and 9: either command, and either side of a diff, names the first bad field."""
    path, value, needles = BAD_SHAPES[case]
    bad = _write(tmp_path / "bad", _with(path, value))
    if command == "report":
        args = ["report", str(bad)]
    else:
        good = _write(tmp_path / "good")
        args = ["diff", str(bad), str(good)] if command == "diff OLD" else \
            ["diff", str(good), str(bad)]
    _refused(tmp_path, args, [str(bad / "report.json"), *needles, "coherence run"])
    assert not (bad / "report.html").exists(), "refused before anything was written"


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    data = _good()
    del data["results"][0]["scenario"]
    bad = _write(tmp_path / "bad", data)
    _refused(tmp_path, ["report", str(bad)], ["results[0] has no 'scenario'", "coherence run"])


def test_every_wrong_type_is_a_usage_error_never_a_crash(tmp_path: Path) -> None:
    """Any field of the good report given any JSON value: load, render and diff either
    work or raise UsageError; nothing else escapes to become a traceback."""
    good = _write(tmp_path / "good")
    values: list[Any] = [None, True, 0, -1, 10**30, 1.5, "", "<b>x</b>", [], [None], {},
                         {"a": [1]}]

    def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        keys = node.items() if isinstance(node, dict) else \
            enumerate(node) if isinstance(node, list) else []
        return [p for k, v in keys for p in [(*prefix, k), *paths(v, (*prefix, k))]]

    tried = 0
    for path in paths(_good()):
        for value in values:
            case = tmp_path / f"case-{tried}"
            _write(case, _with(path, value))
            tried += 1
            try:
                render(case, png=False)
                diff.run(good, case)
                diff.run(case, good)
            except UsageError:
                pass
    assert tried > 300


# --- what a report.json holds (item 17) ---------------------------------------------

def test_a_report_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    """Item 17: not a permissions problem, so the line must not say it is."""
    bad = _write(tmp_path / "bad", raw=b'{"schema": "coherence-report/1", "x": "\xff\xfe"}')
    line = _refused(tmp_path, ["report", str(bad)],
                    ["is not UTF-8 text", "byte 0xff at offset", "coherence run"])
    assert "permission" not in line


def test_a_report_nested_too_deeply_is_refused(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad", raw=b"[" * 100_000)
    _refused(tmp_path, ["diff", str(bad), str(bad)], ["nested too deeply", "coherence run"])


@pytest.mark.parametrize(("raw", "needle"), [(b"null", "holds null, not a report's object"),
                                              (b"[]", "holds a list, not a report's object"),
                                              (b'{"schema": 1}', "has schema 1, not")])
def test_a_report_that_is_not_a_report_object_is_refused(tmp_path: Path, raw: bytes,
                                                         needle: str) -> None:
    bad = _write(tmp_path / "bad", raw=raw)
    _refused(tmp_path, ["report", str(bad)], [needle, "coherence run"])


def test_a_huge_value_is_shortened_in_the_line(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad", _with(("results", 0, "history"), "../" + "x" * 100_000))
    line = _refused(tmp_path, ["report", str(bad)], ["'../xxx", "...", "leads outside"])
    assert len(line) < 600


def test_a_fifo_named_as_the_report_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    _refused(tmp_path, ["report", str(fifo)], ["is not a regular file", "reports/latest"])


# --- paths in a report stay inside its run directory (item 21) ------------------------

#: One history line from outside the run directory: its key must never reach a page.
SECRET = "secret-from-outside-the-run"


@pytest.mark.parametrize("case", ["absolute", "dotdot", "symlinked file",
                                  "symlinked directory", "the run directory itself"])
def test_a_history_path_that_leaves_the_run_directory_is_refused(
        tmp_path: Path, case: str) -> None:
    """Item 21: the outside file is a valid history, so only the path check stops it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "h.jsonl").write_text(json.dumps({**OP, "key": SECRET}) + "\n")
    run_dir = tmp_path / "reports" / "run"
    rel = {"absolute": str(outside / "h.jsonl"), "dotdot": "../../outside/h.jsonl",
           "symlinked file": "histories/link.jsonl", "symlinked directory": "out/h.jsonl",
           "the run directory itself": "."}[case]
    _write(run_dir, _with(("results", 0, "history"), rel))
    (run_dir / "histories" / "link.jsonl").symlink_to(outside / "h.jsonl")
    (run_dir / "out").symlink_to(outside)
    _refused(tmp_path, ["report", str(run_dir)],
             [f"results[0]['history'] {rel!r} leads outside the run directory",
              "coherence run"])
    assert not (run_dir / "report.html").exists()
    with pytest.raises(UsageError, match="leads outside the run directory"):
        load(run_dir)


def test_a_history_path_inside_the_run_directory_is_still_read(tmp_path: Path) -> None:
    """A symlink that stays inside, and a path with a '..' that comes back, are fine."""
    run_dir = _write(tmp_path / "run", _with(("results", 0, "history"),
                                             "histories/../histories/link.jsonl"))
    (run_dir / "histories" / "link.jsonl").symlink_to(run_dir / "histories" / "000.jsonl")
    assert load(run_dir).history(0) == [OP]


def test_a_fifo_as_a_history_is_not_read(tmp_path: Path) -> None:
    """Reading it would block for ever; the page is written without that timeline."""
    run_dir = _write(tmp_path / "run")
    (run_dir / "histories" / "000.jsonl").unlink()
    os.mkfifo(run_dir / "histories" / "000.jsonl")
    run = _coherence(tmp_path, "report", str(run_dir))
    assert run.code == 0, run.stderr
    assert "histories/000.jsonl is missing or unreadable" in (run_dir / "report.html").read_text()


def test_a_symlink_put_in_after_loading_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text(json.dumps({**OP, "key": SECRET}) + "\n")
    run_dir = _write(tmp_path / "run")
    report = load(run_dir)
    (run_dir / "histories" / "000.jsonl").unlink()
    (run_dir / "histories" / "000.jsonl").symlink_to(outside)
    assert report.history(0) is None


@pytest.mark.parametrize("line", [
    b"5", b"[1, 2]", json.dumps({**OP, "pid": [1]}).encode(),
    json.dumps({**OP, "start": math.inf}).encode(), b'{"start": 1e999}', b"\xff",
], ids=["a number", "a list", "an unhashable pid", "an infinite time", "1e999", "not utf-8"])
def test_a_history_line_that_cannot_be_drawn_leaves_its_timeline_out(
        tmp_path: Path, line: bytes) -> None:
    """The page is still written, saying the history is unreadable."""
    run_dir = _write(tmp_path / "run")
    (run_dir / "histories" / "000.jsonl").write_bytes(json.dumps(OP).encode() + b"\n" + line)
    page = render(run_dir, png=False).html.read_text()
    assert "histories/000.jsonl is missing or unreadable" in page


# --- TMPDIR (item 18) -------------------------------------------------------------------

@pytest.mark.parametrize("case", ["missing", "a file", "read-only"])
def test_an_unusable_tmpdir_is_refused_before_anything_is_written(
        tmp_path: Path, case: str) -> None:
    """Item 18: Chromium would fail there with only its zygote's "Broken pipe"."""
    need("chromium")
    if case == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes into a read-only directory: nothing to refuse")
    run_dir = _write(tmp_path / "run")
    bad = tmp_path / "badtmp"
    why = {"missing": "does not exist", "a file": "is not a directory",
           "read-only": "is not writable"}[case]
    if case == "a file":
        bad.write_text("")
    elif case == "read-only":
        bad.mkdir(mode=0o500)
    _refused(tmp_path, ["report", str(run_dir)],
             [f"TMPDIR {str(bad)!r} {why}", "report.png", "point TMPDIR at a writable directory"],
             env={"TMPDIR": str(bad)})
    assert not (run_dir / "report.md").exists(), "checked before anything was written"


def test_a_run_names_an_unusable_tmpdir_as_why_report_png_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need("chromium")
    run_dir = _write(tmp_path / "run")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "nowhere"))
    rendered = render(run_dir)
    assert rendered.png is None and rendered.png_problem is not None
    assert "TMPDIR" in rendered.png_problem and "does not exist" in rendered.png_problem


# --- a good report still renders, and leaves nothing (item 22) ----------------------------

def test_a_good_report_renders_and_leaves_no_ledger_file(tmp_path: Path) -> None:
    """Item 22: Chromium was registered in a ledger file that outlived the command."""
    run_dir = _write(tmp_path / "run")
    run = _coherence(tmp_path, "report", str(run_dir))
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    for name in ("report.md", "report.html"):
        assert f"report: {run_dir / name}" in run.stdout
    if chromium.find() is not None:
        assert (run_dir / "report.png").stat().st_size > 0
    assert run.leftovers == []
    assert _left_files(tmp_path) == [], "no ledger file, no profile, no dconf"


def test_a_tmpdir_too_long_for_chromiums_sockets_still_gets_report_png(tmp_path: Path) -> None:
    """Chromium makes a socket under its TMPDIR and aborts when the path is too long for
    one; it gets a short private one, which goes with its profile."""
    need("chromium")
    run_dir = _write(tmp_path / "run")
    deep = tmp_path / "tmp" / ("d" * 80)
    deep.mkdir(parents=True)
    run = _coherence(tmp_path, "report", str(run_dir), env={"TMPDIR": str(deep)})
    assert run.code == 0 and run.stderr == "", run.stderr
    assert (run_dir / "report.png").stat().st_size > 0
    assert _left_files(tmp_path) == [str(deep)], "nothing left inside it"


def test_sigterm_while_chromium_runs_is_143_and_leaves_nothing(tmp_path: Path) -> None:
    """The report command stops its browser and removes its profile and ledger file."""
    need("chromium")
    run_dir = _write(tmp_path / "run")
    tag = uuid.uuid4().hex
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"),
           "XDG_RUNTIME_DIR": str(tmp_path / "runtime"), "COHERENCE_TEST_TAG": tag}
    env.pop("COHERENCE_RUN", None)
    for d in ("tmp", "runtime"):
        (tmp_path / d).mkdir(mode=0o700)
    proc = subprocess.Popen([sys.executable, "-m", "harness", "report", str(run_dir)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 30
    while not any(Path(f"{p} ?".split()[1]).name in chromium.NAMES
                  for p in processes_tagged(tag)):
        assert proc.poll() is None and time.monotonic() < deadline, "chromium never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, (proc.returncode, out, err)
    assert err.strip() == "coherence: interrupted by SIGTERM"
    assert not (run_dir / "report.png").exists()
    deadline = time.monotonic() + 3
    while processes_tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_tagged(tag) == []
    assert _left_files(tmp_path) == []


def test_a_good_diff_still_compares(tmp_path: Path) -> None:
    old = _write(tmp_path / "old")
    new = _write(tmp_path / "new", _with(("results", 0, "verdict"), "error"))
    run = _coherence(tmp_path, "diff", str(old), str(new))
    assert run.code == 1, run.stderr
    assert "per-worker (ok)  error (UNEXPECTED)  WORSE" in run.stdout
    assert _left_files(tmp_path) == []


# --- sweep 3: report files are written inside the run directory (#162) -------------------

def test_a_symlinked_report_file_is_replaced_not_written_through(tmp_path: Path) -> None:
    run_dir = _write(tmp_path / "run")
    outside = {name: tmp_path / f"outside-{name}" for name in ("report.md", "report.html")}
    for name, target in outside.items():
        target.write_text("keep me")
        (run_dir / name).symlink_to(target)
    run = _coherence(tmp_path, "report", str(run_dir))
    assert run.code == 0, run.stderr
    for name, target in outside.items():
        assert target.read_text() == "keep me", f"{name} was written through its symlink"
        assert not (run_dir / name).is_symlink() and (run_dir / name).stat().st_size > 0
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/zero"])
def test_a_run_directorys_report_json_that_is_not_a_file_says_so(tmp_path: Path,
                                                                  kind: str) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    if kind == "fifo":
        os.mkfifo(run_dir / "report.json")
    else:
        (run_dir / "report.json").symlink_to("/dev/zero")
    line = _refused(tmp_path, ["report", str(run_dir)],
                    [f"{str(run_dir / 'report.json')!r} is not a regular file",
                     "reports/latest"])
    assert "has no report.json" not in line


# --- sweep 3: a verdict is one a checker can give (#164) ---------------------------------

@pytest.mark.parametrize("field", ["verdict", "expected"])
def test_a_verdict_that_no_checker_gives_is_refused(tmp_path: Path, field: str) -> None:
    bad = _write(tmp_path / "bad", _with(("results", 0, field), "v" * 1_000_000))
    line = _refused(tmp_path, ["report", str(bad)],
                    [f"results[0][{field!r}] must be one of shared, ", "'vvvv", "..."])
    assert len(line) < 800


def test_every_conclusion_and_a_null_expected_pass_the_schema(tmp_path: Path) -> None:
    from harness.verdict import Conclusion

    data = _good()
    data["results"] = [{**data["results"][0], "verdict": c.value, "expected": None}
                       for c in Conclusion]
    assert len(load(_write(tmp_path / "run", data)).results) == len(Conclusion)
