"""Nemesis ops live beside the clients' ops and pair into fault windows."""

from __future__ import annotations

import pytest
from histories import Ops, fault

from harness.history.faults import ACTIONS, NEMESIS, FaultAction
from harness.history.ops import History, record_from_json

#: Worker 0, pid 2.
op = Ops(pids=(2,))


def test_checkers_never_see_nemesis_ops_but_the_file_keeps_them_in_order() -> None:
    h = History()
    h.fault(fault("kill", "redis-server :7000", at=1.0, end=1.1))
    h.add(op("get", "k", at=1.2, end=1.3))
    h.fault(fault("restart", "redis-server :7000", at=2.0, end=2.5))
    assert [op.f for op in h] == ["get"]
    lines = [r.to_json() for r in h.records()]
    assert [(d["process"], d["f"]) for d in lines] == [
        (NEMESIS, "kill"), (0, "get"), (NEMESIS, "restart")]
    again = History.from_records(record_from_json(d) for d in lines)
    assert again.faults == h.faults and again.ops == h.ops


def test_one_closer_ends_any_opener_that_names_it_on_its_target() -> None:
    # A proxy's heal ends its delay, its blackhole or its reset, whichever is open.
    h = History()
    h.fault(fault("delay", "proxy :1", at=1.0, end=1.1))
    h.fault(fault("heal", "proxy :1", at=2.0, end=2.1))
    h.fault(fault("blackhole", "proxy :1", at=3.0, end=3.1))
    h.fault(fault("reset", "proxy :2", at=3.5, end=3.6))
    h.fault(fault("heal", "proxy :1", at=4.0, end=4.1))
    h.fault(fault("heal", "proxy :3", at=4.5, end=4.6))  # healed nothing
    h.add(op("get", "k", at=5.0, end=6.0))
    assert [(w.fault, w.target, w.start, w.end, w.closed) for w in h.windows()] == [
        ("delay", "proxy :1", 1.0, 2.1, True),
        ("blackhole", "proxy :1", 3.0, 4.1, True),
        ("reset", "proxy :2", 3.5, 6.0, False)]


def test_windows_pair_openers_with_closers_on_the_same_target() -> None:
    h = History()
    h.fault(fault("kill", "a", at=1.0, end=1.1))
    h.fault(fault("restart", "b", at=1.5, end=1.6))  # closes nothing: b was never killed
    h.fault(fault("restart", "a", at=2.0, end=2.5))
    h.fault(fault("failover", "master", at=3.0, end=3.4))
    h.fault(fault("pause", "c", at=5.0, end=5.1))  # never resumed
    h.add(op("get", "k", at=5.2, end=6.0))
    windows = h.windows()
    assert [(w.fault, w.target, w.start, w.end, w.closed) for w in windows] == [
        ("kill", "a", 1.0, 2.5, True),
        ("failover", "master", 3.0, 3.4, True),
        ("pause", "c", 5.0, 6.0, False),
    ]
    # The window is closed at both ends: 2.0 is inside it, 2.6 after it.
    first = windows[0]
    assert first.start <= 2.0 <= first.end and not first.start <= 2.6 <= first.end


def test_saving_never_reorders_the_client_ops_that_checkers_number() -> None:
    h = History()
    h.add(op("get", "k", at=1.0, end=3.0))  # appended first, ended last (a slow concurrent op)
    h.add(op("get", "k", at=1.5, end=2.0))
    h.fault(fault("kill", "a", at=2.2, end=2.4))
    assert [r.end for r in h.records()] == [2.4, 3.0, 2.0]


def test_a_one_shot_action_with_a_closer_is_refused_where_it_is_defined() -> None:
    with pytest.raises(TypeError, match="'flap' is one-shot and names a closer 'unflap'"):
        FaultAction(name="flap", closer="unflap", oneshot=True)


def test_every_closer_is_an_action_and_no_closer_opens_a_window() -> None:
    closers = {a.closer for a in ACTIONS.values() if a.closer}
    assert closers <= set(ACTIONS)
    assert all(ACTIONS[c].closer is None and not ACTIONS[c].oneshot for c in closers), \
        "a closer ends a window; it opens none and is not a fault of its own"
