"""Linearizability of a cache history, key by key: the Wing–Gong–Lowe search.

A history is linearizable when every operation can be given one instant
between its invocation and its completion such that, taken in that order,
the results agree with a sequential model.  The search is Lowe's refinement
of Wing and Gong's algorithm ("Testing for linearizability", 2017), laid out
as Porcupine lays it out: call and return entries in one doubly linked list,
lifted out as operations are linearized and put back on backtracking, with
every (set of linearized ops, model state) visited once.  The search knows
only a :class:`Model` (Porcupine's ``Init``/``Step``/``Partition``/``Equal``);
:mod:`.register` is the model of one cache key, and its docstring says how it
follows cachelib.  Keys are independent (P-compositionality), so each key is
searched on its own.

Jepsen's completion types carry over: ``fail`` did not happen and is
dropped; ``info`` without a reply may take effect at any instant after it
started, or never; ``info`` with a reply, like a write answering False, took
effect within its own interval or not at all.  The search has a step
budget, and a history it could not finish is ``unknown``, never ``holds``.

A violation comes with a counterexample: the ops the search could not get
past (the culprits) and a small window of ops before them.  Every window is
re-checked on its own before it is reported: it must not be linearizable,
and must be once the culprits are taken out.  The evidence says whether
that held (``verified``) and, if no window could be verified, shows none.

:func:`classify` runs the search twice, once over all workers and once per
worker, which is how a cache with one private store per worker
(SimpleCache) reads as ``per-worker`` rather than broken.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ..history.ops import History, is_negative
from ..verdict import Verdict
from . import register

_INF = float("inf")
_MAX_SAMPLES = 5
#: A verified window longer than this is shown by its last ops only, if
#: those still fail on their own; otherwise only its culprits are shown.
_MAX_WINDOW_SHOWN = 40
#: Info-op sets kept per (ok ops, state) for the subset test; more go to a plain set.
_DOMINATORS = 8


class Model(Protocol):
    """A sequential specification, as Porcupine's ``Model`` (``Partition`` aside).

    ``step`` returns every state the op can leave having answered ``out``
    (none when it could not have); a nondeterministic model, like a write
    whose answer does not say whether it took effect, returns several.
    States need not be hashable: ``key`` gives what identifies them.
    """

    #: The output of an op whose answer is lost (cut off at a window's edge).
    unknown: Any

    def init(self) -> Any: ...

    def unconstrained(self) -> Any: ...

    def step(self, state: Any, inp: Any, out: Any) -> tuple[Any, ...]: ...

    def key(self, state: Any) -> Hashable: ...

    def explains(self, writer: Any, reader: Any, out: Any) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Call:
    """One operation as the search sees it.

    ``end`` is infinity for an op that got no reply: it may take effect at
    any time after ``start``, or never.  ``cut`` marks an op that replied
    only after a window's edge and is treated so within the window.
    """

    index: int
    inp: Any
    out: Any
    start: float
    end: float
    mutates: bool
    cut: bool = False


def _search(calls: Sequence[_Call], model: Model, *, initial: Any, limit: int,
            deadline: float | None) -> tuple[bool | None, int, float]:
    """Lowe's search: True (linearizable), False (not) or None (budget spent).

    Also returns the steps taken and the frontier: the latest return the
    search was ever stuck at.  Every op returning earlier was linearized on
    some path, so the ops returning at the frontier are the culprits.

    Ops with a return live in the linked list as call and return entries.
    Ops without one sit apart, sorted by start, and are tried only after
    every listed candidate: not using such an op is never worse than using
    it, and trying that first lets the memo prune the rest.  A step with
    several outcomes is a choice point of its own: each outcome is tried
    before the cursor moves on.
    """
    step, key = model.step, model.key
    listed = [i for i, c in enumerate(calls) if c.end != _INF]
    events = sorted([(calls[i].start, 0, i) for i in listed]
                    + [(calls[i].end, 1, i) for i in listed])
    infos = sorted((c.start, i) for i, c in enumerate(calls) if c.end == _INF)
    info_start = [t for t, _ in infos]
    info_ids = [i for _, i in infos]
    n_info = len(infos)
    # Unreplied ops alike (same input and output) are interchangeable, the
    # earlier-started one being available whenever the later is: use them
    # in start order only, or every subset of a pile of info incs is a
    # configuration of its own.
    twin = [-1] * n_info
    last: dict[tuple[Any, Any], int] = {}
    for j, i in enumerate(info_ids):
        alike = (calls[i].inp, calls[i].out)
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
    inp = [c.inp for c in calls]
    out = [c.out for c in calls]
    bit = [1 << i for i in range(len(calls))]
    ibit = [bit[i] for i in info_ids]
    remaining = m // 2
    state = initial
    okbits = infobits = 0
    horizon = 0.0  # the first pending return: unreplied ops starting later must wait
    # A cursor > 0 is a list node; -(j + 1) is the j-th unreplied op.  A
    # frame keeps the outcomes of the step it took and the next one to try.
    stack: list[tuple[int, Any, float, tuple[Any, ...], int]] = []
    # Memoisation, widened for unreplied ops: a configuration is pruned when
    # one with the same listed ops and state but a subset of its unreplied
    # ops was reached before, since anything it can still do, that one can
    # too.  With no unreplied ops this is Lowe's plain memo.
    seen: dict[tuple[int, Hashable], list[int]] = {(0, key(initial)): [0]}
    overflow: set[tuple[int, int, Hashable]] = set()

    def fresh(ob: int, ib: int, new: Any) -> bool:
        k = key(new)
        found = seen.get((ob, k))
        if found is None:
            seen[(ob, k)] = [ib]
            return True
        for used in found:
            if not used & ~ib:
                return False
        if len(found) < _DOMINATORS:
            found.append(ib)
            return True
        if (ob, ib, k) in overflow:
            return False
        overflow.add((ob, ib, k))
        return True

    cursor = nxt[0]
    outcomes: tuple[Any, ...] | None = None
    tried = 0
    steps = 0
    frontier = -_INF
    while remaining:
        steps += 1
        if steps > limit or (deadline is not None and not steps & 1023
                             and time.monotonic() > deadline):
            return None, steps, frontier
        i = -1
        if cursor > 0:
            if is_call[cursor]:
                i = op_of[cursor]
            elif n_info:
                horizon, cursor = at[cursor], -1
                continue
            else:
                frontier = max(frontier, at[cursor])
        else:
            j = -cursor - 1
            while j < n_info and (infobits & ibit[j] or (
                    twin[j] >= 0 and not infobits & ibit[twin[j]])):
                j += 1
            if j < n_info and info_start[j] <= horizon:
                cursor, i = -(j + 1), info_ids[j]
            else:
                frontier = max(frontier, horizon)
        if i < 0:
            # Every candidate before the first pending return was tried.
            if not stack:
                return False, steps, frontier
            cursor, state, horizon, outcomes, tried = stack.pop()
            if cursor > 0:
                okbits ^= bit[op_of[cursor]]
                remaining += 1
                r = ret[cursor]
                nxt[prv[r]] = r
                prv[nxt[r]] = r
                nxt[prv[cursor]] = cursor
                prv[nxt[cursor]] = cursor
            else:
                infobits ^= ibit[-cursor - 1]
            continue  # the same op, with its next outcome
        if outcomes is None:
            outcomes, tried = step(state, inp[i], out[i]), 0
        if cursor > 0:
            ob, ib = okbits | bit[i], infobits
        else:
            ob, ib = okbits, infobits | bit[i]
        new: Any = None
        taken = False
        while tried < len(outcomes):
            new = outcomes[tried]
            tried += 1
            if fresh(ob, ib, new):
                taken = True
                break
        if taken:
            stack.append((cursor, state, horizon, outcomes, tried))
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
        outcomes = None
    return True, steps, frontier


class _Budget:
    """Steps and wall clock shared by every search one check makes."""

    def __init__(self, model: Model, steps: int, deadline: float | None) -> None:
        self.model = model
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
        result, steps, self.frontier = _search(calls, self.model, initial=initial, limit=limit,
                                               deadline=self.deadline)
        self.left -= steps
        self.used += steps
        return result


@dataclass(frozen=True, kw_only=True)
class _Window:
    """The ops a counterexample rests on, how far shrinking got, and its re-check."""

    calls: list[_Call]
    culprits: list[int]
    initial: str
    minimal: bool
    verified: bool
    verification: str
    sources: list[int]


def _by_time(calls: Sequence[_Call]) -> list[_Call]:
    return sorted(calls, key=lambda c: (c.start, c.index))


def _prefix(calls: Sequence[_Call], cut: float) -> list[_Call]:
    """The history as it stood at ``cut``: ops still running lose their reply.

    They keep their answer (had they taken effect before ``cut``, it was
    with that answer) but may have taken effect later, or never; reads among
    them can then only be left out.  Ops that start later cannot explain
    anything that returned by ``cut``.
    """
    kept = []
    for c in calls:
        if c.start > cut:
            continue
        if cut < c.end < _INF:
            if not c.mutates:
                continue
            c = replace(c, end=_INF, cut=True)
        kept.append(c)
    return kept


class _Shrinker:
    """Finds, shrinks and re-checks the window of one violated key."""

    def __init__(self, model: Model, budget: _Budget, verify: _Budget) -> None:
        self.model = model
        self.budget = budget
        self.verify = verify
        #: The smallest window seen failing with its culprits and holding without.
        self.best: tuple[list[_Call], list[_Call], Any] | None = None

    def still_fails(self, rest: list[_Call], culprits: list[_Call], initial: Any) -> bool:
        fails = (self.budget.search(rest + culprits, initial) is False
                 and self.budget.search(rest, initial) is True)
        if fails and (self.best is None or len(rest) < len(self.best[0])):
            self.best = (rest, culprits, initial)
        return fails

    def recheck(self, window: list[_Call], culprits: list[_Call], initial: Any) -> bool:
        """The window alone, with its own budget: not linearizable, and is without the culprits."""
        ids = {c.index for c in culprits}
        return (self.verify.search(window, initial) is False
                and self.verify.search([c for c in window if c.index not in ids], initial)
                is True)

    def shrink(self, calls: Sequence[_Call], frontier: float) -> _Window:
        """A small window that cannot be linearized, found within the budget, and re-checked.

        The culprits are the ops returning at the search's frontier.  The
        window grows backwards from them, 1, 2, 4, ... ops, until it fails
        on its own from any initial state while it holds without the
        culprits, so it explains the culprits' results rather than some
        other contradiction; then culprits not needed for that, and other
        ops, are dropped one at a time while it stays true.  Should no window
        fail from every initial state, the violation rests on the key
        starting absent, and the whole history up to the frontier is shrunk.
        """
        model = self.model
        window = _prefix(calls, frontier)
        at_frontier = [c for c in window if not c.cut and c.end == frontier]
        # Several ops may return at the frontier, and one of them may be a
        # write the others need: then each is tried as the culprit alone.
        choices = [at_frontier] + ([[c] for c in at_frontier] if len(at_frontier) > 1 else [])
        for culprits in choices:
            grown = self._grow(window, culprits)
            if grown is not None:
                break
        else:
            return self._settle(None, [], model.init(), minimal=False, sources=[])
        earlier, rest, initial = grown
        minimal = False
        while not self.budget.spent():
            changed = False
            for c in list(culprits) if len(culprits) > 1 else []:
                trial = [x for x in culprits if x is not c]
                if self.still_fails(rest, trial, initial):
                    culprits, changed = trial, True
            for c in list(reversed(rest)):
                trial = [x for x in rest if x is not c]
                if self.still_fails(trial, culprits, initial):
                    rest, changed = trial, True
            if not changed:
                minimal = not self.budget.spent()
                break
        # The window need not say where a value came from, but a reader
        # wants to see it: add the last write of each value a culprit read,
        # as long as the window still fails with it and still holds without
        # the culprits.  A source written before the value it was overwritten
        # by would otherwise make an innocent read look to blame.
        sources: list[int] = []
        for c in culprits:
            if any(model.explains(x.inp, c.inp, c.out) for x in rest):
                continue
            writers = [x for x in earlier if model.explains(x.inp, c.inp, c.out)]
            if writers:
                src = max(writers, key=lambda x: (x.end, x.index))
                if self.still_fails([*rest, src], culprits, initial):
                    rest = [*rest, src]
                    sources.append(src.index)
        return self._settle(rest + culprits, culprits, initial, minimal=minimal,
                            sources=sources)

    def _grow(self, window: list[_Call], culprits: list[_Call]
              ) -> tuple[list[_Call], list[_Call], Any] | None:
        """The ops before ``culprits``, the last of them that fail with them, and from what."""
        model = self.model
        ids = {c.index for c in culprits}
        earlier = _by_time([c for c in window if c.index not in ids])
        size = 0
        while not self.budget.spent():
            trial = earlier[len(earlier) - size:]
            if self.still_fails(trial, culprits, model.unconstrained()):
                return earlier, trial, model.unconstrained()
            if size == len(earlier):
                break
            size = min(len(earlier), max(1, 2 * size))
        if self.still_fails(earlier, culprits, model.init()):
            return earlier, earlier, model.init()
        return None

    def _settle(self, shown: list[_Call] | None, culprits: list[_Call], initial: Any, *,
                minimal: bool, sources: list[int]) -> _Window:
        """The first window that re-checks, preferring the shrunk one with its sources."""
        how = "any" if initial is self.model.unconstrained() else "absent"
        options: list[tuple[list[_Call], list[_Call], Any, list[int], bool]] = []
        if shown is not None:
            options.append((shown, culprits, initial, sources, minimal))
            if sources:
                options.append(([c for c in shown if c.index not in sources], culprits,
                                initial, [], minimal))
        if self.best is not None:
            rest, best_culprits, best_initial = self.best
            options.append((rest + best_culprits, best_culprits, best_initial, [], False))
        for calls, culp, init, srcs, mini in options:
            ids = {c.index for c in culp}
            if len(calls) > _MAX_WINDOW_SHOWN:
                # Too long to read: its last ops, if they still fail on their own.
                tail = [c for c in _by_time(calls) if c.index not in ids]
                calls = tail[len(tail) - _MAX_WINDOW_SHOWN + len(culp):] + culp
                srcs, mini = [s for s in srcs if s in {c.index for c in calls}], False
            if self.recheck(calls, culp, init):
                how = "any" if init is self.model.unconstrained() else "absent"
                text = (f"re-checked alone from {'any' if how == 'any' else 'an absent'} "
                        "initial state: not linearizable; linearizable without the culprits")
                return _Window(calls=_by_time(calls), culprits=sorted(ids), initial=how,
                               minimal=mini, verified=True, verification=text, sources=srcs)
        return _Window(calls=[], culprits=[], initial=how, minimal=False, verified=False,
                       verification="no window could be verified within the shrink budget "
                                    "(or the deadline); none is shown", sources=[])


_Name = tuple[int | None, str]


def _partitions(history: History, model: register.RegisterModel, by_worker: bool
                ) -> tuple[dict[_Name, list[_Call]], dict[str, int]]:
    counts = {"ops": 0, "info_ops": 0, "answered_info_ops": 0, "negative_answers": 0,
              "failed_ops_dropped": 0}
    compiled: dict[int, _Call] = {}
    for index, op in enumerate(history.ops):
        spec = model.compile(index, op)
        if op.type == "fail":
            counts["failed_ops_dropped"] += 1
        if spec is None:
            continue
        compiled[index] = _Call(index=index, inp=spec.input, out=spec.output, start=op.start,
                                end=op.end if spec.bounded else _INF, mutates=spec.mutates)
        counts["ops"] += 1
        counts["info_ops"] += op.type == "info"
        counts["answered_info_ops"] += op.type == "info" and op.answered
        counts["negative_answers"] += is_negative(op)
    parts = {name: [compiled[i] for i in indices if i in compiled]
             for name, indices in model.partition(history, by_worker=by_worker).items()}
    return {name: calls for name, calls in parts.items() if calls}, counts


def _describe(history: History, call: _Call) -> str:
    op = history.ops[call.index]
    args = "" if op.f == "clear" else repr(op.key)
    if op.f in ("set", "add"):
        args += f", {op.args.get('value')!r}"
    elif op.f == "inc":
        args += f", {op.args.get('delta', 1)!r}"
    end = f"{op.end:.4f}"
    if op.type == "info" and not op.answered:
        result, end = "? (info, no reply: any time after its start, or never)", "..."
    elif op.type == "info":
        result = (f"{op.value!r} (info: answered, but took effect by its end "
                  "or not at all)")
    else:
        result = repr(op.value)
        if is_negative(op):
            result += " (refused: took effect by its end or not at all)"
        if call.cut:
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
    violation comes with a counterexample, shrunk within ``shrink_steps`` and
    re-checked within as many steps again (the re-check ignores the deadline).
    """
    started = time.monotonic()
    deadline = None if deadline_s is None else started + deadline_s
    model = register.MODEL
    parts, counts = _partitions(history, model, by_worker)
    evidence: dict[str, Any] = {
        "model": "one register per worker and key" if by_worker else "one register per key",
        **counts,
        "keys": len({key for _, key in parts}),
        "partitions": len(parts),
    }
    if not parts:
        evidence["reason"] = "no ok or info operation on any key: nothing to judge"
        return Verdict(verdict="unknown", evidence=evidence)
    budget = _Budget(model, max_steps, deadline)
    violated: list[_Name] = []
    unknown: list[_Name] = []
    frontiers: dict[_Name, float] = {}
    # Small keys first, so one pathological key cannot starve the others.
    for name in sorted(parts, key=lambda n: (len(parts[n]), repr(n))):
        result = budget.search(parts[name], model.init(), cap=max_steps_per_key)
        if result is None:
            unknown.append(name)
        elif result is False:
            violated.append(name)
            frontiers[name] = budget.frontier
    evidence.update(steps=budget.used, violated_keys=len(violated), unknown_keys=len(unknown))
    if violated:
        shrinker = _Shrinker(model, _Budget(model, shrink_steps, deadline),
                             _Budget(model, shrink_steps, None))
        window = shrinker.shrink(parts[violated[0]], frontiers[violated[0]])
        evidence["counterexample"] = {
            **_name(violated[0]),
            "ops": [c.index for c in window.calls],
            "culprits": window.culprits,
            "describe": [_describe(history, c) for c in window.calls],
            "size": len(window.calls),
            # "any": fails whatever the key held before the window; "absent":
            # fails only because the key started absent.
            "initial": window.initial,
            "minimal": window.minimal,
            # Ops answered after the window's edge, treated as unanswered.
            "cut": [c.index for c in window.calls if c.cut],
            # Writes added to show where a culprit's value came from.
            "sources": window.sources,
            "verified": window.verified,
            "verification": window.verification,
        }
        evidence["violated_samples"] = [_name(n) for n in violated[:_MAX_SAMPLES]]
        evidence["shrink_steps"] = shrinker.budget.used
        evidence["verify_steps"] = shrinker.verify.used
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
