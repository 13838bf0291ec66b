"""The fs-threshold checker on hand-built histories and directory snapshots: each can fail."""

from __future__ import annotations

from typing import Any

import pytest
from histories import Ops

from harness.checkers import Facts, safely
from harness.checkers.fsthreshold import check
from harness.history.names import Phase
from harness.history.ops import History

FACTS = Facts(pids=(100, 101))
op = Ops(pids=range(100, 110), took=0.01)
#: Monotonic 0 is wall-clock 1000.0 in these snapshots.
CLOCK = {"wall": 1000.0, "monotonic": 0.0}
TIMEOUT = 600


def _entry(value: str, *, at: float) -> dict[str, Any]:
    return {"file": f"f-{value}", "expires": int(1000.0 + at) + TIMEOUT, "value": value}


def _history(*, count: int | None = 2, disk: tuple[str, ...] = ("a1", "b1"),
             temps: tuple[str, ...] = (), refused: str | None = None,
             killed: dict[str, Any] | None = None,
             counted: tuple[int | None, ...] = (12,)) -> History:
    """Worker 0 sets a then b; worker 1 sets c, which a prune removed; ``disk`` is what is left.

    ``counted``: the count file after each count trial of 12 fresh sets.
    """
    h = History()
    h.add(op("set", "a", True, process=0, at=1.0, value="a1", timeout=TIMEOUT))
    h.add(op("set", "b", True, process=0, at=1.1, value="b1", timeout=TIMEOUT))
    h.add(op("set", "c", True, process=1, at=1.2, value="c1", timeout=TIMEOUT))
    h.add(op("delete", "c", True, process=1, at=1.3))
    if refused is not None:
        h.add(op("set", "d", False, process=1, at=1.4, value=refused, timeout=TIMEOUT,
                 type="info", error="set answered False: the backend refused it"))
    at = {"a1": 1.0, "b1": 1.1, "c1": 1.2, "d1": 1.4, "e1": 3.0}
    h.notes.append({"cache_dir": {
        "path": "/x", "count_file": count, "entries": [_entry(v, at=at[v]) for v in disk],
        "temp_files": list(temps), "unreadable": [], "clock": CLOCK}})
    h.notes.append({"count_trials": {"planned": 135, "sets_per_trial": 12, "trials": [
        {"trial": n, "sets_ok": 12, "count_file": c, "entries": 12, "temp_files": 0}
        for n, c in enumerate(counted)]}})
    if killed is not None:
        h.add(op("set", "big", None, process=0, at=4.0, value="<n bytes>", timeout=TIMEOUT,
                 type="info", answered=False, phase=Phase.FINAL))
        h.add(op("clear", None, True, process=1, at=4.5, phase=Phase.FINAL))
        h.notes.append({"killed_write": killed})
    return h


def test_count_equal_to_the_files_and_nothing_left_holds() -> None:
    v = check(_history(), FACTS)
    assert v.verdict == "holds"
    assert (v.evidence["live_entries"], v.evidence["live_pruned"]) == (2, 0)


def test_count_file_drift_is_violated() -> None:
    v = check(_history(count=5), FACTS)
    assert (v.verdict, v.evidence["count_drift"]) == ("violated", 3)


def test_a_count_trial_whose_count_fell_short_is_violated() -> None:
    v = check(_history(counted=(12, 12, 10)), FACTS)
    assert (v.verdict, v.evidence["count_drift"]) == ("violated", 0)
    assert (v.evidence["count_trials"], v.evidence["count_trials_off"]) == (3, 1)
    assert v.evidence["count_trial_samples"][0]["count_file"] == 10
    # No count file at all is a count of 0 to cachelib: short of 12 too.
    assert check(_history(counted=(None,)), FACTS).verdict == "violated"


def test_no_count_trials_cannot_be_judged() -> None:
    h = _history()
    h.notes = [n for n in h.notes if "count_trials" not in n]
    with pytest.raises(ValueError, match="no count_trials note"):
        check(h, FACTS)


def test_a_temp_file_left_behind_is_violated() -> None:
    v = check(_history(temps=("tmpab.__wz_cache",)), FACTS)
    assert (v.verdict, v.evidence["temp_files"]) == ("violated", 1)


def test_set_answered_false_for_a_write_on_disk_is_violated() -> None:
    v = check(_history(count=3, disk=("a1", "b1", "d1"), refused="d1"), FACTS)
    assert (v.verdict, v.evidence["false_but_landed"]) == ("violated", 1)


def test_set_answered_false_for_a_write_that_is_nowhere_is_only_counted() -> None:
    v = check(_history(refused="d1"), FACTS)
    # Not a violation; but one non-ok op of five is more than a pass may rest on.
    assert (v.verdict, v.evidence["sets_answered_false"]) == ("unknown", 1)


def test_an_older_entry_surviving_a_younger_pruned_one_is_an_inversion() -> None:
    h = _history(count=1, disk=("a1",))
    # b (written after a, and a second later in wall-clock terms) is gone, a stayed.
    h.ops[1] = op("set", "b", True, process=0, at=2.5, value="b1", timeout=TIMEOUT)
    v = check(h, FACTS)
    assert (v.verdict, v.evidence["prune_order_inversions"]) == ("violated", 1)
    assert v.evidence["inversion_samples"][0] == {
        "pruned": "b", "pruned_expires_from": 1002 + TIMEOUT, "survivor": "a",
        "survivor_expires": 1001 + TIMEOUT}


def test_a_younger_entry_pruned_in_the_same_second_is_no_inversion() -> None:
    v = check(_history(count=1, disk=("a1",)), FACTS)
    assert (v.verdict, v.evidence["live_pruned"], v.evidence["prune_order_inversions"]) == \
        ("holds", 1, 0)


def test_a_killed_writes_temp_file_that_survives_clear_is_violated() -> None:
    left = {"victim_pid": 100, "killed": True, "set_answered": False,
            "temp_files_left": ["tmpk.__wz_cache"], "after_clear": ["tmpk.__wz_cache"]}
    v = check(_history(killed=left), FACTS)
    assert v.verdict == "violated"
    # The killed write and the clear came after the snapshot: a and b stay live.
    assert v.evidence["live_entries"] == 2
    cleaned = {**left, "after_clear": []}
    assert check(_history(killed=cleaned), FACTS).verdict != "violated"


def test_no_count_file_cannot_be_judged() -> None:
    with pytest.raises(ValueError, match="no count file"):
        check(_history(count=None), FACTS)
    assert safely(check, _history(count=None), FACTS).verdict == "unknown"
