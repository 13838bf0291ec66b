"""Linearizability of a cache history, one register per key: the Wing–Gong–Lowe search.

A history is linearizable when every operation can be given one instant
between its invocation and its completion such that, taken in that order,
the results agree with a plain register per key.  The search is Lowe's
refinement of Wing and Gong's algorithm ("Testing for linearizability",
2017), laid out as Porcupine lays it out: call and return entries in one
doubly linked list, lifted out as operations are linearized and put back on
backtracking, with every (set of linearized ops, register state) visited
once.  Keys are independent (P-compositionality), so each key is searched on
its own; a ``clear`` writes "absent" to every key and so joins every key's
search.

Jepsen's completion types carry over: ``fail`` did not happen and is
dropped; ``info`` may have taken effect at any instant after it started, or
never.  The search has a step budget, and a history it could not finish is
``unknown``, never ``holds``.  A violation comes with a counterexample: the
ops the search could not get past (the culprits) and a small window of ops
before them that, on its own, cannot be linearized either.

The model follows what cachelib returns, and no more: ``delete``'s answer
differs between backends, so only its effect counts; a ``set`` answering
False or an ``inc`` answering None may or may not have reached the store,
so they count as ``info``; a stored None reads as absent and is modelled so.

:func:`classify` runs the search twice, once over all workers and once per
worker, which is how a cache with one private store per worker
(SimpleCache) reads as ``per-worker`` rather than broken.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..history import History, Op
from ..verdict import Verdict

_INF = float("inf")
_MAX_SAMPLES = 5
#: Counterexample windows longer than this are cut short in the evidence.
_MAX_WINDOW_SHOWN = 20

# Small ints rather than strings: the search loop dispatches on them.
_GET, _SET, _DELETE, _ADD, _INC, _HAS = range(6)
_KINDS = {"get": _GET, "set": _SET, "delete": _DELETE, "add": _ADD, "inc": _INC,
          "has": _HAS, "clear": _DELETE}


class _Unseen:
    """A register state a counterexample window has not observed yet."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: Any value, or absent; the first operation to observe it pins it down.
_ANY = _Unseen("<any>")
#: Some value, not absent (observed by ``has`` or a failed ``add``).
_PRESENT = _Unseen("<present>")


@dataclass(frozen=True, slots=True)
class _Call:
    """One operation as the search sees it.

    ``out`` is the result to match; for ``add`` and ``inc`` None means "any
    result".  An ``info`` call has ``end`` = infinity and need not happen.
    """

    index: int
    kind: int
    arg: Any
    out: Any
    start: float
    end: float
    info: bool


def _freeze(value: Any) -> Any:
    """A hashable stand-in for a cached value; bools are tagged so True != 1."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, list | tuple):
        return ("list", tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", frozenset((k, _freeze(v)) for k, v in value.items()))
    return value


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str | bytes):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _loose_eq(read: Any, state: Any) -> bool:
    """A counter read back as text (some backends store inc'ed keys as digits)."""
    return state.__class__ is int and isinstance(read, str | bytes) and _as_int(read) == state


def _compile(index: int, op: Op) -> _Call | None:
    """The search's view of ``op``, or None when it constrains nothing."""
    if op.f not in _KINDS:
        raise ValueError(f"operation #{index} is {op.f!r}, outside the register model "
                         f"({', '.join(_KINDS)}); filter the history before checking it")
    if op.type == "fail":
        return None
    if op.end < op.start and op.type == "ok":
        raise ValueError(f"operation #{index} completed at {op.end!r}, before it was invoked "
                         f"at {op.start!r}; start and end must come from one monotonic clock")
    kind = _KINDS[op.f]
    info = op.type == "info"
    if info and kind in (_GET, _HAS):
        return None  # a read that may not have happened says nothing
    arg: Any = None
    out: Any = None
    if kind in (_SET, _ADD):
        arg = _freeze(op.args.get("value"))
    elif kind == _INC:
        arg = int(op.args.get("delta", 1))
    if not info:
        if kind == _GET:
            out = _freeze(op.value)
        elif kind in (_HAS, _ADD):
            out = bool(op.value)
        elif kind == _INC:
            # cachelib answers None when the backend refused the increment.
            info = op.value is None
            out = _as_int(op.value)
            if out is None and not info:
                raise ValueError(f"operation #{index} inc returned {op.value!r}, not a number; "
                                 "the register model expects the new integer value")
        elif kind == _SET:
            # A set answering False may still have reached the store.
            info = op.value is False
    return _Call(index=index, kind=kind, arg=arg, out=out, start=op.start,
                 end=_INF if info else op.end, info=info)


def _step_unseen(state: _Unseen, kind: int, arg: Any, out: Any) -> tuple[bool, Any]:
    """The register step from a state not yet observed: the first look decides it."""
    if kind == _SET:
        return True, arg
    if kind == _DELETE:
        return True, None
    if state is _ANY:
        if kind == _GET:
            return True, out
        if kind == _HAS:
            return True, _PRESENT if out else None
        if kind == _ADD:
            return True, _ANY if out is None else (arg if out else _PRESENT)
        return True, _PRESENT if out is None else out
    if kind == _GET:
        return out is not None, out
    if kind == _HAS:
        return out is True, state
    if kind == _ADD:
        return out is not True, state
    return True, _PRESENT if out is None else out


#: Info-op sets kept per (ok ops, state) for the subset test; more go to a plain set.
_DOMINATORS = 8


def _search(calls: Sequence[_Call], *, initial: Any, limit: int,
            deadline: float | None) -> tuple[bool | None, int, float]:
    """Lowe's search: True (linearizable), False (not) or None (budget spent).

    Also returns the steps taken and the frontier: the latest return the
    search was ever stuck at.  Every op returning earlier was linearized on
    some path, so the ops returning at the frontier are the culprits.

    Ok ops live in the linked list as call and return entries.  Info ops
    have no return, so they sit apart, sorted by start, and are tried only
    after every ok candidate: not using an info op is never worse than using
    it, and trying that first lets the memo prune the rest.
    """
    events = sorted([(c.start, 0, i) for i, c in enumerate(calls) if not c.info]
                    + [(c.end, 1, i) for i, c in enumerate(calls) if not c.info])
    infos = sorted((c.start, i) for i, c in enumerate(calls) if c.info)
    info_start = [t for t, _ in infos]
    info_ids = [i for _, i in infos]
    n_info = len(infos)
    # Info ops alike (same kind and argument) are interchangeable, the
    # earlier-started one being available whenever the later is: use them
    # in start order only, or every subset of a pile of info incs is a
    # configuration of its own.
    twin = [-1] * n_info
    last: dict[tuple[int, Any], int] = {}
    for j, i in enumerate(info_ids):
        alike = (calls[i].kind, calls[i].arg)
        twin[j] = last.get(alike, -1)
        last[alike] = j
    m = len(events)
    tail = m + 1
    # Node 0 is the head, 1..m the entries in time order: calls before
    # returns on ties, so touching intervals count as concurrent.
    nxt = [*range(1, m + 2), tail]
    prv = [0, *range(0, m + 1)]
    op_of = [0] * (m + 2)
    at = [0.0] * (m + 2)
    is_call = [False] * (m + 2)
    ret = [0] * (m + 2)
    ret_node: dict[int, int] = {}
    for node, (t, is_ret, i) in enumerate(events, 1):
        op_of[node] = i
        at[node] = t
        if is_ret:
            ret_node[i] = node
        else:
            is_call[node] = True
    for node in range(1, m + 1):
        if is_call[node]:
            ret[node] = ret_node[op_of[node]]
    kind = [c.kind for c in calls]
    arg = [c.arg for c in calls]
    out = [c.out for c in calls]
    bit = [1 << i for i in range(len(calls))]
    remaining = m // 2
    state = initial
    okbits = infobits = 0
    horizon = 0.0  # the first pending return: info ops starting later must wait
    # A cursor > 0 is a list node; -(j + 1) is the j-th info op.
    stack: list[tuple[int, Any, float]] = []
    # (ok ops, state) -> info-op sets reached with them; see below.
    seen: dict[tuple[int, Any], list[int]] = {}
    overflow: set[tuple[int, int, Any]] = set()
    cursor = nxt[0]
    steps = 0
    frontier = -_INF
    while remaining:
        steps += 1
        if steps > limit or (deadline is not None and not steps & 1023
                             and time.monotonic() > deadline):
            return None, steps, frontier
        back = False
        i = -1
        if cursor > 0:
            if is_call[cursor]:
                i = op_of[cursor]
            elif n_info:
                horizon, cursor = at[cursor], -1
                continue
            else:
                back = True
                frontier = max(frontier, at[cursor])
        else:
            j = -cursor - 1
            while j < n_info and (infobits & bit[info_ids[j]] or (
                    twin[j] >= 0 and not infobits & bit[info_ids[twin[j]]])):
                j += 1
            if j < n_info and info_start[j] <= horizon:
                cursor, i = -(j + 1), info_ids[j]
            else:
                back = True
                frontier = max(frontier, horizon)
        if back:
            # Every candidate before the first pending return was tried.
            if not stack:
                return False, steps, frontier
            cursor, state, horizon = stack.pop()
            if cursor > 0:
                okbits ^= bit[op_of[cursor]]
                remaining += 1
                r = ret[cursor]
                nxt[prv[r]] = r
                prv[nxt[r]] = r
                nxt[prv[cursor]] = cursor
                prv[nxt[cursor]] = cursor
                cursor = nxt[cursor]
            else:
                infobits ^= bit[info_ids[-cursor - 1]]
                cursor -= 1
            continue
        k = kind[i]
        new: Any = state
        if state.__class__ is _Unseen:
            ok, new = _step_unseen(state, k, arg[i], out[i])
        elif k == _GET:
            ok = out[i] == state or _loose_eq(out[i], state)
        elif k == _SET:
            ok, new = True, arg[i]
        elif k == _DELETE:
            ok, new = True, None
        elif k == _ADD:
            if state is None:
                ok, new = out[i] is not False, arg[i]
            else:
                ok = out[i] is not True
        elif k == _INC:
            if state is None:
                new = arg[i]
            elif state.__class__ is int:
                new = state + arg[i]
            else:
                new = None  # not a number: the increment cannot succeed
            ok = new is not None and (out[i] is None or out[i] == new)
        else:
            ok = out[i] == (state is not None)
        if ok:
            if cursor > 0:
                ob, ib = okbits | bit[i], infobits
            else:
                ob, ib = okbits, infobits | bit[i]
            # Memoisation, widened for info ops: a configuration is pruned
            # when one with the same ok ops and state but a subset of its
            # info ops was reached before, since anything it can still do,
            # that one can too.  With no info ops this is Lowe's plain memo.
            found = seen.get((ob, new))
            if found is None:
                seen[(ob, new)] = [ib]
            else:
                for used in found:
                    if not used & ~ib:
                        ok = False
                        break
                else:
                    if len(found) < _DOMINATORS:
                        found.append(ib)
                    elif (ob, ib, new) in overflow:
                        ok = False
                    else:
                        overflow.add((ob, ib, new))
        if ok:
            stack.append((cursor, state, horizon))
            state, okbits, infobits = new, ob, ib
            if cursor > 0:
                remaining -= 1
                p, q = prv[cursor], nxt[cursor]
                nxt[p], prv[q] = q, p
                r = ret[cursor]
                p, q = prv[r], nxt[r]
                nxt[p], prv[q] = q, p
            cursor = nxt[0]
        elif cursor > 0:
            cursor = nxt[cursor]
        else:
            cursor -= 1
    return True, steps, frontier


class _Budget:
    """Steps and wall clock shared by every search one check makes."""

    def __init__(self, steps: int, deadline: float | None) -> None:
        self.left = steps
        self.deadline = deadline
        self.used = 0
        #: Where the last search got stuck; see :func:`_search`.
        self.frontier = -_INF

    def spent(self) -> bool:
        return self.left <= 0 or (self.deadline is not None and time.monotonic() > self.deadline)

    def search(self, calls: Sequence[_Call], initial: Any, cap: int | None = None) -> bool | None:
        if self.spent():
            return None
        limit = self.left if cap is None else min(cap, self.left)
        result, steps, self.frontier = _search(calls, initial=initial, limit=limit,
                                               deadline=self.deadline)
        self.left -= steps
        self.used += steps
        return result


@dataclass(frozen=True, kw_only=True)
class _Window:
    """The ops a counterexample rests on, and how far shrinking got."""

    calls: list[_Call]
    culprits: set[int]
    initial: str
    minimal: bool


def _prefix(calls: Sequence[_Call], cut: float) -> list[_Call]:
    """The history as it stood at ``cut``: ops still running become ``info``.

    Ops that start later cannot explain anything that returned by ``cut``.
    """
    kept = []
    for c in calls:
        if c.start > cut:
            continue
        if c.end > cut and not c.info:
            if c.kind in (_GET, _HAS):
                continue
            c = replace(c, info=True, out=None, end=_INF)
        kept.append(c)
    return kept


def _shrink(calls: Sequence[_Call], frontier: float, budget: _Budget) -> _Window:
    """A small window of ``calls`` that cannot be linearized, found within ``budget``.

    The culprits are the ops returning at the search's frontier.  The window
    grows backwards from them, 1, 2, 4, ... ops, until it fails on its own
    from any initial value while failing no longer without the culprits, so
    it explains the culprits' results rather than some other contradiction;
    then ops are dropped one at a time while that stays true.  Should no
    window fail from every initial value, the violation rests on the key
    starting absent, and the whole history up to the frontier is shrunk.
    """
    window = _prefix(calls, frontier)
    culprits = [c for c in window if not c.info and c.end == frontier]
    culprit_ids = {c.index for c in culprits}
    earlier = sorted((c for c in window if c.index not in culprit_ids),
                     key=lambda c: (c.start, c.index))

    def still_fails(rest: list[_Call], initial: Any) -> bool:
        return (budget.search(rest + culprits, initial) is False
                and budget.search(rest, initial) is True)

    initial: Any = None
    rest = earlier
    size = 0
    while not budget.spent():
        if still_fails(earlier[len(earlier) - size:], _ANY):
            initial, rest = _ANY, earlier[len(earlier) - size:]
            break
        if size == len(earlier):
            break
        size = min(len(earlier), max(1, 2 * size))
    minimal = False
    while not budget.spent():
        changed = False
        for c in list(reversed(rest)):
            trial = [x for x in rest if x is not c]
            if still_fails(trial, initial):
                rest, changed = trial, True
        if not changed:
            minimal = not budget.spent()
            break
    # The window need not say where a stale value came from, but a reader
    # wants to see it: add the last write of each value a culprit read.
    source = {c.arg: c for c in earlier if c.kind in (_SET, _ADD)}
    shown = {c.index: c for c in rest + culprits}
    for c in culprits:
        if c.kind == _GET and c.out in source and not any(
                x.kind in (_SET, _ADD) and x.arg == c.out for x in shown.values()):
            shown[source[c.out].index] = source[c.out]
    return _Window(calls=sorted(shown.values(), key=lambda c: (c.start, c.index)),
                   culprits=culprit_ids, initial="any" if initial is _ANY else "absent",
                   minimal=minimal)


_Name = tuple[int | None, str]


def _partitions(history: History, by_worker: bool) -> tuple[dict[_Name, list[_Call]],
                                                            dict[str, int]]:
    keyed: dict[_Name, list[_Call]] = defaultdict(list)
    clears: list[tuple[int, _Call]] = []
    counts = {"ops": 0, "info_ops": 0, "failed_ops_dropped": 0}
    for index, op in enumerate(history.ops):
        call = _compile(index, op)
        if op.type == "fail":
            counts["failed_ops_dropped"] += 1
        if call is None:
            continue
        counts["ops"] += 1
        counts["info_ops"] += call.info
        if op.f == "clear":
            clears.append((op.pid, call))
        elif op.key is None:
            raise ValueError(f"operation #{index} {op.f!r} has no key; only clear may omit it")
        else:
            keyed[(op.pid if by_worker else None, op.key)].append(call)
    for (pid, _), calls in keyed.items():
        calls.extend(c for p, c in clears if not by_worker or p == pid)
    return dict(keyed), counts


def _describe(history: History, call: _Call) -> str:
    op = history.ops[call.index]
    args = "" if op.f == "clear" else repr(op.key)
    if op.f in ("set", "add"):
        args += f", {op.args.get('value')!r}"
    elif op.f == "inc":
        args += f", {op.args.get('delta', 1)!r}"
    if op.type == "info":
        result, end = "? (info)", "..."
    else:
        result, end = repr(op.value), f"{op.end:.4f}"
        if call.info:
            result += " (still running when the culprit returned: may not have happened)"
    return (f"#{call.index} process {op.process} pid {op.pid}: {op.f}({args}) -> {result} "
            f"[{op.start:.4f}, {end}]")


def _name(name: _Name) -> dict[str, Any]:
    pid, key = name
    return {"key": key} if pid is None else {"key": key, "pid": pid}


def check(history: History, *, by_worker: bool = False, max_steps: int = 2_000_000,
          max_steps_per_key: int = 500_000, shrink_steps: int = 200_000,
          deadline_s: float | None = None) -> Verdict:
    """Whether ``history`` is linearizable, one register per key (per worker and key).

    ``holds`` only when every key's search finished; a key whose search ran
    out of ``max_steps_per_key``, ``max_steps`` in all or ``deadline_s``
    makes the verdict ``unknown`` unless another key is ``violated``.  A
    violation comes with a counterexample, shrunk within ``shrink_steps``.
    """
    started = time.monotonic()
    deadline = None if deadline_s is None else started + deadline_s
    parts, counts = _partitions(history, by_worker)
    evidence: dict[str, Any] = {
        "model": "one register per worker and key" if by_worker else "one register per key",
        **counts,
        "keys": len({key for _, key in parts}),
        "partitions": len(parts),
    }
    if not parts:
        evidence["reason"] = "no ok or info operation on any key: nothing to judge"
        return Verdict(verdict="unknown", evidence=evidence)
    budget = _Budget(max_steps, deadline)
    violated: list[_Name] = []
    unknown: list[_Name] = []
    frontiers: dict[_Name, float] = {}
    # Small keys first, so one pathological key cannot starve the others.
    for name in sorted(parts, key=lambda n: (len(parts[n]), repr(n))):
        result = budget.search(parts[name], None, cap=max_steps_per_key)
        if result is None:
            unknown.append(name)
        elif result is False:
            violated.append(name)
            frontiers[name] = budget.frontier
    evidence.update(steps=budget.used, violated_keys=len(violated), unknown_keys=len(unknown))
    if violated:
        shrink = _Budget(shrink_steps, deadline)
        window = _shrink(parts[violated[0]], frontiers[violated[0]], shrink)
        # An unshrunk window is long; the ops nearest the culprits matter most.
        shown = [c for n, c in enumerate(window.calls)
                 if n >= len(window.calls) - _MAX_WINDOW_SHOWN or c.index in window.culprits]
        evidence["counterexample"] = {
            **_name(violated[0]),
            "ops": [c.index for c in shown],
            "culprits": sorted(window.culprits),
            "describe": [_describe(history, c) for c in shown],
            "size": len(window.calls),
            # "any": fails whatever the key held before the window; "absent":
            # fails only because the key started absent.
            "initial": window.initial,
            "minimal": window.minimal,
        }
        evidence["violated_samples"] = [_name(n) for n in violated[:_MAX_SAMPLES]]
        evidence["shrink_steps"] = shrink.used
    if unknown:
        evidence["unknown_samples"] = [_name(n) for n in unknown[:_MAX_SAMPLES]]
        evidence["reason"] = (f"search budget spent on {len(unknown)} of {len(parts)} partitions "
                              f"(max_steps={max_steps}, max_steps_per_key={max_steps_per_key}, "
                              f"deadline_s={deadline_s})")
    evidence["seconds"] = round(time.monotonic() - started, 3)
    verdict = "violated" if violated else "unknown" if unknown else "holds"
    return Verdict(verdict=verdict, evidence=evidence)


def classify(history: History, *, max_steps: int = 2_000_000,
             max_steps_per_key: int = 500_000, deadline_s: float | None = None) -> Verdict:
    """``holds``, ``per-worker``, ``violated`` or ``unknown``: how far linearizability reaches.

    A cache with one store per worker fails the global check but passes the
    per-worker one, and that is a sharing finding, not a bug.  A proven
    global violation stands when the per-worker search is undecided
    (Jepsen's rule); an undecided global search is ``unknown`` whatever the
    per-worker one says, since the history might yet be linearizable.
    """
    budget: dict[str, Any] = {"max_steps": max_steps, "max_steps_per_key": max_steps_per_key,
                              "deadline_s": deadline_s}
    whole = check(history, **budget)
    if whole.verdict != "violated":
        return Verdict(verdict=whole.verdict, evidence={"global": whole.evidence})
    each = check(history, by_worker=True, **budget)
    evidence: dict[str, Any] = {"global": whole.evidence, "per_worker": each.evidence}
    if each.verdict == "holds":
        evidence["finding"] = "per-worker linearizable: each worker has its own register"
        return Verdict(verdict="per-worker", evidence=evidence)
    if each.verdict == "unknown":
        evidence["finding"] = "not linearizable; whether per worker is undecided"
    return Verdict(verdict="violated", evidence=evidence)
