"""The app's own Flask-Caching targets: what a wrapper is, which cache it uses, and ``self``.

Flask-Caching marks both of its wrappers the same way: ``cached`` and
``memoize`` put ``uncached``, ``cache_timeout`` and ``make_cache_key`` on
the function they return (flask_caching/__init__.py, 2.0.0:499-501 and
893-895; 2.5.1:812-814 and 1298-1300).  They differ in the name of that
``make_cache_key``: ``cached`` sets its local ``default_make_cache_key``,
``memoize`` the ``make_cache_key`` built by ``_memoize_make_cache_key``
(2.0.0:593, 2.5.1:925), so the name tells them apart in every release.
The ``Cache`` a wrapper belongs to is its closure's ``self``, since the
wrapper calls ``self._bypass_cache`` first (``cached`` 2.0.0:355,
2.5.1:598; ``memoize`` 2.0.0:830, 2.5.1:1216).
``functools.wraps`` copies those attributes onto any wrapper put in front
(``lru_cache`` too), which is what the app's own code then calls.

A memoized method named ``module:Class.method`` needs an instance:
:func:`resolve` finds a module-level instance of the class, or builds one
with no arguments, and says which.  Runs in the app's interpreter.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

#: The package this runs as in the app's interpreter: never the app's own code.
_OWN = __name__.rpartition(".")[0]


def marked(obj: Any) -> str | None:
    """``"cached"`` or ``"memoized"`` for a Flask-Caching wrapper (or one in front of it)."""
    maker = getattr(obj, "make_cache_key", None)
    if not hasattr(obj, "uncached") or maker is None:
        return None
    name = getattr(maker, "__name__", "")
    if name == "default_make_cache_key":
        return "cached"
    if name == "make_cache_key":
        return "memoized"
    return None


def _is_wrapper(fn: Any) -> bool:
    code = getattr(fn, "__code__", None)
    return code is not None and code.co_name == "decorated_function" \
        and Path(code.co_filename).parent.name == "flask_caching"


def wrapper_of(obj: Any) -> Any:
    """The Flask-Caching wrapper itself: ``obj``, or one it wraps (``__wrapped__``)."""
    fn = getattr(obj, "__func__", obj)
    for _ in range(32):
        if _is_wrapper(fn):
            return fn
        fn = getattr(fn, "__wrapped__", None)
        if fn is None:
            break
    return None


def cache_of(obj: Any) -> Any:
    """The ``Cache`` instance whose ``cached``/``memoize`` made ``obj``, or None."""
    fn = wrapper_of(obj)
    if fn is None:
        return None
    return inspect.getclosurevars(fn).nonlocals.get("self")


def innermost(obj: Any) -> Any:
    """The undecorated function: ``uncached``, followed through nested Flask-Caching wrappers."""
    fn = getattr(obj, "__func__", obj).uncached
    for _ in range(32):
        if not (marked(fn) and _is_wrapper(fn)):
            break
        fn = fn.uncached
    return fn


def method_of(rule: Any) -> str:
    """The HTTP method a call of ``rule`` uses: GET when it takes GET, else its first."""
    methods = sorted(set(rule.methods or ()) - {"HEAD", "OPTIONS"})
    return "GET" if "GET" in methods or not methods else methods[0]


def cached_view(view: Any, rule: Any) -> Any:
    """The ``@cache.cached`` wrapper serving ``rule``'s view, or None.

    The view itself, or for a class-based view (``view_class``: Flask's
    View and MethodView, Flask-RESTX resources) its cached method for the
    rule's HTTP method, or its cached ``dispatch_request``.
    """
    if marked(view) == "cached":
        return view
    cls = getattr(view, "view_class", None)
    for name in (method_of(rule).lower(), "dispatch_request") if cls is not None else ():
        method = getattr(cls, name, None)
        if marked(method) == "cached":
            return method
    return None


class Resolved(NamedTuple):
    """A target's callable as the app calls it, and where its ``self`` came from."""

    call: Any
    self_from: str | None


def _walk(target: str) -> tuple[Any, Any, str]:
    """The object ``module:qualname`` names, the object holding it, and its last name."""
    module, _, qualname = target.partition(":")
    holder: Any = None
    obj: Any = importlib.import_module(module)
    part = ""
    for part in qualname.split("."):
        holder, obj = obj, getattr(obj, part)
    return obj, holder, part


def needs_self(obj: Any) -> bool:
    """A plain function whose first parameter is ``self``: a method reached through its class."""
    if hasattr(obj, "__self__") or not hasattr(obj, "uncached"):
        return False
    try:
        names = list(inspect.signature(innermost(obj)).parameters)
    except (TypeError, ValueError):
        return False
    return bool(names) and names[0] == "self"


def find_self(cls: type) -> tuple[Any, str] | str:
    """An instance of ``cls`` and where it came from, or why there is none.

    A module-level instance in the class's own module first (the object the
    app's code calls), then a construction with no arguments.
    """
    module = sys.modules.get(cls.__module__)
    for name, value in list(vars(module).items()) if module is not None else []:
        if type(value) is cls:
            return value, f"module-level instance {cls.__module__}:{name}"
    try:
        return cls(), f"{cls.__qualname__}() (built with no arguments)"
    except Exception as exc:  # noqa: BLE001 - any failure of user code is the answer
        return (f"{cls.__module__} has no module-level instance of {cls.__qualname__}, and "
                f"{cls.__qualname__}() raised {type(exc).__name__}: {exc}")


def resolve(target: str) -> Resolved:
    """``target``'s callable, bound to an instance when it names ``Class.method``.

    Raises LookupError (with the fix) when a method's ``self`` cannot be found.
    """
    obj, holder, attr = _walk(target)
    if isinstance(holder, type) and needs_self(obj):
        found = find_self(holder)
        if isinstance(found, str):
            module = target.partition(":")[0]
            raise LookupError(f"{target} is a method and {found}; name an instance instead: "
                              f"--memoized {module}:instance.{attr}")
        instance, where = found
        return Resolved(call=getattr(instance, attr), self_from=where)
    return Resolved(call=obj, self_from=None)


def _library_paths() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(str(Path(paths[k]).resolve()) for k in ("stdlib", "platstdlib", "purelib",
                                                        "platlib") if k in paths)


def app_modules(import_name: str) -> list[ModuleType]:
    """The modules of the app's own code.

    The app's own top-level package (from the Flask app's ``import_name``),
    wherever it is installed, and every module outside the standard
    library, site-packages and this package.
    """
    top = import_name.partition(".")[0]
    libraries = _library_paths()
    found = []
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if module is None or not path or name == "__main__" \
                or name == _OWN or name.startswith(_OWN + "."):
            continue
        if name != top and not name.startswith(top + "."):
            resolved = str(Path(path).resolve())
            parts = Path(resolved).parts
            if "site-packages" in parts or "dist-packages" in parts \
                    or resolved.startswith(libraries):
                continue
        found.append(module)
    return found


def memoized_in(module: ModuleType) -> list[str]:
    """``module:name`` of each ``@cache.memoize`` function and method defined in ``module``."""
    names = []
    for attr, value in list(vars(module).items()):
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if marked(value) == "memoized" and not isinstance(value, type):
            names.append(f"{module.__name__}:{attr}")
        elif isinstance(value, type) and value.__qualname__ == attr:
            for name, raw in list(vars(value).items()):
                if marked(getattr(raw, "__func__", raw)) == "memoized":
                    names.append(f"{module.__name__}:{attr}.{name}")
    return names
