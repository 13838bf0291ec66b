"""Versions of everything a verdict depends on, for the report header."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .topology import kinds


def _pkg(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def describe() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "flask": _pkg("flask"),
        "flask_caching": _pkg("flask-caching"),
        "cachelib": _pkg("cachelib"),
        "gunicorn": _pkg("gunicorn"),
        "gevent": _pkg("gevent"),
        **{binary: kinds.version(binary) for binary in kinds.binaries()},
        "platform": platform.platform(),
    }
