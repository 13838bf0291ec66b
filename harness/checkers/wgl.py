"""Lowe's linearizability search (Wing and Gong's, refined), for any :class:`~.model.Model`.

A history is linearizable when every operation can be given one instant
between its invocation and its completion such that, taken in that order,
the results agree with a sequential model.  The search is Lowe's refinement
of Wing and Gong's algorithm ("Testing for linearizability", 2017), laid out
as Porcupine lays it out: call and return entries in one doubly linked list,
lifted out as operations are linearized and put back on backtracking, with
every (set of linearized ops, model state) visited once.  It knows nothing
of keys, values or op names, only the model's ``step`` and ``key``, and its
answer is three-way: a search that ran out of budget is
:attr:`Answer.UNKNOWN`, never a pass.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from .model import Model

INF = float("inf")
#: Info-op sets kept per (ok ops, state) for the subset test; more go to a plain set.
_DOMINATORS = 8


class Answer(enum.Enum):
    """The search's answer, as Porcupine's ``CheckResult``."""

    OK = "linearizable"
    ILLEGAL = "not linearizable"
    #: The step budget or the deadline ran out first.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Call:
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


def search(calls: Sequence[Call], model: Model, *, initial: Any, limit: int,
           deadline: float | None) -> tuple[Answer, int, float]:
    """Lowe's search from ``initial``, within ``limit`` steps and by ``deadline``.

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
    listed = [i for i, c in enumerate(calls) if c.end != INF]
    events = sorted([(calls[i].start, 0, i) for i in listed]
                    + [(calls[i].end, 1, i) for i in listed])
    infos = sorted((c.start, i) for i, c in enumerate(calls) if c.end == INF)
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
    frontier = -INF
    while remaining:
        steps += 1
        if steps > limit or (deadline is not None and not steps & 1023
                             and time.monotonic() > deadline):
            return Answer.UNKNOWN, steps, frontier
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
                return Answer.ILLEGAL, steps, frontier
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
    return Answer.OK, steps, frontier




class Budget:
    """Steps and wall clock shared by every search one check makes."""

    def __init__(self, model: Model, steps: int, deadline: float | None) -> None:
        self.model = model
        self.left = steps
        self.deadline = deadline
        self.used = 0
        #: Where the last search got stuck; see :func:`search`.
        self.frontier = -INF

    def spent(self) -> bool:
        return self.left <= 0 or (self.deadline is not None and time.monotonic() > self.deadline)

    def search(self, calls: Sequence[Call], initial: Any, cap: int | None = None) -> Answer:
        if self.spent():
            return Answer.UNKNOWN
        limit = self.left if cap is None else min(cap, self.left)
        result, steps, self.frontier = search(calls, self.model, initial=initial, limit=limit,
                                              deadline=self.deadline)
        self.left -= steps
        self.used += steps
        return result
