"""The blast-radius, restart, import-write and per-instance verdicts, on hand-built histories.

Each history is what the workload would record against a small model of a
backend, so every verdict is reached by the behaviour it names.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from histories import Ops

from harness.checkers import Facts, blast, lifecycle, safely, visibility
from harness.history.ops import History

_clock = itertools.count()
#: Checkers that judge no worker matrix need no pids.
NO_FACTS = Facts(pids=())


#: ``ok`` ops, one clock tick apart, each lasting 0.5 s.
op = Ops(clock=_clock, took=0.5)

def blast_history(wipes: set[str], *, stores: bool = True, foreign: bool = True) -> History:
    """One round: each group writes two keys, reads, clear() wipes ``wipes``, reads."""
    h = History()
    groups = ["clearing", "neighbour"] + (["foreign"] if foreign else [])
    keys = {g: [f"{g}-{n}" for n in range(2)] for g in groups}
    for g in groups:
        for k in keys[g]:
            h.add(op("set", k, True, process=0, pid=10, value=f"v-{k}", app=g, phase="write"))
    for phase in ("before", "after"):
        if phase == "after":
            h.add(op("clear", None, True, process=0, pid=10, app="clearing", phase="clear"))
        for g in groups:
            for k in keys[g]:
                present = stores and (phase == "before" or g not in wipes)
                h.add(op("get", k, f"v-{k}" if present else None, process=0, pid=10, want=f"v-{k}",
                         app=g, phase=phase))
    return h


def test_clear_confined_to_its_app_holds() -> None:
    v = blast.check(blast_history({"clearing"}), NO_FACTS)
    assert v.verdict == "holds", v.evidence
    assert v.evidence["neighbour"] == {"written": 2, "readable_before": 2, "readable_after": 2}


def _late(history: History, *, gone: bool) -> History:
    """A replica served the clearing app's first key after the clear; a settle poll
    then finds it gone (``gone``) or still there."""
    ops = list(history)
    at = next(n for n, o in enumerate(ops) if o.f == "get" and o.key == "clearing-0"
              and o.meta.phase == "after")
    h = History()
    for n, o in enumerate(ops):
        if n == at:
            o = op("get", "clearing-0", "v-clearing-0", process=0, pid=10, want="v-clearing-0",
                   app="clearing", phase="after")
        h.add(o)
    h.add(op("get", "clearing-0", None if gone else "v-clearing-0", process=0, pid=10,
             want="v-clearing-0", app="clearing", phase="after", poll=True))
    return h


def test_an_entry_a_replica_served_a_moment_after_the_clear_counts_as_cleared() -> None:
    """Judged by its last read after the clear, as the settle window allows."""
    v = blast.check(_late(blast_history({"clearing"}), gone=True), NO_FACTS)
    assert v.verdict == "holds", v.evidence
    assert v.evidence["clearing"] == {"written": 2, "readable_before": 2, "readable_after": 0,
                                      "gone_after_settling": 1}


def test_an_entry_still_there_when_the_settle_window_ends_is_left_by_the_clear() -> None:
    v = blast.check(_late(blast_history({"clearing"}), gone=False), NO_FACTS)
    assert v.verdict == "violated", v.evidence
    assert v.evidence["violations"] == ["clear() left the clearing app's own entries"]


def test_clear_that_wipes_the_neighbour_is_violated() -> None:
    v = blast.check(blast_history({"clearing", "neighbour", "foreign"}), NO_FACTS)
    assert v.verdict == "violated"
    assert v.evidence["violations"] == ["clear() wiped neighbour entries",
                                        "clear() wiped foreign entries"]


def test_clear_that_wipes_only_the_foreign_key_is_violated() -> None:
    v = blast.check(blast_history({"clearing", "foreign"}), NO_FACTS)
    assert v.verdict == "violated"
    assert v.evidence["violations"] == ["clear() wiped foreign entries"]


def test_clear_that_leaves_its_own_keys_is_violated() -> None:
    v = blast.check(blast_history(set()), NO_FACTS)
    assert v.verdict == "violated"
    assert v.evidence["violations"] == ["clear() left the clearing app's own entries"]


def test_nothing_stored_is_none_not_holds() -> None:
    v = blast.check(blast_history(set(), stores=False), NO_FACTS)
    assert v.verdict == "none"


def test_no_storage_reports_the_foreign_entry_as_absent() -> None:
    v = blast.check(blast_history({"clearing"}, foreign=False), NO_FACTS)
    assert v.verdict == "holds"
    assert v.evidence["foreign"] == "no shared storage to write into"


def test_blast_history_without_clear_is_unknown() -> None:
    h = History(ops=[o for o in blast_history({"clearing"}) if o.f != "clear"])
    assert safely(blast.check, h, NO_FACTS).verdict == "unknown"


def restart_history(new_worker_sees: bool, *, stored: bool = True) -> History:
    h = History()
    for w in (1, 2):
        h.add(op("set", f"k{w}", True, process=w, pid=w, phase="write"))
        h.add(op("get", f"k{w}", f"v{w}" if stored else None, process=w, pid=w, want=f"v{w}",
                 phase="before", role="writer"))
    h.notes.append({"restart": 0, "victim_pid": 1, "new_pids": [3]})
    for w in (1, 2):
        h.add(op("get", f"k{w}", f"v{w}" if new_worker_sees and stored else None, process=3, pid=3,
                 want=f"v{w}", phase="after", role="new"))
    h.add(op("get", "k2", "v2" if stored else None, process=2, pid=2, want="v2", phase="after",
             role="survivor"))
    return h


def test_values_read_on_the_replacement_worker_hold() -> None:
    v = lifecycle.check_restart(restart_history(True), NO_FACTS)
    assert v.verdict == "holds"
    assert (v.evidence["new_worker_reads"], v.evidence["new_worker_hits"]) == (2, 2)
    assert v.evidence["restarts"][0]["victim_pid"] == 1


def test_values_lost_with_the_worker_are_violated() -> None:
    v = lifecycle.check_restart(restart_history(False), NO_FACTS)
    assert v.verdict == "violated"
    assert v.evidence["new_worker_hits"] == 0
    assert v.evidence["survivor_own_hits"] == 1


def test_restart_with_nothing_stored_is_none() -> None:
    assert lifecycle.check_restart(restart_history(False, stored=False), NO_FACTS).verdict == "none"


@pytest.mark.parametrize("writers, verdict", [
    ({11: 10, 12: 10}, "shared"),       # the master (pid 10) wrote before the fork
    ({11: 11, 12: 12}, "per-worker"),   # each worker imported the app itself
    ({11: None, 12: None}, "none"),
    ({11: 10, 12: None}, "partial"),
])
def test_import_write_verdict_names_who_wrote(writers: dict[int, int | None],
                                              verdict: str) -> None:
    h = History()
    for n, (pid, writer) in enumerate(writers.items()):
        h.add(op("get", "imp", None if writer is None else {"pid": writer}, process=n, pid=pid,
                 phase="import"))
    v = lifecycle.check_import_write(h, Facts(pids=tuple(writers)))
    assert v.verdict == verdict, v.evidence


def visibility_history(seen: Any, pids: list[int]) -> History:
    h = History()
    for i, wp in enumerate(pids):
        h.add(op("set", f"k{i}", True, process=i, pid=wp, value=f"v{i}"))
        for j, rp in enumerate(pids):
            h.add(op("get", f"k{i}", f"v{i}" if seen(i, j) else None, process=j, pid=rp))
    return h


def test_writes_seen_only_within_an_instance_are_per_instance() -> None:
    pids, groups = [1, 2, 3, 4], [0, 0, 1, 1]
    h = visibility_history(lambda i, j: groups[i] == groups[j], pids)
    v = visibility.check(h, Facts(pids=tuple(pids), instances=tuple(groups)))
    assert v.verdict == "per-instance"
    assert v.evidence["matrix"][0] == ["Y", "Y", "-", "-"]


def test_one_cross_instance_read_makes_it_partial() -> None:
    pids, groups = [1, 2, 3, 4], [0, 0, 1, 1]
    h = visibility_history(lambda i, j: groups[i] == groups[j] or (i, j) == (0, 3), pids)
    facts = Facts(pids=tuple(pids), instances=tuple(groups))
    assert visibility.check(h, facts).verdict == "partial"


def test_without_instances_the_same_matrix_is_partial() -> None:
    pids, groups = [1, 2, 3, 4], [0, 0, 1, 1]
    h = visibility_history(lambda i, j: groups[i] == groups[j], pids)
    assert visibility.check(h, Facts(pids=tuple(pids))).verdict == "partial"
