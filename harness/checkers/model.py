"""What a sequential model gives the linearizability search: Porcupine's ``Model``, in Python.

Porcupine (``model.go``) hands its checker a struct of a few functions, so
the search knows nothing of what it checks.  :class:`Model` is that struct:
``init`` and ``step`` say what the object does, ``partition`` splits a
history into sub-histories that can be searched apart (one per key, as
P-compositionality allows), ``key`` plays ``Equal`` for the search's memo,
and ``compile`` is the model's reading of one recorded operation.
:mod:`.register` is the model of one cache key; :mod:`.wgl` searches with
any model, :mod:`.shrink` shrinks its counterexamples, and
:mod:`.linearizable` turns both into a verdict.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from ..history.ops import History, Op

#: A partition's name: the worker's pid when the history is split per
#: worker (None otherwise), and the key.
Part = tuple[int | None, str]


@dataclass(frozen=True, slots=True)
class Spec:
    """An op as the model sees it: what was asked, what came back, and how long it may act.

    ``bounded`` ops took effect, if at all, by their end; the others (no
    reply) may take effect at any later time, or never.  ``mutates`` is
    False for reads, which a cut-off window can drop.
    """

    input: Any
    output: Any
    bounded: bool
    mutates: bool


class Model(Protocol):
    """A sequential specification, as Porcupine's ``Model``.

    ``step`` returns every state the op can leave having answered ``out``
    (none when it could not have); a nondeterministic model, like a write
    whose answer does not say whether it took effect, returns several.
    States need not be hashable: ``key`` gives what identifies them.
    """

    @property
    def name(self) -> str:
        """What one partition holds, for the evidence: "register" (one register per key)."""
        ...

    def init(self) -> Any:
        """The state before any operation."""
        ...

    def unconstrained(self) -> Any:
        """A state standing for every state, from which a counterexample window is re-checked."""
        ...

    def step(self, state: Any, inp: Any, out: Any) -> tuple[Any, ...]:
        """Every state ``inp`` can leave from ``state`` when it answered ``out``."""
        ...

    def key(self, state: Any) -> Hashable:
        """What identifies ``state``: two states with one key are the same (``Equal``)."""
        ...

    def explains(self, writer: Any, reader: Any, out: Any) -> bool:
        """Whether ``writer`` stored what ``reader`` answered ``out`` (to show a value's source)."""
        ...

    def compile(self, index: int, op: Op) -> Spec | None:
        """The model's view of ``op``, or None when it constrains nothing."""
        ...

    def partition(self, history: History, *, by_worker: bool) -> dict[Part, list[int]]:
        """Op indices of each independent sub-history (per worker too when ``by_worker``)."""
        ...
