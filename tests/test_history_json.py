"""Histories as JSON lines: harness metadata apart from what was sent, old files still read."""

from __future__ import annotations

import json

from harness.history.names import App, Phase
from harness.history.ops import Meta, Op


def test_meta_round_trips_and_keeps_only_what_says_something() -> None:
    op = Op(process=0, pid=1, f="get", key="k", args={}, type="ok", value="v",
            meta=Meta(phase=Phase.AFTER, app=App.NEIGHBOUR, want="v", trial=0))
    data = json.loads(json.dumps(op.to_json()))
    assert data["meta"] == {"phase": "after", "app": "neighbour", "want": "v", "trial": 0}
    assert data["args"] == {}
    assert Op.from_json(data) == op


def test_a_line_written_before_meta_and_answered_existed_still_loads() -> None:
    old = {"process": 0, "pid": 1, "f": "set", "key": "k", "args": {"value": "v"},
           "type": "info", "value": None, "error": "timeout", "start": 1.0, "end": 2.0}
    op = Op.from_json(old)
    assert (op.meta, op.answered, op.args) == (Meta(), True, {"value": "v"})
