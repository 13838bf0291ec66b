"""The cache keys Flask-Caching would use for an app's own code, computed inside a worker.

The ``key-stability`` scenario asks every worker of two instances for these
keys and compares them: a key that differs between processes for the same
call is an entry no other process will ever read.  Two kinds are computed:

* every ``@cache.cached`` view, found through the ``make_cache_key``
  attribute Flask-Caching puts on it, on a request built from its URL rule
  with sample values (flask_caching/__init__.py, ``cached``:
  ``cached_fn.make_cache_key = default_make_cache_key``, and a custom
  ``make_cache_key=`` argument, which the view calls instead);
* every ``@cache.memoize`` function or method named with ``--memoized
  MODULE:QUALNAME``, called with sample arguments.

A memoize key is a hash of ``function_namespace`` plus the arguments (with
``repr(self)`` for a method, ``get_id`` in flask_caching/utils.py), then a
version string read from the cache (``_memoize_version``).  The version is
left out here (it is the backend's sharing, which the other scenarios
judge, not the code's), so nothing is read from or written to the cache;
the text the hash is made of is returned too, to show what differs.

Runs inside gunicorn workers: imports only Flask, Flask-Caching and the standard library.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from flask import Flask
from flask_caching import Cache

from .targets import resolve

#: Sample values for URL converters without ``--sample-args``: fixed, so
#: every process builds the same request.
#: Keyed by werkzeug's converter class name, less "Converter", lower-cased.
CONVERTER_SAMPLES: dict[str, Any] = {
    "integer": 1, "float": 1.5, "uuid": "00000000-0000-4000-8000-000000000001",
    "path": "sample/path", "unicode": "sample",
}


def compute(app: Flask, cache: Cache, memoized: list[str],
            samples: dict[str, Any]) -> dict[str, Any]:
    """Every key of ``app``'s cached views and the ``memoized`` targets, for this process."""
    entries = [*_views(app, samples), *(_memoized(app, cache, t, samples) for t in memoized)]
    return {"pid": os.getpid(), "cwd": os.getcwd(), "root_path": app.root_path,
            "entries": entries}


def _views(app: Flask, samples: dict[str, Any]) -> list[dict[str, Any]]:
    entries = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        if view is None or not hasattr(view, "make_cache_key") \
                or hasattr(view, "delete_memoized"):
            continue
        entry: dict[str, Any] = {"kind": "cached", "name": rule.endpoint, "call": rule.rule}
        try:
            values = _url_values(rule, samples.get(rule.endpoint))
            path = rule.build(values, append_unknown=False)
            url = path[1] if isinstance(path, tuple) else str(path)
            entry["call"] = url
            custom = inspect.getclosurevars(view).nonlocals.get("make_cache_key")
            with app.test_request_context(url):
                if callable(custom):
                    entry["key"] = str(custom(**values))
                else:
                    entry["key"] = str(view.make_cache_key(use_request=True, **values))
        except Exception as exc:  # noqa: BLE001 - reported per entry
            entry["error"] = f"{type(exc).__name__}: {exc}"
        entries.append(entry)
    return entries


def _url_values(rule: Any, given: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for arg in rule.arguments:
        converter = type(rule._converters[arg]).__name__.lower().removesuffix("converter")
        sample = CONVERTER_SAMPLES.get(converter, "sample")
        if converter == "any":
            sample = rule._converters[arg].items[0]
        values[arg] = sample
    if isinstance(given, dict):
        values.update(given)
    return values


def _memoized(app: Flask, cache: Cache, target: str, samples: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": "memoized", "name": target}
    given = samples.get(target, [])
    args, kwargs = (list(given), {}) if isinstance(given, list) else ([], dict(given))
    entry["call"] = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
    try:
        resolved = resolve(target)
        fn = resolved.call
        if resolved.self_from:
            entry["self"] = resolved.self_from
        func = getattr(fn, "__func__", fn)
        if not hasattr(func, "make_cache_key") or not hasattr(func, "uncached"):
            raise TypeError(f"{target} is not decorated with @cache.memoize")
        if hasattr(fn, "__self__"):
            args.insert(0, fn.__self__)
        entry["key"], entry["material"] = _memoize_key(app, cache, func, args, kwargs)
    except Exception as exc:  # noqa: BLE001 - reported per entry
        entry["error"] = f"{type(exc).__name__}: {exc}"
    return entry


def _memoize_key(app: Flask, cache: Cache, func: Any, args: list[Any],
                 kwargs: dict[str, Any]) -> tuple[str, str]:
    """The key without its version suffix, and the text it hashes."""
    from flask_caching.utils import function_namespace

    fname = function_namespace(func.uncached, args=args)[0]

    def unversioned(f: Any, *_: Any, args: Any = None, **__: Any) -> tuple[str, str]:
        return function_namespace(f, args=args)[0], ""

    # Shadow the version lookup on this instance for one call: no cache read
    # or write, and an empty version suffix.  The scenario sends nothing else
    # to the worker meanwhile.
    cache._memoize_version = unversioned  # type: ignore[method-assign]
    try:
        with app.app_context():
            key = str(func.make_cache_key(func.uncached, *args, **kwargs))
            keyargs, keykwargs = cache._memoize_kwargs_to_args(func.uncached, *args, **kwargs)
    finally:
        del cache._memoize_version
    return key, f"{fname}{keyargs}{keykwargs}"
