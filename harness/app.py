"""The routes a Flask app serves so the harness can drive its cache.

An app under test calls :func:`install` once.  It adds:

* ``POST /ops/<op>`` for get, set, delete, add, inc, has and clear, with a
  JSON body ``{"key": ..., "value": ..., "timeout": ..., "delta": ...}``;
* ``GET /__coherence__/whoami``, which the launcher uses for readiness;
* an ``X-Worker-Pid`` header on every response, the evidence of who answered;
* with config ``COHERENCE_IMPORT_WRITE=<key>``, one write of
  ``{"pid": <importing pid>}`` to that key, made right now, at import.

This module runs inside gunicorn workers, so it imports nothing but Flask and
the harness's own pure-Python op names.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from flask_caching import Cache

from .history import CACHE_OPS


def install(app: Flask, cache: Cache) -> None:
    """Register the harness routes and the pid header on ``app``."""
    bp = Blueprint("coherence", __name__)

    @bp.get("/__coherence__/whoami")
    def whoami() -> Response:
        return jsonify(
            pid=os.getpid(),
            cache_type=app.config.get("CACHE_TYPE"),
            backend=type(cache.cache).__module__ + "." + type(cache.cache).__qualname__,
        )

    @bp.post("/ops/<op>")
    def run_op(op: str) -> tuple[Response, int] | Response:
        if op not in CACHE_OPS:
            return jsonify(error=f"unknown op {op!r}; use one of {', '.join(CACHE_OPS)}"), 404
        body: dict[str, Any] = request.get_json(silent=True) or {}
        key = body.get("key")
        try:
            result = _perform(cache, op, key, body)
        except Exception as exc:  # noqa: BLE001 - the harness records any backend error
            return jsonify(error=f"{type(exc).__name__}: {exc}"), 500
        return jsonify(op=op, key=key, result=result)

    app.register_blueprint(bp)

    @app.after_request
    def stamp_pid(resp: Response) -> Response:
        resp.headers["X-Worker-Pid"] = str(os.getpid())
        return resp

    # The preload scenario asks for one write while the app is imported:
    # under --preload that is the master, before any worker is forked.
    import_key = app.config.get("COHERENCE_IMPORT_WRITE")
    if isinstance(import_key, str) and import_key:
        cache.set(import_key, {"pid": os.getpid()})


def _perform(cache: Cache, op: str, key: str | None, body: dict[str, Any]) -> Any:
    timeout = body.get("timeout")
    if op == "get":
        return cache.get(key)
    if op == "set":
        return bool(cache.set(key, body.get("value"), timeout=timeout))
    if op == "add":
        return bool(cache.add(key, body.get("value"), timeout=timeout))
    if op == "delete":
        return bool(cache.delete(key))
    if op == "has":
        return bool(cache.has(key))
    if op == "inc":
        # Flask-Caching's Cache has no inc proxy; the backend's own inc is
        # what users reach, and its atomicity is what we want to observe.
        return cache.cache.inc(str(key), int(body.get("delta", 1)))
    if op == "clear":
        return bool(cache.clear())
    raise AssertionError(op)
