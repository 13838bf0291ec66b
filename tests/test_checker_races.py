"""The add-race, inc-race and register verdicts, on hand-built histories.

Built from small models of a backend: one shared store, one store per
worker, a racy store that lets two adds win or loses an inc, and no store.
"""

from __future__ import annotations

import itertools

from histories import Ops

from harness.checkers import Facts, races
from harness.history.ops import History
from harness.workloads.concurrent import trials_for

_clock = itertools.count()

#: The race checkers read only the history; process = pid in these ops.
FACTS = Facts(pids=(1, 2, 3))


op = Ops(took=0.5, clock=_clock)


def add_race(kind: str, trials: int = 3) -> History:
    h = History()
    for t in range(trials):
        key, t0 = f"k{t}", float(next(_clock)) * 10
        for pid in (1, 2, 3):
            # All three adds overlap: they are released together.
            won = {"shared": pid == 1, "per-worker": True, "racy": pid in (1, 2),
                   "none": True}[kind]
            h.add(op("add", key, won, pid=pid, at=t0, value=f"w{pid}"))
        for pid in (1, 2, 3):
            seen = {"shared": "w1", "per-worker": f"w{pid}", "racy": "w2", "none": None}[kind]
            h.add(op("get", key, seen, pid=pid, at=t0 + 1 + pid))
    return h


def test_one_winner_and_consistent_reads_hold() -> None:
    v = races.check_add_race(add_race("shared"), FACTS)
    assert v.verdict == "holds", v.evidence
    assert v.evidence["unique_winner"]["winners"] == {"1": 3}


def test_every_worker_winning_its_own_store_is_per_worker() -> None:
    assert races.check_add_race(add_race("per-worker"), FACTS).verdict == "per-worker"


def test_two_winners_on_one_store_are_violated() -> None:
    v = races.check_add_race(add_race("racy"), FACTS)
    assert v.verdict == "violated"
    assert v.evidence["unique_winner"]["keys_with_multiple_winners"] == 3


def test_nothing_stored_is_none() -> None:
    assert races.check_add_race(add_race("none"), FACTS).verdict == "none"


def inc_race(kind: str, per_worker: int = 5) -> History:
    h = History()
    total = 0
    own = {1: 0, 2: 0}
    for n in range(per_worker):
        for pid in (1, 2):
            own[pid] += 1
            total += 1
            value = {"shared": total, "per-worker": own[pid], "racy": n + 1}[kind]
            h.add(op("inc", "c", value, pid=pid, delta=1))
    for pid in (1, 2):
        # Racy: one shared counter that lost 3 of 10 incs, read alike by all.
        final = {"shared": total, "per-worker": own[pid], "racy": total - 3}[kind]
        h.add(op("get", "c", final, pid=pid, phase="final"))
    return h


def test_every_inc_counted_holds() -> None:
    v = races.check_inc_race(inc_race("shared"), FACTS)
    assert v.verdict == "holds", v.evidence
    assert v.evidence["global"]["lost_updates"] == 0


def test_per_worker_counters_are_per_worker() -> None:
    assert races.check_inc_race(inc_race("per-worker"), FACTS).verdict == "per-worker"


def test_lost_updates_are_violated_with_their_count() -> None:
    v = races.check_inc_race(inc_race("racy"), FACTS)
    assert v.verdict == "violated"
    assert v.evidence["global"]["lost_updates"] == 3
    assert v.evidence["global"]["lost_pct"] == 30.0


def test_register_stale_read_is_violated_and_clean_one_holds() -> None:
    clean = History(ops=[op("set", "r", True, pid=1, value=1), op("get", "r", 1, pid=2)])
    assert races.check_register(clean, FACTS).verdict == "holds"
    stale = History(ops=[op("set", "r", True, pid=1, value=1), op("set", "r", True, pid=1, value=2),
                         op("get", "r", 1, pid=2)])
    v = races.check_register(stale, FACTS)
    assert v.verdict == "violated"
    assert v.evidence["global"]["counterexample"]["ops"]


def test_add_race_trials_catch_a_one_in_five_race_with_99_9_percent() -> None:
    n = trials_for(0.2, 1e-3)
    assert (1 - 0.2) ** n <= 1e-3 < (1 - 0.2) ** (n - 1)


def test_add_race_is_sized_for_a_one_in_twenty_race() -> None:
    from harness.workloads.concurrent import ADD_RACE_MIN_TRIALS, ADD_RACE_TRIALS

    assert (1 - 0.05) ** ADD_RACE_TRIALS <= 1e-3
    assert ADD_RACE_MIN_TRIALS == trials_for(0.2, 1e-3) < ADD_RACE_TRIALS
