"""Versions of everything a verdict depends on, for the report header."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .topology import kinds

#: The package versions a verdict depends on, by report key and distribution name.
PACKAGES = {"flask": "flask", "flask_caching": "flask-caching", "cachelib": "cachelib",
            "gunicorn": "gunicorn", "gevent": "gevent"}


def _pkg(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def version_keys() -> tuple[str, ...]:
    """The environment entries a verdict depends on, in the order a diff shows them."""
    return ("python", *PACKAGES, *kinds.binaries())


def describe() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        **{key: _pkg(dist) for key, dist in PACKAGES.items()},
        **{binary: kinds.version(binary) for binary in kinds.binaries()},
        "platform": platform.platform(),
    }
