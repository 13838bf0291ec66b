"""The nemesis recycles real gunicorn workers, and traffic follows them to their replacements."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checkers import Facts, faults, safely
from harness.history.ops import History
from harness.nemesis import _alive, nemesis
from harness.topology.gunicorn import GunicornSpec, serve
from harness.workloads import faults as traffic

ROOT = Path(__file__).resolve().parent.parent


def _spec(max_requests: int = 0) -> GunicornSpec:
    return GunicornSpec(app="apps.demo:app", app_root=ROOT, workers=2,
                        config={"CACHE_TYPE": "SimpleCache"}, max_requests=max_requests)


def test_hup_replaces_every_worker_and_the_traffic_moves_to_the_new_ones(tmp_path: Path) -> None:
    with serve(_spec(), tmp_path) as g:
        old = [w.pid for w in g.workers]

        def fault(history: History) -> None:
            with nemesis(history) as n:
                n.reload(g)

        history = traffic.run(lambda: g.workers, fault, before=0.3, after=0.5, witnesses=1)
        new = [w.pid for w in g.workers]
        [action] = history.faults
        assert action.value == {"signal": "HUP", "retired": old, "new": new}
        assert not set(old) & set(new) and not any(_alive(pid) for pid in old)
        [window] = history.windows()
        after = [op for op in history if op.start >= window.end]
        # Every request after the recycle went to a new worker, and each answered.
        assert {op.pid for op in after} == set(new)
        assert all(op.type == "ok" for op in after)
        v = safely(faults.check, history, Facts.of(g.workers))
    # SimpleCache's dicts died with the old workers: both witnesses are lost,
    # and the only failures are requests aimed at workers already gone.
    assert v.verdict == "lost", v.evidence
    assert v.evidence["lost_writes"]["count"] == 2
    assert v.evidence["failed_during_fault"] == 0
    assert set(v.evidence["worker_gone"]["by_worker"]) <= {str(pid) for pid in old}


def test_max_requests_retires_each_worker_at_its_budget(tmp_path: Path) -> None:
    with serve(_spec(max_requests=30), tmp_path) as g:
        old = [w.pid for w in g.workers]
        history = History()
        with nemesis(history) as n:
            action = n.exhaust(g, max_requests=30)
        # The readiness probe was each worker's first request.
        assert action.value["answered_before_exit"] == {str(pid): 29 for pid in old}
        assert action.value["retired"] == old
        assert len(g.workers) == 2 and not set(old) & {w.pid for w in g.workers}
        assert all(w.whoami().pid == w.pid for w in g.workers)


def test_a_worker_without_a_budget_fails_the_action_and_says_how_to_fix_it(
        tmp_path: Path) -> None:
    with serve(_spec(), tmp_path) as g:
        history = History()
        with pytest.raises(RuntimeError, match="--max-requests 5"), nemesis(history) as n:
            n.exhaust(g, max_requests=5)
    [action] = history.faults
    assert action.f == "worker-recycle" and "RuntimeError" in (action.error or "")
