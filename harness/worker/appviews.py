"""The app's own cached views and memoized functions, found and called inside one worker.

The ``app-views`` scenario asks each worker, through ``POST <prefix>/views``,
to ``list`` the targets, ``call`` one, or ``forget`` one the app's way
(``cache.delete_memoized(fn)``; ``cache.delete`` of the key the view's last
call used).  A call answers how many times the undecorated function ran
and which keys the call read and wrote:

* **Counting.**  The wrapper calls the function its closure holds, not the
  ``uncached`` attribute (flask_caching/__init__.py: ``cached`` 2.0.0:404,
  2.5.1:666; ``memoize`` 2.0.0:876, 2.5.1:1269), so wrapping ``uncached``
  would count nothing, and replacing the closure's function would change
  the keys (2.0 reads the argument names with ``getfullargspec``, which
  does not follow ``__wrapped__``).  The app's functions return the same
  value on every call, so no per-call token tells a hit from a computation
  either.  So the call runs under a profile hook (``sys.setprofile``, for
  this thread and this call only) that counts the calls of the undecorated
  function's code object.
* **Keys.**  The backend's ``get``/``set``/``has``/``get_many`` are shadowed
  on the backend instance for the call, recording the keys the wrapper
  used: ``get`` first, for the result; ``get_many`` for memoize's version
  keys (2.0.0:545, 2.5.1:890).

A view runs in a request context built for its URL
(``app.test_request_context``) and is called directly, so none of the
app's ``before_request`` hooks (login, CSRF, set-up redirects) runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from . import targets as found
from .keymaker import _url_values
from .protocol import VIEW_ACTIONS

LIST, CALL, FORGET = VIEW_ACTIONS

_RECORDED = ("get", "set", "has", "get_many", "set_many", "add")


class Target:
    """One thing to call: a cached view (by endpoint) or a memoized callable."""

    def __init__(self, *, name: str, kind: str, call: Any = None, rule: Any = None,
                 args: list[Any] | None = None, kwargs: dict[str, Any] | None = None,
                 self_from: str | None = None, error: str | None = None,
                 named: bool = False) -> None:
        self.name, self.kind, self.call, self.rule = name, kind, call, rule
        self.named = named
        self.args, self.kwargs = args or [], kwargs or {}
        self.self_from, self.error = self_from, error
        self.url = ""
        self.last_key: str | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind,
                               "call": self.url or _shown(self.args, self.kwargs)}
        if self.named:
            out["named"] = True
        if self.self_from:
            out["self"] = self.self_from
        if self.error:
            out["error"] = self.error
        return out


def _shown(args: list[Any], kwargs: dict[str, Any]) -> str:
    return ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])


def _views(app: Flask, samples: dict[str, Any]) -> list[Target]:
    out = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        if view is None:
            continue
        cached = found.cached_view(view, rule)
        if cached is None:
            continue
        target = Target(name=rule.endpoint, kind="cached", call=cached, rule=rule)
        try:
            values = _url_values(rule, samples.get(rule.endpoint))
            built = rule.build(values, append_unknown=False)
            target.url = built[1] if isinstance(built, tuple) else str(built)
            target.kwargs = values
        except Exception as exc:  # noqa: BLE001 - reported per target
            target.error = f"cannot build its URL: {type(exc).__name__}: {exc}"
        out.append(target)
    return out


def _memoized(names: list[str], samples: dict[str, Any], named: bool) -> list[Target]:
    out = []
    for name in names:
        given = samples.get(name, [])
        args, kwargs = (list(given), {}) if isinstance(given, list) else ([], dict(given))
        target = Target(name=name, kind="memoized", args=args, kwargs=kwargs, named=named)
        try:
            resolved = found.resolve(name)
            target.call, target.self_from = resolved.call, resolved.self_from
            if found.marked(target.call) != "memoized":
                raise TypeError(f"{name} is not decorated with @cache.memoize")
        except Exception as exc:  # noqa: BLE001 - reported per target
            target.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, LookupError) \
                else str(exc)
        out.append(target)
    return out


class Registry:
    """This worker's targets, found once per request body and kept by name."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.targets: dict[str, Target] = {}
        self._asked: Any = None

    def find(self, memoized: list[str], samples: dict[str, Any]) -> dict[str, Target]:
        asked = (sorted(memoized), sorted((k, repr(v)) for k, v in samples.items()))
        if asked != self._asked:
            mine = [n for m in found.app_modules(self.app.import_name)
                    for n in found.memoized_in(m)]
            targets = [*_views(self.app, samples),
                       *_memoized([n for n in mine if n not in memoized], samples, False),
                       *_memoized(list(memoized), samples, True)]
            self.targets = {t.name: t for t in targets}
            self._asked = asked
        return self.targets

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        targets = self.find(list(body.get("memoized") or []), dict(body.get("samples") or {}))
        do = body.get("do")
        if do == LIST:
            return {"pid": os.getpid(), "targets": [t.describe() for t in targets.values()]}
        target = targets.get(str(body.get("name")))
        if target is None:
            return {"pid": os.getpid(), "error": f"no target {body.get('name')!r}"}
        if target.error:
            return {"pid": os.getpid(), "error": target.error}
        if do not in (CALL, FORGET):
            return {"pid": os.getpid(),
                    "error": f"unknown action {do!r}; use one of {', '.join(VIEW_ACTIONS)}"}
        try:
            done = self._call(target) if do == CALL else _forget(target)
        except Exception as exc:  # noqa: BLE001 - the app's invalidation may raise on a backend
            done = {"error": f"{'the call' if do == CALL else 'the invalidation'} raised "
                             f"{type(exc).__name__}: {exc}"}
        return {"pid": os.getpid(), **done}

    def _call(self, target: Target) -> dict[str, Any]:
        code = getattr(found.innermost(target.call), "__code__", None)
        if code is None:
            return {"error": "its undecorated function has no code object to count calls of"}
        out: dict[str, Any] = {}
        with _recording(found.cache_of(target.call)) as keys, _counting(code) as calls:
            try:
                if target.kind == "cached":
                    out.update(self._view(target))
                else:
                    target.call(*target.args, **target.kwargs)
            except HTTPException as exc:
                out["error"] = f"raised {type(exc).__name__} (HTTP {exc.code})"
            except Exception as exc:  # noqa: BLE001 - reported per target
                out["error"] = f"raised {type(exc).__name__}: {exc}"
                if isinstance(exc, TypeError) and target.kind == "memoized" \
                        and not (target.args or target.kwargs):
                    out["error"] += (f"; give its arguments with --sample-args "
                                     f"'{target.name}=[...]'")
        out["computed"] = calls[0]
        out["keys"] = keys
        result = [k for k in keys.get("get", []) if not k.endswith("_memver")]
        if result:
            target.last_key = result[0]
        return out

    def _view(self, target: Target) -> dict[str, Any]:
        rule = target.rule
        view: Any = self.app.view_functions[rule.endpoint]
        with self.app.test_request_context(target.url, method=found.method_of(rule)):
            response = self.app.make_response(view(**target.kwargs))
        if not 200 <= response.status_code < 300:
            where = response.headers.get("Location")
            return {"error": f"answered HTTP {response.status_code}"
                             + (f" (to {where})" if where else "")}
        return {}


def _forget(target: Target) -> dict[str, Any]:
    cache = found.cache_of(target.call)
    if target.kind == "cached":
        if target.last_key is None:
            # Nothing computed here through this view, so nothing of this worker's to forget.
            return {"how": "nothing: no call of it in this worker has used a key yet",
                    "result": False}
        return {"how": f"cache.delete({target.last_key!r})",
                "result": bool(cache.delete(target.last_key))}
    cache.delete_memoized(target.call)
    return {"how": f"cache.delete_memoized({target.name})"}


@contextmanager
def _counting(code: Any) -> Iterator[list[int]]:
    calls = [0]
    previous = sys.getprofile()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is code:
            calls[0] += 1

    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(previous)


@contextmanager
def _recording(cache: Any) -> Iterator[dict[str, list[str]]]:
    keys: dict[str, list[str]] = {}
    backend = cache.cache if cache is not None else None
    if backend is None:
        yield keys
        return

    depth = [0]

    def shim(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            if depth[0] == 0:
                touched = (list(args[0]) if name == "set_many" and args else
                           list(args) if name == "get_many" else list(args[:1]))
                keys.setdefault(name, []).extend(str(k) for k in touched)
            # The backend's own calls from inside (FileSystemCache's file
            # count, get_many's gets) are not the wrapper's keys.
            depth[0] += 1
            try:
                return method(*args, **kwargs)
            finally:
                depth[0] -= 1
        return recorded

    shadowed = [n for n in _RECORDED if callable(getattr(backend, n, None))
                and n not in vars(backend)]
    for n in shadowed:
        setattr(backend, n, shim(n, getattr(backend, n)))
    try:
        yield keys
    finally:
        for n in shadowed:
            delattr(backend, n)
