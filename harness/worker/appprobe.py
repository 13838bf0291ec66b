"""Inside the app check's throwaway process: import ``--app`` and the user's code, and tell.

:func:`harness.topology.appcheck.check_app` runs :func:`main` in a process of
its own, so the harness's process never runs user code.  Besides the app
(:func:`harness.worker.routes.describe`), it imports what the workers would import
later: a custom ``--backend`` class, which must be a cache Flask-Caching can
create, and the ``--memoized`` targets, with the ``--sample-args`` each is
called with.  It writes JSON lines to a descriptor of its own (not stdout,
which the app may print to, even from ``atexit``): ``{"phase": ...}`` before
each import, so a hang can be named, then ``{"answer": ...}``; then it
exits as a worker would, so a thread or an exit handler that keeps it alive
shows.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from . import routes as _app
from . import targets as _targets

#: gunicorn's refusal of a non-callable ``--app`` object, as describe() reports it.
_NOT_CALLABLE = "AppImportError: Application object must be callable."


def main() -> None:
    """``python -c '...main()' ANSWER_FD REQUEST_JSON``; see the module docstring."""
    fd, request = int(sys.argv[1]), json.loads(sys.argv[2])
    os.set_inheritable(fd, False)  # not for programs the app executes
    out = os.fdopen(fd, "w", buffering=1)

    marker = str(request.get("marker", "")).encode()
    spawned: dict[str, str] = {}
    phase = ["app"]

    def tell(**what: Any) -> None:
        if marker and ("phase" in what or "answer" in what):
            # Who started a process that outlives the check: the phase just ended.
            for pid in _marked(marker):
                spawned.setdefault(str(pid), phase[0])
            phase[0] = what.get("phase", phase[0])
        if "answer" in what:
            what["answer"]["spawned"] = spawned
        out.write(json.dumps(what) + "\n")
        out.flush()

    tell(phase="app")
    started = time.monotonic()
    loaded: list[Any] = []
    answer = _describe(request["app"], request["cache"], loaded)
    answer["import_s"] = round(time.monotonic() - started, 3)
    if answer.get("flask") and "error" not in answer:
        problem = check_user_code(loaded[0], request, tell)
        if problem is not None:
            answer["problem"] = problem
    answer["threads"] = sorted(t.name for t in threading.enumerate()
                               if t is not threading.current_thread() and not t.daemon)
    tell(answer=answer)
    # Then an ordinary exit: the app's threads and exit handlers may keep the
    # process alive, as they would keep a worker; the check sees it.


def _marked(marker: bytes) -> list[int]:
    """The processes other than this one whose environment holds ``marker``: its children."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _describe(target: str, cache: str | None, loaded: list[Any]) -> dict[str, Any]:
    """:func:`harness.worker.routes.describe`, keeping the object it loaded for later checks."""
    load = _app.load

    def keep(target: str) -> Any:
        loaded.append(load(target))
        return loaded[-1]

    _app.load = keep  # a throwaway process: describe() loads the app exactly once
    try:
        answer = _app.describe(target, cache or None)
    finally:
        _app.load = load
    if answer.get("caches") and loaded:
        # The class Flask-Caching made each cache from, by its full path: what
        # the harness tells the built-in rows by, whatever CACHE_TYPE said.
        made = {name: type(loaded[0].extensions["cache"][c])
                for name, c in _app.caches(loaded[0]).items()}
        for entry in answer["caches"]:
            kind = made.get(entry["name"])
            if kind is not None:
                entry["class"] = f"{kind.__module__}.{kind.__qualname__}"
    if answer.get("error") == _NOT_CALLABLE:
        # gunicorn found an object but refuses it: say what it is, as for any non-app.
        module, _, name = target.partition(":")
        obj = getattr(sys.modules.get(module.strip()), name.strip(), None)
        kind = type(obj) if obj is not None and name.strip().isidentifier() else None
        return {"flask": False, "type": f"{kind.__module__}.{kind.__qualname__}" if kind
                else "non-callable object"}
    return answer


def check_user_code(app: Any, request: dict[str, Any],
                    tell: Callable[..., None]) -> str | None:
    """The first problem with the custom backends, memoized targets and sample arguments."""
    for path in request.get("backends", []):
        tell(phase=f"--backend {path!r}")
        problem = _backend_problem(path)
        if problem is not None:
            return problem
    resolved: dict[str, Any] = {}
    for target in request.get("targets", []):
        tell(phase=f"--memoized {target!r}")
        found = _memoized(target)
        if isinstance(found, str):
            return found
        resolved[target] = found
    samples = request.get("samples", {})
    if any(name not in resolved for name in samples):
        # The app's own memoized functions, which app-views calls: --sample-args may
        # name them.  Only those named are resolved (that may build an instance).
        for name in (n for m in _targets.app_modules(app.import_name)
                     for n in _targets.memoized_in(m)):
            if name not in resolved:
                resolved[name] = _resolved_or_none(name) if name in samples else None
    return _samples_problem(app, samples, resolved)


def _resolved_or_none(name: str) -> Any:
    try:
        return _targets.resolve(name).call
    except Exception:  # noqa: BLE001 - app-views reports it as not computed
        return None


def _backend_problem(path: str) -> str | None:
    from cachelib import BaseCache as CachelibCache
    from flask_caching.backends.base import BaseCache

    module, _, attr = path.rpartition(".")
    head = f"--backend {path!r}: could not create the cache backend"
    try:
        obj = getattr(importlib.import_module(module), attr)
    except AttributeError:
        return f"{head}: module {module!r} has no attribute {attr!r}; check the class name"
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is the answer
        return (f"{head}: importing {module!r} raised {type(exc).__name__}: {exc}; fix the "
                "error in that module")
    if isinstance(obj, type) and (issubclass(obj, BaseCache) or (
            issubclass(obj, CachelibCache) and "cachelib" in path)):
        return None
    what = (f"the class {obj.__module__}.{obj.__qualname__}" if isinstance(obj, type)
            else f"a {type(obj).__module__}.{type(obj).__qualname__}")
    if isinstance(obj, type) or not callable(obj):
        return (f"--backend {path!r} is {what}, not a cache backend; name a subclass of "
                "flask_caching.backends.base.BaseCache, e.g. "
                "apps.custom_backends.PerProcessFileSystemCache")
    try:
        inspect.signature(obj).bind(None, None, None, None)
    except TypeError:
        return (f"--backend {path!r} is {what}, which Flask-Caching would call as a factory "
                "with (app, config, args, options), and it does not take those; name a "
                "subclass of flask_caching.backends.base.BaseCache")
    except ValueError:
        pass  # no signature to read (a builtin): Flask-Caching will tell at boot
    return None


def _memoized(target: str) -> Any:
    """The object ``target`` names (as :func:`.targets.resolve` finds it), or a problem."""
    module, _, qualname = target.partition(":")
    try:
        obj: Any = importlib.import_module(module)
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is the answer
        return (f"--memoized {target!r}: importing {module!r} raised {type(exc).__name__}: "
                f"{exc}; fix the error in the module, or the module path")
    done = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except BaseException as exc:  # noqa: BLE001 - a property may raise anything
            why = (f"{done} has no attribute {part!r}" if isinstance(exc, AttributeError)
                   else f"reading {done}.{part} raised {type(exc).__name__}: {exc}")
            return (f"--memoized {target!r}: {why}; name a @cache.memoize function or method "
                    "as MODULE:QUALNAME, e.g. apps.features:NAMED_PRICES.price")
        done = f"{done}{':' if done == module else '.'}{part}"
    func = getattr(obj, "__func__", obj)
    if not hasattr(func, "make_cache_key") or not hasattr(func, "uncached"):
        return (f"--memoized {target!r} is not decorated with @cache.memoize; name a "
                "memoized function or method, e.g. apps.features:NAMED_PRICES.price")
    try:
        # A method named through its class (Class.method) needs its self.
        return _targets.resolve(target).call
    except LookupError as exc:
        return f"--memoized {target!r}: {exc}"


def _cached_views(app: Any) -> dict[str, Any]:
    """The URL rule of each ``@cache.cached`` view, by endpoint (as app-views finds them)."""
    views = {}
    for rule in app.url_map.iter_rules():
        if _targets.cached_view(app.view_functions.get(rule.endpoint), rule) is not None:
            views[rule.endpoint] = rule
    return views


def _samples_problem(app: Any, samples: dict[str, Any], resolved: dict[str, Any]) -> str | None:
    views = _cached_views(app)
    for name, value in samples.items():
        given = f"--sample-args {name + '=' + json.dumps(value)!r}"
        if name in resolved:
            fn = resolved[name]
            if fn is None:
                continue
            args, kwargs = (list(value), {}) if isinstance(value, list) else ([], dict(value))
            if hasattr(fn, "__self__"):
                args.insert(0, fn.__self__)
            func = getattr(fn, "__func__", fn)
            try:
                inspect.signature(func.uncached).bind(*args, **kwargs)
            except TypeError as exc:
                return (f"{given}: {name} cannot be called with these arguments ({exc}); give "
                        "a JSON list of its arguments, e.g. 'NAME=[3]', or an object of its "
                        "keyword arguments")
            except ValueError:
                pass
        elif name in views:
            rule = views[name]
            if not isinstance(value, dict):
                return (f"{given}: {name!r} is a cached view, which takes a JSON object of its "
                        f"URL values ({', '.join(sorted(rule.arguments)) or 'it has none'}), "
                        f"e.g. '{name}={{\"item_id\": 7}}'")
            unknown = sorted(set(value) - set(rule.arguments))
            if unknown:
                return (f"{given}: the URL {rule.rule} of view {name!r} has no "
                        f"{', '.join(map(repr, unknown))}; use its values: "
                        f"{', '.join(sorted(rule.arguments)) or 'it has none'}")
        else:
            known = [*resolved, *views]
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            return (f"{given} names neither a cached view of the app nor a memoized function "
                    "(its own or --memoized); "
                    f"{hint}use one of: {', '.join(known) or 'none (name one with --memoized)'}")
    return None
