"""Where the app is imported from, and what tree a second instance of it starts from.

``coherence run --app 'pkg:create_app()'`` from a project's root finds the
package there, with no PYTHONPATH, as ``gunicorn 'pkg:create_app()'`` does;
``--chdir DIR`` is gunicorn's ``--chdir``.  Every extra instance that stands
for another deployment starts from a copy of the project tree, without
version control, virtualenvs, caches or the run's reports; one that cannot
boot there is an ``error`` row, and the run goes on.  Fixture projects are
in ``tests/apptree`` (its README says what each is).
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
from clirun import run_cli

from harness.errors import HarnessError
from harness.topology import tree
from harness.topology.tree import PROJECT_ROOT, app_root, copy_project, project_tree, search_path

FIXTURES = Path(__file__).resolve().parent / "apptree"
#: No PYTHONPATH at all: the project's root must be found as gunicorn finds it.
NO_PATH = {"PYTHONPATH": ""}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """``tests/apptree/project`` as a checkout holds it: with .git, a venv and caches."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURES / "project", root)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "venv" / "lib").mkdir(parents=True)
    (root / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (root / "node_modules" / "left-pad").mkdir(parents=True)
    (root / "treeapp" / "__pycache__").mkdir()
    (root / "treeapp" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    return root


def test_a_project_run_from_its_root_boots_its_second_instance_from_a_copy(project) -> None:
    """Issue 21 items 2 and 4: no ModuleNotFoundError, and the second instance
    finds the settings file beside the package because the whole tree was copied."""
    started = time.monotonic()
    run = run_cli(project, "--app", "treeapp:create_app()", "--scenario", "visibility",
                  "--scenario", "key-stability", "--workers", "2", env=NO_PATH, cwd=project)
    assert run.code == 0, run.stdout + run.stderr
    assert run.leftovers == []
    verdicts = {scenario: v for (_, _, scenario), v in run.verdicts().items()}
    assert verdicts["visibility"] == "per-worker"  # the app's own SimpleCache, from settings.cfg
    assert verdicts["key-stability"] == "stable", run.stdout
    row = next(r for r in run.report()["results"] if r["scenario"] == "key-stability")
    second = row["evidence"]["second_instance"]
    assert second["source"] == str(project.resolve())
    assert second["copy"] != second["source"]
    assert set(second["left_out"]) == {".git/", "venv/", "node_modules/",
                                       "treeapp/__pycache__/"}, second
    print(f"two boots and a copy in {time.monotonic() - started:.1f} s")


def test_an_extra_instance_that_cannot_boot_is_an_error_row_and_the_run_goes_on(
        tmp_path: Path) -> None:
    """Issue 21 item 4: the app reads a config from outside its project, which no
    copy of the project has; the rows that needed that instance are ``error`` with
    the log's own line, every other row keeps its verdict, and the matrix is shown."""
    shutil.copytree(FIXTURES, tmp_path / "checkout")
    run = run_cli(tmp_path, "--chdir", "outside", "--app", "outsideapp:create_app()",
                  "--scenario", "visibility", "--scenario", "key-stability",
                  "--scenario", "multi-instance", "--workers", "2", env=NO_PATH,
                  cwd=tmp_path / "checkout")
    assert run.code == 1, run.stdout + run.stderr
    assert "coherence: error" not in run.stderr
    assert run.leftovers == []
    verdicts = {scenario: v for (_, _, scenario), v in run.verdicts().items()}
    assert verdicts["visibility"] == "per-worker"
    assert verdicts["key-stability"] == verdicts["multi-instance"] == "error", verdicts
    rows = {r["scenario"]: r for r in run.report()["results"]}
    why = rows["key-stability"]["evidence"]["boot_error"]
    assert "extra instance 'key-stability-elsewhere', started from a copy of the project" in why
    assert "FileNotFoundError: outsideapp needs the shared config" in why
    assert rows["key-stability"]["evidence"]["project_copy"]["source"] == str(
        (tmp_path / "checkout" / "outside").resolve())
    # The matrix was printed, with the error in its row.
    assert any(line.split()[:2] == ["key-stability", "error"]
               for line in run.stdout.splitlines()), run.stdout
    assert "error (UNEXPECTED): extra instance" in run.stdout


def test_the_root_is_chdir_else_the_bundle_for_a_sample_app_else_the_working_directory(
        tmp_path: Path) -> None:
    """The sample apps are found from the harness's bundle wherever the run starts;
    any other app from --chdir or the working directory, first on the path, as
    gunicorn puts it (gunicorn/app/base.py:84-91)."""
    assert app_root("apps.features:app", None, cwd=tmp_path) == PROJECT_ROOT
    assert app_root("shopapp:create_app()", None, cwd=tmp_path) == tmp_path.resolve()
    assert app_root("apps.features:app", tmp_path, cwd=Path("/")) == tmp_path.resolve()
    assert search_path(tmp_path, ["/x", ""]) == [str(tmp_path), "/x", str(PROJECT_ROOT)]
    assert project_tree("apps.features:app", PROJECT_ROOT) == PROJECT_ROOT / "apps"
    assert project_tree("treeapp:create_app()", FIXTURES / "project") == FIXTURES / "project"


def test_a_tree_over_the_bound_is_refused_before_anything_is_copied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    monkeypatch.setattr(tree, "MAX_FILES", 1)
    with pytest.raises(HarnessError, match=r"too big to copy for a second instance \(over 1 "
                       r"files.*--copy-exclude NAME"):
        copy_project(project, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
    monkeypatch.setattr(tree, "MAX_FILES", 20_000)
    (project / "reports" / "run-1").mkdir(parents=True)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(project / "app.sock"))  # a running server's: not copied
        made = copy_project(project, tmp_path / "with-socket")
    assert "app.sock" in made.left_out and not (made.root / "app.sock").exists()
    made = copy_project(project, tmp_path / "copy", exclude=("*.cfg",),
                        skip=(project / "reports",))
    assert not (made.root / "settings.cfg").exists()
    assert not (made.root / "reports").exists()
    assert (made.root / "treeapp" / "__init__.py").is_file()
    assert "settings.cfg" in made.left_out


@pytest.mark.timed  # its start-up bound runs in the README's one-process pass
@pytest.mark.parametrize(("args", "needle"), [
    (("--chdir", "nowhere"), "--chdir 'nowhere' does not exist"),
    (("--chdir", "settings.cfg"), "--chdir 'settings.cfg' is not a directory"),
    (("--copy-exclude", "a/b"), "--copy-exclude 'a/b' must be a file or directory name"),
])
def test_a_bad_chdir_or_copy_exclude_is_one_line(tmp_path: Path, args: tuple[str, ...],
                                                 needle: str) -> None:
    started = time.monotonic()
    run = run_cli(tmp_path, *args, "--scenario", "visibility", cwd=FIXTURES / "project")
    assert run.code == 2
    assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith("coherence: error: ")
    assert needle in run.stderr
    assert time.monotonic() - started < 3.5, "interpreter start-up plus the check"
    assert run.leftovers == []


def test_without_chdir_an_app_elsewhere_is_not_found_and_the_fix_names_chdir(
        tmp_path: Path) -> None:
    run = run_cli(tmp_path, "--app", "treeapp:create_app()", "--scenario", "visibility",
                  env=NO_PATH, cwd=tmp_path)
    assert run.code == 2
    assert "No module named 'treeapp'" in run.stderr
    assert "give --chdir DIR" in run.stderr
