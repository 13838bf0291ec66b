"""Inside the ``--python`` check's process: the interpreter and its stack's versions.

:func:`harness.topology.appenv.check_python` runs :func:`main` with the
app's interpreter, before anything starts.  It reads versions with
:mod:`importlib.metadata` and asks :func:`importlib.util.find_spec` whether a
module is there, so it imports neither the app nor any of its libraries:
the answer is what gunicorn would find, in a few tens of milliseconds.  It
writes one JSON object to stdout.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
from importlib import metadata
from typing import Any


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _pkg_resources_missing() -> bool:
    """Whether the installed gunicorn imports ``pkg_resources`` and none is there.

    gunicorn 20.1 does, at the top of gunicorn/util.py (line 25), and
    setuptools 81 and later no longer ship it; gunicorn's source is read
    from its distribution's files, not imported.
    """
    try:
        util = metadata.distribution("gunicorn").locate_file("gunicorn/util.py")
        source = open(str(util), encoding="utf-8").read()
    except (metadata.PackageNotFoundError, OSError, ValueError):
        return False
    if "import pkg_resources" not in source:
        return False
    try:
        return importlib.util.find_spec("pkg_resources") is None
    except (ImportError, ValueError):
        return True


def main() -> None:
    """``python -c '...main()' REQUEST_JSON``: ``{"distributions": [...]}``."""
    request: dict[str, Any] = json.loads(sys.argv[1])
    answer = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "versions": {d: _version(d) for d in request["distributions"]},
        "pkg_resources_missing": _pkg_resources_missing(),
    }
    sys.stdout.write(json.dumps({"answer": answer}) + "\n")
    sys.stdout.flush()
