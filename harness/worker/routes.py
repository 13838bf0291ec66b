"""The routes a Flask app serves so the harness can drive its cache.

The sample apps call :func:`install` once; any other app is served through
:mod:`harness.worker.wrap`, whose :func:`serve` loads it unchanged (``mod:app`` or
``mod:create_app()``, as gunicorn does), finds its Flask-Caching instance in
``app.extensions["cache"]`` and installs the same routes.  They are:

* ``POST /__coherence__/ops/<op>`` for get, set, delete, add, inc, has and
  clear, with a JSON body ``{"key": ..., "value": ..., "timeout": ..., "delta": ...}``;
* ``GET /__coherence__/whoami``, which the launcher uses for readiness;
* ``POST /__coherence__/keys``, the keys the app's own cached views and
  memoized functions get in this process (:mod:`harness.worker.keymaker`);
* an ``X-Worker-Pid`` header on every response, the evidence of who answered;
* with config ``COHERENCE_IMPORT_WRITE=<key>``, one write of
  ``{"pid": <importing pid>}`` to that key, made right now, at import.

This module runs inside gunicorn workers (and in the short-lived probe of
:mod:`harness.topology.appcheck`), so it imports nothing but Flask,
gunicorn's app loader and the harness's own pure-Python names.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from flask_caching import Cache

from .protocol import BLUEPRINT, CACHE_OPS, ROUTE_PREFIX


def install(app: Flask, cache: Cache) -> None:
    """Register the harness routes and the pid header on ``app``."""
    bp = Blueprint(BLUEPRINT, __name__, url_prefix=ROUTE_PREFIX)

    @bp.get("/whoami")
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

    @bp.post("/keys")
    def keys() -> Response:
        from .keymaker import compute

        body: dict[str, Any] = request.get_json(silent=True) or {}
        return jsonify(compute(app, cache, list(body.get("memoized") or []),
                               dict(body.get("samples") or {})))

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


def load(target: str) -> Any:
    """The object ``target`` names, ``mod:name`` or ``mod:factory(literal args)``.

    gunicorn's own loader, so ``--app`` means exactly what it means to gunicorn.
    """
    from gunicorn.util import import_app

    return import_app(target)


def caches(app: Flask) -> dict[str, Cache]:
    """The app's Flask-Caching instances by name, in the order they were initialised.

    A name is the module attribute that holds the instance (``cache``, or
    ``mypkg.ext:cache`` when two modules use the same attribute name), so
    ``--cache NAME`` reads like the code; an instance no module holds is
    ``cache-<n>``.
    """
    found: dict[str, Cache] = {}
    for n, cache in enumerate((app.extensions.get("cache") or {}).keys(), start=1):
        holders = [f"{mod_name}:{attr}" for mod_name, mod in list(sys.modules.items())
                   if mod is not None and not mod_name.startswith(("flask", "harness."))
                   for attr, value in list(vars(mod).items()) if value is cache]
        short = sorted({h.partition(":")[2] for h in holders})
        name = short[0] if len(short) == 1 and len(holders) == 1 else \
            (sorted(holders)[0] if holders else f"cache-{n}")
        found[name] = cache
    return found


def _collisions(app: Flask) -> list[str]:
    return sorted(r.rule for r in app.url_map.iter_rules()
                  if r.rule == ROUTE_PREFIX or r.rule.startswith(ROUTE_PREFIX + "/"))


def describe(target: str, cache_name: str | None) -> dict[str, Any]:
    """What the probe reports about ``target``: JSON-ready, never raises for the app's faults."""
    try:
        obj = load(target)
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is the answer
        return {"error": f"{type(exc).__name__}: {exc}"}
    kind = type(obj)
    answer: dict[str, Any] = {"flask": isinstance(obj, Flask),
                              "type": f"{kind.__module__}.{kind.__qualname__}"}
    if not isinstance(obj, Flask):
        return answer
    answer["installed"] = BLUEPRINT in obj.blueprints
    answer["collisions"] = [] if answer["installed"] else _collisions(obj)
    answer["caches"] = [
        {"name": name, "type": _backend_name(obj, cache), "config": _config(obj, cache)}
        for name, cache in caches(obj).items()]
    return answer


def _backend_name(app: Flask, cache: Cache) -> str:
    backend = type(app.extensions["cache"][cache])
    if backend.__module__.startswith(("flask_caching.backends", "cachelib")):
        return backend.__name__
    return f"{backend.__module__}.{backend.__qualname__}"


def _config(app: Flask, cache: Cache) -> dict[str, Any]:
    """The instance's CACHE_* settings as Flask-Caching merged them (app config, then its own)."""
    merged = {**app.config, **(cache.config or {})}
    return {k: v if _jsonable(v) else repr(v) for k, v in merged.items()
            if k.startswith("CACHE_")}


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def serve(target: str, cache_name: str | None = None) -> Flask:
    """The app gunicorn serves: ``target`` as it is, with the harness routes added.

    An app that installs them itself (the sample apps) is returned as it
    is.  Any other keeps its own configuration; only the settings the
    harness was told to change (``--backend``, ``--config``, a scenario's
    own), handed over as ``FLASK_*`` variables, are applied, and the
    chosen cache is re-initialised with them.
    """
    app = load(target)
    if not isinstance(app, Flask):
        raise TypeError(f"{target!r} is a {type(app).__name__}, not a Flask app")
    if BLUEPRINT in app.blueprints:
        return app
    found = caches(app)
    if cache_name is None and len(found) == 1:
        cache_name = next(iter(found))
    if cache_name not in found:
        raise LookupError(f"{target!r} has no Flask-Caching instance {cache_name!r}; "
                          f"it has {', '.join(found) or 'none'}")
    cache = found[cache_name]
    overrides = {k.removeprefix("FLASK_"): json.loads(v) for k, v in os.environ.items()
                 if k.startswith("FLASK_")}
    if overrides:
        app.config.update(overrides)
        cache_overrides = {k: v for k, v in overrides.items() if k.startswith("CACHE_")}
        if cache_overrides:
            cache.init_app(app, config=cache_overrides)
    install(app, cache)
    return app
