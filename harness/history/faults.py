"""The nemesis's side of a history: fault actions, the table of what each does, and windows.

:data:`ACTIONS` is the one list of fault actions: the nemesis records its
actions under their names, and :func:`fault_windows` (which the checkers
and the report's timeline read) pairs them by the closers it states.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from .names import OpType

#: The process name of fault operations, as in Jepsen: the nemesis is a
#: client whose actions land in the history beside the workers' ops.
NEMESIS = "nemesis"


@dataclass(frozen=True, kw_only=True)
class FaultAction:
    """One kind of nemesis action, and the window it opens or closes."""

    name: str
    #: The action that closes the window this one opens, on the same
    #: target.  An opener never closed lasts to the history's end.
    closer: str | None = None
    #: Complete in itself: the window is the action's own span.
    oneshot: bool = False
    #: It leaves the cache's storage alone (it replaces the app's processes,
    #: not a server), so an acknowledged write gone after it is the
    #: backend's own doing, not a server that lost its memory.
    spares_storage: bool = False

    def __post_init__(self) -> None:
        if self.oneshot and self.closer is not None:
            raise TypeError(f"fault action {self.name!r} is one-shot and names a closer "
                            f"{self.closer!r}; a one-shot action's window is its own span, "
                            "so drop one of the two")


KILL = FaultAction(name="kill", closer="restart")
RESTART = FaultAction(name="restart")
PAUSE = FaultAction(name="pause", closer="resume")
RESUME = FaultAction(name="resume")
REPLICA_LAG = FaultAction(name="replica-lag", closer="replica-resume")
REPLICA_RESUME = FaultAction(name="replica-resume")
FAILOVER = FaultAction(name="failover", oneshot=True)
WORKER_RECYCLE = FaultAction(name="worker-recycle", oneshot=True, spares_storage=True)
# A fault proxy's actions (harness.topology.proxy): the network misbehaves,
# the server and its memory are untouched.
DELAY = FaultAction(name="delay", closer="heal", spares_storage=True)
BLACKHOLE = FaultAction(name="blackhole", closer="heal", spares_storage=True)
RESET = FaultAction(name="reset", closer="heal", spares_storage=True)
HEAL = FaultAction(name="heal")
#: The nemesis reads the storage itself, past any proxy (what a key's TTL
#: is); it opens and closes no window.
INSPECT = FaultAction(name="inspect")

#: Every fault action, by name.
ACTIONS: dict[str, FaultAction] = {a.name: a for a in (
    KILL, RESTART, PAUSE, RESUME, REPLICA_LAG, REPLICA_RESUME, FAILOVER, WORKER_RECYCLE,
    DELAY, BLACKHOLE, RESET, HEAL, INSPECT)}
_unknown = sorted(a.closer for a in ACTIONS.values() if a.closer and a.closer not in ACTIONS)
if _unknown:
    raise TypeError(f"fault actions close with {_unknown!r}, which ACTIONS lacks; add an "
                    "entry for each closer")


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One action of the nemesis: a fault injected or healed, on a target.

    Saved in the history file beside the workers' ops, with ``process``
    :data:`NEMESIS`, so a reader tells them apart by that field alone.
    ``type`` is ``info`` as in Jepsen; ``ok`` is never claimed for a fault.
    """

    f: str
    #: What it acted on, e.g. ``redis-server master pid 123 :7000``.
    target: str
    start: float
    end: float
    pid: int = 0
    #: What the action observed or did (a new pid, the promoted replica...).
    value: Any = None
    error: str | None = None
    process: str = NEMESIS
    type: OpType = "info"

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True, kw_only=True)
class FaultWindow:
    """When a fault was in force: from its opening action to its closing one."""

    fault: str
    target: str
    start: float
    end: float
    #: False when the fault was never closed (it lasts to the history's end).
    closed: bool = True


def fault_windows(faults: Iterable[Fault], *, until: float) -> list[FaultWindow]:
    """Pair each opening fault action with its closing one on the same target.

    One-shot actions span their own op.  An opener with no closer lasts to
    ``until``.  A closer with no opener is ignored: it ended nothing the
    history knows of.
    """
    windows: list[FaultWindow] = []
    open_: dict[tuple[str, str], Fault] = {}
    # One closer may close several openers (a proxy's heal ends any of its faults).
    closes: dict[str, list[str]] = {}
    for a in ACTIONS.values():
        if a.closer:
            closes.setdefault(a.closer, []).append(a.name)
    for op in sorted(faults, key=lambda o: o.start):
        target = op.target
        action = ACTIONS.get(op.f)
        if action is not None and action.closer:
            open_.setdefault((op.f, target), op)
        elif op.f in closes and (ended := [open_.pop((o, target)) for o in closes[op.f]
                                           if (o, target) in open_]):
            windows += [FaultWindow(fault=opener.f, target=target, start=opener.start,
                                    end=op.end) for opener in ended]
        elif action is not None and action.oneshot:
            windows.append(FaultWindow(fault=op.f, target=target, start=op.start, end=op.end))
    windows += [FaultWindow(fault=op.f, target=t, start=op.start, end=max(until, op.end),
                            closed=False) for (_, t), op in open_.items()]
    return sorted(windows, key=lambda w: w.start)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def line_windows(lines: Sequence[dict[str, Any]], *, until: float) -> list[FaultWindow]:
    """The fault windows of nemesis lines read back from a history file, as they are.

    A report may read an old or hand-edited file, so a field of the wrong
    type counts as empty (a time as 0) rather than failing; a line without
    an action name pairs with nothing and is left out.
    """
    parsed = [Fault.from_json({**line, "f": str(line["f"]),
                               "target": str(line.get("target", "")),
                               "start": _num(line.get("start")), "end": _num(line.get("end"))})
              for line in lines if line.get("f") is not None]
    return fault_windows(parsed, until=until)
