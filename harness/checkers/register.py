"""The sequential model of one cache key, as Flask-Caching over cachelib behaves.

A :class:`~.model.Model`, as Porcupine's: :meth:`RegisterModel.init`,
:meth:`~RegisterModel.step` (state, input, output) -> the possible next states,
:meth:`~RegisterModel.partition` (per key, or per worker and key) and
:meth:`~RegisterModel.key`.  :mod:`.linearizable` is handed it, and the search
(:mod:`.wgl`) knows nothing of keys, values or operation names.

Where cachelib's backends disagree, the model accepts what *any* of them
does (SimpleCache, FileSystemCache, RedisCache, MemcachedCache with
python-memcached), so a ``violated`` verdict is true whichever was checked.
The callers (:mod:`.races`, the scenarios) do not say which backend ran, so a
model per backend could not be chosen.  The choices, with the upstream code
they follow (paths below ``site-packages/``):

* **States are exact.**  ``1``, ``1.0`` and ``True`` are three states: every
  backend pickles floats and bools and gives them back with their type
  (``cachelib/serializers.py:69-72``, ``memcache.py:981-993``), and reads
  compare with the type.  Values are frozen into type-tagged, hashable
  forms, so the search's memo cannot merge states the model tells apart.
* **A stored None is present.**  Every backend pickles it, so ``has`` is
  True and ``add`` refuses (``cachelib/simple.py:113-119``,
  ``cachelib/redis_base.py:149-150``, ``cachelib/file.py:231-237``); only
  ``get`` cannot tell it from a miss.  Absent and stored-None are two states.
* **inc** follows ``BaseCache.inc`` (``cachelib/base.py:217``: ``(get or 0)
  + delta``, then ``set``), which SimpleCache, FileSystemCache and
  MemcachedCache use (``cachelib/memcached.py:229``): a falsy value (None,
  False, 0, 0.0, "", [], {}) counts as 0, True as 1, a float stays a float,
  and a non-empty str, list or dict raises TypeError (HTTP 500).  RedisCache
  runs INCRBY (``cachelib/redis_base.py:162-163``), which agrees on absent
  and int values and refuses anything pickled (HTTP 500).  A refusal leaves
  the value unchanged and is recorded ``info``, so an answered ``inc`` has
  the BaseCache result or no effect.  An ``inc`` answering None
  (``base.py:218``: the ``set`` failed) may or may not have stored.
* **Negative answers of writes are uncertain.**  cachelib documents False as
  "backend error" for ``set`` and ``add`` (``cachelib/base.py:124-125,
  142-143``), and FileSystemCache's ``set`` can fail after ``os.replace``
  stored the file (``cachelib/file.py:257-275``), so ``add`` -> False on an
  absent key may have stored; ``clear`` -> False (``file.py:189-202``) may
  have removed some files; ``delete`` -> False is "not deleted" or "was not
  there" (``file.py:282-289``, ``redis_base.py:131-132``).  Each such op has
  its effect within its own interval, or none.
* **Reads are taken at face value.**  A ``get`` of None or a ``has`` of
  False is a miss, even where a backend masks an error as a miss
  (``cachelib/file.py:221-229``): that is what the application saw.  A
  counter stored as digits (``str(n)``) reads as its int.
* **clear is checked per key.**  Each key's search places a ``clear`` on its
  own, as if it deleted that key at some instant within its interval.  That
  is exactly what FileSystemCache (file by file, ``file.py:189-204``) and a
  prefixed RedisCache (KEYS, then DEL, ``redis_base.py:152-160``) promise;
  memcached's flush_all and SimpleCache's locked ``dict.clear`` are atomic,
  and for them per-key checking is weaker: it misses a clear seen at
  different instants by different keys.  It never reports a false violation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from typing import Any

from ..history.names import OPS
from ..history.ops import History, Op
from .model import Part, Spec

# Small ints rather than strings: the step dispatches on them.
GET, SET, DELETE, ADD, INC, HAS, CLEAR = range(7)
KINDS = {"get": GET, "set": SET, "delete": DELETE, "add": ADD, "inc": INC, "has": HAS,
         "clear": CLEAR}
_READS = (GET, HAS)
_WRITES = tuple(KINDS[k.name] for k in OPS.values() if k.stores_arg)


class _Mark:
    """A named singleton: an output or a state that is not a cached value."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The output of an op whose answer says nothing (``info``, or a negative
#: answer of a write): any of its effects, or none, may have happened.
UNKNOWN = _Mark("<unknown>")
#: The state of a key holding None, which is not the same as absent.
NULL = ("null",)
#: A state a counterexample window has not observed yet: absent or any value.
ANY = _Mark("<any>")
#: Some stored value, not observed yet (seen by ``has`` or a refused ``add``).
PRESENT = _Mark("<present>")

State = Any
Input = tuple[int, Any]


def freeze(value: Any) -> Any:
    """A hashable, type-exact stand-in for a JSON value: ``1``, ``1.0``, ``True`` differ.

    ints and strs stay themselves (they never compare equal to each other);
    floats and bools are tagged, floats by their exact hex form.
    """
    if value is None or value.__class__ in (int, str):
        return value
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, list | tuple):
        return ("list", tuple(freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", frozenset((k, freeze(v)) for k, v in value.items()))
    raise TypeError(f"value {value!r} of type {type(value).__name__} cannot come from JSON")


def _stored(value: Any) -> Any:
    """The state a write of ``value`` leaves."""
    return NULL if value is None else freeze(value)


def _digits(text: str) -> int | None:
    """The int whose ``str`` is ``text``, if any."""
    try:
        n = int(text)
    except ValueError:
        return None
    return n if str(n) == text else None


def reads_as(state: State, out: Any) -> bool:
    """Whether a ``get`` answering ``out`` (frozen) agrees with ``state``."""
    if state is None or state is NULL:
        return out is None
    return out == state or (state.__class__ is int and out.__class__ is str and out == str(state))


def inc_result(state: State, delta: int) -> Any:
    """``BaseCache.inc``'s new value (frozen) from ``state``, or None where it raises."""
    if state is None or state is NULL:
        return delta
    c = state.__class__
    if c is int:
        return state + delta
    if c is str:
        return None if state else delta
    tag, v = state
    if tag == "bool":
        return int(v) + delta
    if tag == "float":
        f = float.fromhex(v)
        # ``0.0 or 0`` is the int 0: a zero float counts like absent.
        return freeze(f + delta) if f else delta
    return None if v else delta  # list, dict


def _step(state: State, kind: int, arg: Any, out: Any) -> tuple[State, ...]:
    """The step from a known state: absent (None), NULL or a frozen value."""
    if kind == GET:
        return (state,) if reads_as(state, out) else ()
    if kind == HAS:
        return (state,) if out is UNKNOWN or out == (state is not None) else ()
    if kind == SET:
        return (arg,) if out is True else (state, arg)
    if kind in (DELETE, CLEAR):
        return (None,) if out is True or state is None else (None, state)
    if kind == ADD:
        if state is not None:
            return () if out is True else (state,)
        return (arg,) if out is True else (None, arg)
    new = inc_result(state, arg)
    if out is UNKNOWN:
        return (state,) if new is None else (state, new)
    return (new,) if new is not None and new == out and new.__class__ is out.__class__ else ()


def _step_present(kind: int, arg: Any, out: Any) -> tuple[State, ...]:
    """The step from a stored value nobody has seen: the first look decides it."""
    if kind == GET:
        if out is None:
            return (NULL,)
        n = _digits(out) if out.__class__ is str else None
        return (out,) if n is None else (out, n)
    if kind == HAS:
        return () if out is False else (PRESENT,)
    if kind == ADD:
        return () if out is True else (PRESENT,)
    if kind == SET:
        return (arg,) if out is True else (PRESENT, arg)
    if kind in (DELETE, CLEAR):
        return (None,) if out is True else (None, PRESENT)
    if out is UNKNOWN:
        return (PRESENT,)
    # Any int or float is some present value plus delta.
    return (out,) if out.__class__ is int or (out.__class__ is tuple and out[0] == "float") \
        else ()


class RegisterModel:
    """One cache key as cachelib's backends behave; see the module docstring."""

    name = "register"

    def init(self) -> State:
        """A key nobody has written: absent."""
        return None

    def unconstrained(self) -> State:
        """A key in any state, absent or holding any value."""
        return ANY

    def step(self, state: State, inp: Input, out: Any) -> tuple[State, ...]:
        """Every state ``inp`` can leave when it answered ``out``; none if it could not."""
        kind, arg = inp
        if state is ANY:
            return _step(None, kind, arg, out) + _step_present(kind, arg, out)
        if state is PRESENT:
            return _step_present(kind, arg, out)
        return _step(state, kind, arg, out)

    def key(self, state: State) -> Hashable:
        """States are frozen and type-tagged already, so a state is its own key."""
        return state  # type: ignore[no-any-return]

    def explains(self, writer: Input, reader: Input, out: Any) -> bool:
        """Whether ``writer`` stores what ``reader`` answered (to show where a value came from)."""
        return writer[0] in _WRITES and reader[0] == GET and out is not None \
            and reads_as(writer[1], out)

    def compile(self, index: int, op: Op) -> Spec | None:
        """The model's view of ``op``, or None when it constrains nothing."""
        if op.f not in KINDS:
            raise ValueError(f"operation #{index} is {op.f!r}, outside the register model "
                             f"({', '.join(KINDS)}); filter the history before checking it")
        if op.type == "fail":
            return None
        bounded = op.type == "ok" or op.answered
        if op.end < op.start and bounded:
            raise ValueError(f"operation #{index} completed at {op.end!r}, before it was "
                             f"invoked at {op.start!r}; start and end must come from one "
                             "monotonic clock")
        kind = KINDS[op.f]
        arg: Any = None
        if kind in _WRITES:
            arg = _stored(op.args.get("value"))
        elif kind == INC:
            arg = int(op.args.get("delta", 1))  # the app's own conversion (harness/app.py)
        out: Any = UNKNOWN
        if op.type == "ok":
            out = self._output(index, op, kind)
        if out is UNKNOWN and kind in _READS:
            return None  # a read whose answer we lack says nothing
        return Spec(input=(kind, arg), output=out, bounded=bounded, mutates=kind not in _READS)

    @staticmethod
    def _output(index: int, op: Op, kind: int) -> Any:
        """The answer of an ``ok`` op; the negative answers of writes say nothing."""
        if kind == GET:
            return freeze(op.value)
        if kind in (HAS, ADD, DELETE):
            return bool(op.value)
        if kind in (SET, CLEAR):
            return True if op.value else UNKNOWN
        if op.value is None:
            return UNKNOWN  # inc answers None when its set failed (cachelib/base.py:218)
        if isinstance(op.value, bool) or not isinstance(op.value, int | float):
            raise ValueError(f"operation #{index} inc returned {op.value!r}, not a number; "
                             "the register model expects the new value")
        return freeze(op.value)

    def partition(self, history: History, *, by_worker: bool) -> dict[Part, list[int]]:
        """Op indices per key (per worker and key); a ``clear`` joins every key it can reach."""
        keyed: dict[Part, list[int]] = defaultdict(list)
        clears: list[tuple[int, int]] = []
        for index, op in enumerate(history.ops):
            if op.f == "clear":
                clears.append((op.pid, index))
            elif op.key is None:
                raise ValueError(f"operation #{index} {op.f!r} has no key; only clear may "
                                 "omit it")
            else:
                keyed[(op.pid if by_worker else None, op.key)].append(index)
        for (pid, _), indices in keyed.items():
            indices.extend(i for p, i in clears if not by_worker or p == pid)
            indices.sort()
        return dict(keyed)


MODEL = RegisterModel()
