"""The code stays ruff-clean and mypy-strict, and the CI workflows zizmor-clean;
all three ship in the ``test`` extra."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff() -> None:
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "harness", "apps",
                           "scenarios", "tests", "bench"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor() -> None:
    """No zizmor finding in the workflows: least permissions, no persisted
    credentials, actions pinned per ``.github/zizmor.yml``.

    zizmor's wheel ships a binary, not a module, so it is looked up beside the
    interpreter first. ``--offline`` makes no GitHub calls; any finding is a
    non-zero exit. The repository's config is found by zizmor's own discovery,
    as in ``tox -e zizmor``, so a ``ZIZMOR_*`` setting of the caller's (such as
    another config file) is dropped.
    """
    exe = Path(sys.executable).with_name("zizmor")
    zizmor = str(exe) if exe.exists() else shutil.which("zizmor")
    assert zizmor, "zizmor is not installed (it is in the test extra)"
    assert (ROOT / ".github" / "zizmor.yml").is_file()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZIZMOR_")}
    proc = subprocess.run([zizmor, "--offline", "--color", "never", ".github/workflows"],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The workflow the README gives projects to copy (docs/ci/), by the same
    # policy; zizmor collects a directory's workflows only under .github/, so
    # each file is named.
    examples = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs" / "ci").glob("*.yml"))
    assert examples, "docs/ci/ holds no workflow"
    proc = subprocess.run([zizmor, "--offline", "--color", "never", "--config",
                           ".github/zizmor.yml", *examples],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
