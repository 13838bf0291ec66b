"""The endpoints a Flask app answers so the harness can drive its cache.

The sample apps call :func:`install` once; any other app is served through
:mod:`harness.worker.wrap`, whose :func:`serve` loads it unchanged (``mod:app`` or
``mod:create_app()``, as gunicorn does), finds its Flask-Caching instance in
``app.extensions["cache"]`` and installs the same endpoints.  They are not
Flask routes: :class:`Probes` wraps ``app.wsgi_app`` and answers them at the
WSGI layer, inside an app context, before the app's request pipeline, so
no ``before_request`` hook, CSRF check, login or set-up redirect of the
app's own ever answers a probe, while the app's own routes keep every gate.
They are:

* ``POST /__coherence__/ops/<op>`` for get, set, delete, add, inc, has and
  clear, with a JSON body ``{"key": ..., "value": ..., "timeout": ..., "delta": ...}``;
* ``GET /__coherence__/whoami``, which the launcher uses for readiness;
* ``POST /__coherence__/keys``, the keys the app's own cached views and
  memoized functions get in this process (:mod:`harness.worker.keymaker`);
* ``POST /__coherence__/views``, the app's own cached views and memoized
  functions, listed, called and invalidated (:mod:`harness.worker.appviews`);
* an ``X-Worker-Pid`` header on every response, the evidence of who answered;
* with config ``COHERENCE_IMPORT_WRITE=<key>``, one write of
  ``{"pid": <importing pid>}`` to that key, made right now, at import.

This module runs inside gunicorn workers (and in the short-lived probe of
:mod:`harness.topology.appcheck`), so it imports nothing but Flask,
Werkzeug, gunicorn's app loader and the harness's own pure-Python names.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_caching import Cache
from werkzeug.wrappers import Request, Response

from .appviews import Registry
from .protocol import CACHE_OPS, EXTENSION, ROUTE_PREFIX


def install(app: Flask, cache: Cache) -> None:
    """Answer the harness endpoints for ``app`` in front of its request pipeline.

    ``app.wsgi_app`` is wrapped (:class:`Probes`), so none of the app's
    ``before_request`` hooks, CSRF protection, login or set-up redirects
    sees a probe, and every other request reaches the app as before.
    """
    if app.extensions.get(EXTENSION) is not None:
        return
    probes = Probes(app, cache, app.wsgi_app)
    app.wsgi_app = probes  # type: ignore[method-assign]
    app.extensions[EXTENSION] = probes

    # The preload scenario asks for one write while the app is imported:
    # under --preload that is the master, before any worker is forked.
    import_key = app.config.get("COHERENCE_IMPORT_WRITE")
    if isinstance(import_key, str) and import_key:
        with app.app_context():
            cache.set(import_key, {"pid": os.getpid()})


def _under_prefix(path: str) -> bool:
    return path == ROUTE_PREFIX or path.startswith(ROUTE_PREFIX + "/")


class Probes:
    """WSGI middleware: the harness endpoints, answered before the app sees the request.

    A path under :data:`.protocol.ROUTE_PREFIX` is answered here, inside an
    app context (Flask-Caching's ``cache.cache`` reads ``current_app``);
    any other goes to the app's own ``wsgi_app`` unchanged, its responses
    stamped with the ``X-Worker-Pid`` header as the harness's are.
    """

    def __init__(self, app: Flask, cache: Cache, inner: Callable[..., Any]) -> None:
        self.app, self.cache, self.inner = app, cache, inner
        self.views = Registry(app)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not _under_prefix(environ.get("PATH_INFO") or ""):
            def stamped(status: str, headers: list[tuple[str, str]],
                        exc_info: Any = None) -> Any:
                return start_response(status, [*headers, ("X-Worker-Pid", str(os.getpid()))],
                                      exc_info)
            return self.inner(environ, stamped)
        request = Request(environ)
        try:
            with self.app.app_context():
                status, body = self._answer(request.method, request.path[len(ROUTE_PREFIX):],
                                            request)
        except Exception as exc:  # noqa: BLE001 - the harness records any error
            status, body = 500, {"error": f"{type(exc).__name__}: {exc}"}
        response = Response(json.dumps(body, default=repr), status=status,
                            mimetype="application/json")
        response.headers["X-Worker-Pid"] = str(os.getpid())
        return response(environ, start_response)

    def _answer(self, method: str, path: str, request: Request) -> tuple[int, Any]:
        endpoint = _ENDPOINTS.get("/ops" if path.startswith("/ops/") else path)
        if endpoint is None:
            return 404, {"error": f"no harness endpoint {ROUTE_PREFIX}{path}"}
        if method != endpoint:
            return 405, {"error": f"{ROUTE_PREFIX}{path} takes {endpoint}"}
        body = _json(request)
        cache = self.cache
        if path == "/whoami":
            backend = type(cache.cache)
            return 200, {"pid": os.getpid(), "cache_type": self.app.config.get("CACHE_TYPE"),
                         "backend": f"{backend.__module__}.{backend.__qualname__}",
                         "client": client_of(cache.cache)}
        if path == "/keys":
            from .keymaker import compute

            return 200, compute(self.app, cache, list(body.get("memoized") or []),
                                dict(body.get("samples") or {}))
        if path == "/views":
            return 200, self.views.answer(body)
        op = path[len("/ops/"):]
        if op not in CACHE_OPS:
            return 404, {"error": f"unknown op {op!r}; use one of {', '.join(CACHE_OPS)}"}
        key = body.get("key")
        try:
            result = _perform(cache, op, key, body)
        except Exception as exc:  # noqa: BLE001 - the harness records any backend error
            return 500, {"error": f"{type(exc).__name__}: {exc}"}
        return 200, {"op": op, "key": key, "result": result}


#: Each endpoint under the prefix and the one method it takes.
_ENDPOINTS = {"/whoami": "GET", "/ops": "POST", "/keys": "POST", "/views": "POST"}


def client_of(backend: Any) -> str | None:
    """The class of the client a backend holds, ``module.Qualname``; None: it holds none.

    cachelib's MemcachedCache keeps whichever library it imported first in
    ``_client`` (cachelib/memcached.py:102-104, 299-314): a
    ``pylibmc.pools.ClientPool`` or a ``memcache.Client``.
    """
    client = getattr(backend, "_client", None)
    if client is None:
        return None
    kind = type(client)
    return f"{kind.__module__}.{kind.__qualname__}"


def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data(cache=False) or b"null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


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

    A name is the module attribute that holds the instance (``cache``, even
    when several modules import it under that name; ``mypkg.ext:cache``
    when two instances share an attribute name), so ``--cache NAME`` reads
    like the code; an instance no module holds is ``cache-<n>``.
    """
    instances = list((app.extensions.get("cache") or {}).keys())
    holders: dict[int, list[str]] = {id(c): [] for c in instances}
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or mod_name.startswith(("flask", "harness.")):
            continue
        for attr, value in list(vars(mod).items()):
            if id(value) in holders and any(value is c for c in instances):
                holders[id(value)].append(f"{mod_name}:{attr}")
    shorts = {id(c): {h.partition(":")[2] for h in holders[id(c)]} for c in instances}
    found: dict[str, Cache] = {}
    for n, cache in enumerate(instances, start=1):
        mine = shorts[id(cache)]
        unique = sorted(s for s in mine
                        if not any(s in shorts[id(o)] for o in instances if o is not cache))
        name = unique[0] if len(mine) == 1 and unique else \
            (sorted(holders[id(cache)])[0] if holders[id(cache)] else f"cache-{n}")
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
    answer["installed"] = obj.extensions.get(EXTENSION) is not None
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
    if app.extensions.get(EXTENSION) is not None:
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
