"""Example custom backends, named to the harness by import path.

``coherence run --backend apps.custom_backends.PerProcessFileSystemCache``
checks one of these exactly as it checks a built-in.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask_caching.backends import FileSystemCache


class PerProcessFileSystemCache(FileSystemCache):
    """A FileSystemCache whose directory ends in the worker's pid.

    Each worker therefore writes its own directory: a misconfiguration that
    looks shared in single-process tests and is per-worker under gunicorn.
    """

    @classmethod
    def factory(
        cls, app: Flask, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]
    ) -> FileSystemCache:
        config = {**config, "CACHE_DIR": os.path.join(config["CACHE_DIR"], str(os.getpid()))}
        return super().factory(app, config, args, kwargs)


class RefusesToStart(FileSystemCache):
    """A cache class that imports, but whose factory raises when a worker builds it.

    What a backend with a bad or missing setting looks like: only the workers
    find out, so the harness must report their boot failure with its log.
    """

    @classmethod
    def factory(
        cls, app: Flask, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]
    ) -> FileSystemCache:
        raise RuntimeError("RefusesToStart needs a setting this app does not give")
