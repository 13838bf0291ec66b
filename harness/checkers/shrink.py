"""A small counterexample for a history the search proved not linearizable.

The ops the search could not get past (the culprits, returning at its
frontier) and a small window of ops before them.  Every window is re-checked
on its own, with a budget of its own, before it is reported: it must not be
linearizable, and must be once the culprits are taken out.  The window says
whether that held (``verified``) and, if no window could be verified, holds
no ops.  Only the model's ``init``, ``unconstrained`` and ``explains`` are
used, besides the search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from .model import Model
from .wgl import INF, Answer, Budget, Call

#: A verified window longer than this is shown by its last ops only, if
#: those still fail on their own; otherwise only its culprits are shown.
_MAX_WINDOW_SHOWN = 40


@dataclass(frozen=True, kw_only=True)
class Window:
    """The ops a counterexample rests on, how far shrinking got, and its re-check."""

    calls: list[Call]
    culprits: list[int]
    #: "any": fails from every state; "absent": only from the model's ``init``.
    initial: str
    minimal: bool
    verified: bool
    verification: str
    sources: list[int]


def _by_time(calls: Sequence[Call]) -> list[Call]:
    return sorted(calls, key=lambda c: (c.start, c.index))


def _prefix(calls: Sequence[Call], cut: float) -> list[Call]:
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
        if cut < c.end < INF:
            if not c.mutates:
                continue
            c = replace(c, end=INF, cut=True)
        kept.append(c)
    return kept


class Shrinker:
    """Finds, shrinks and re-checks the window of one violated key."""

    def __init__(self, model: Model, budget: Budget, verify: Budget) -> None:
        self.model = model
        # Kept once: a window's ``initial`` is told apart by identity, which a
        # model building a fresh state on each call would otherwise defeat.
        self.any_state = model.unconstrained()
        self.budget = budget
        self.verify = verify
        #: The smallest window seen failing with its culprits and holding without.
        self.best: tuple[list[Call], list[Call], Any] | None = None

    def still_fails(self, rest: list[Call], culprits: list[Call], initial: Any) -> bool:
        fails = (self.budget.search(rest + culprits, initial) is Answer.ILLEGAL
                 and self.budget.search(rest, initial) is Answer.OK)
        if fails and (self.best is None or len(rest) < len(self.best[0])):
            self.best = (rest, culprits, initial)
        return fails

    def recheck(self, window: list[Call], culprits: list[Call], initial: Any) -> bool:
        """The window alone, with its own budget: not linearizable, and is without the culprits."""
        ids = {c.index for c in culprits}
        return (self.verify.search(window, initial) is Answer.ILLEGAL
                and self.verify.search([c for c in window if c.index not in ids], initial)
                is Answer.OK)

    def shrink(self, calls: Sequence[Call], frontier: float) -> Window:
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

    def _grow(self, window: list[Call], culprits: list[Call]
              ) -> tuple[list[Call], list[Call], Any] | None:
        """The ops before ``culprits``, the last of them that fail with them, and from what."""
        model = self.model
        ids = {c.index for c in culprits}
        earlier = _by_time([c for c in window if c.index not in ids])
        size = 0
        while not self.budget.spent():
            trial = earlier[len(earlier) - size:]
            if self.still_fails(trial, culprits, self.any_state):
                return earlier, trial, self.any_state
            if size == len(earlier):
                break
            size = min(len(earlier), max(1, 2 * size))
        if self.still_fails(earlier, culprits, model.init()):
            return earlier, earlier, model.init()
        return None

    def _settle(self, shown: list[Call] | None, culprits: list[Call], initial: Any, *,
                minimal: bool, sources: list[int]) -> Window:
        """The first window that re-checks, preferring the shrunk one with its sources."""
        how = "any" if initial is self.any_state else "absent"
        options: list[tuple[list[Call], list[Call], Any, list[int], bool]] = []
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
                how = "any" if init is self.any_state else "absent"
                text = (f"re-checked alone from {'any' if how == 'any' else 'an absent'} "
                        "initial state: not linearizable; linearizable without the culprits")
                return Window(calls=_by_time(calls), culprits=sorted(ids), initial=how,
                              minimal=mini, verified=True, verification=text, sources=srcs)
        return Window(calls=[], culprits=[], initial=how, minimal=False, verified=False,
                      verification="no window could be verified within the shrink budget "
                                   "(or the deadline); none is shown", sources=[])

