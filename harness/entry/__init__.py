"""The entry points of the ``coherence`` command and the pytest plugin, outside ``harness``.

Installed as the top-level package ``flask_cache_coherence`` (pyproject.toml,
``package-dir``), beside ``harness``; in a checkout it is this directory.

A console script imports its module before any of the project's code runs,
so an entry point inside ``harness`` fails with a traceback when a package
of the user's own named ``harness`` comes first on ``sys.path`` (from
PYTHONPATH, say).  This module has the distribution's name, finds the
``harness`` beside it and checks that ``import harness`` gives that one
before it imports anything from it.  The worker side needs none of this: the
app's interpreter imports it as ``coherence_worker``
(``harness/topology/workerpath.py``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

#: The harness package installed (or checked out) with this module: its
#: parent in a checkout (an editable install maps this directory), its
#: sibling in an installed wheel.
_HERE = Path(__file__).resolve().parent
OURS = _HERE.parent if (_HERE.parent / "__main__.py").is_file() and \
    _HERE.parent.name == "harness" else _HERE.parent / "harness"


def shadowed() -> str | None:
    """Why ``import harness`` would not give :data:`OURS`, or None when it would.

    ``find_spec`` of a top-level name imports nothing, so a foreign package's
    own import-time code does not run here.
    """
    try:
        spec = importlib.util.find_spec("harness")
    except (ImportError, ValueError) as exc:
        return f"the package 'harness' cannot be looked up ({exc}); reinstall flask-cache-coherence"
    if spec is None:
        return (f"flask-cache-coherence's package 'harness' ({OURS}) is not importable; "
                "reinstall it (pip install flask-cache-coherence, or pip install -e . in a "
                "checkout)")
    if spec.origin is not None and Path(spec.origin).resolve().parent == OURS:
        return None
    # A foreign regular package, or a directory harness/ without __init__.py
    # (a namespace portion, which wins over an editable install's finder).
    places = [spec.origin] if spec.origin is not None else [
        f"{p}/__init__.py" for p in spec.submodule_search_locations or []]
    found = Path(places[0]).resolve().parent if places else Path("harness")
    entries = [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    on_pythonpath = [e for e in entries if Path(e).resolve() == found.parent]
    fix = (f"remove {on_pythonpath[0]} from PYTHONPATH" if on_pythonpath
           else f"take {found.parent} off sys.path")
    return (f"a package 'harness' of another project ({found}) comes before "
            f"flask-cache-coherence's ({OURS}) on sys.path and hides it; {fix}, "
            "or rename that package")


def main() -> None:
    """The ``coherence`` console script."""
    problem = shadowed()
    if problem is not None:
        sys.stderr.write(f"coherence: error: {problem}\n")
        sys.exit(2)
    from harness.__main__ import main as coherence

    coherence()


class _StandAside:
    """The pytest plugin while a foreign ``harness`` hides ours: it only says so.

    The session is the user's, whose tests may import their own ``harness``;
    failing it would be worse than running it without the harness's plugin.
    """

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def pytest_report_header(self) -> str:
        return f"flask-cache-coherence: plugin not loaded: {self.problem}"


def __getattr__(name: str) -> Any:
    # ``plugin`` is the pytest11 entry point; looked up only when pytest asks,
    # so the console script does not import pytest.
    if name != "plugin":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    problem = shadowed()
    if problem is not None:
        return _StandAside(problem)
    import harness.plugin

    return harness.plugin
