"""The delete, clear and ttl checkers on hand-built histories: each can fail."""

from __future__ import annotations

from typing import Any

from harness.checkers import Facts
from harness.checkers.keyops import check_clear, check_delete, check_ttl
from harness.history.ops import History, Meta, Op

FACTS = Facts(pids=(100, 101))


#: What a client sends; every other keyword of the helpers is harness metadata.
SENT = ("value", "timeout", "delta")


def sent(kw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if k in SENT}


def harness_meta(kw: dict[str, Any]) -> Meta:
    return Meta(**{k: v for k, v in kw.items() if k not in SENT})


def _op(process: int, f: str, key: str | None, t: float, result: object = None,
         **args: object) -> Op:
    """An ok operation; ``args`` are the request's (value=..., phase=...)."""
    return Op(process=process, pid=100 + process, f=f, key=key, args=sent(args),
              meta=harness_meta(args), type="ok",
              value=result, start=t, end=t + 0.01)


def _delete_history(stale_reader: int | None, *, late: bool = False) -> History:
    h = History()
    h.add(_op(0, "set", "k", 1.0, True, value="v"))
    for r in range(2):
        h.add(_op(r, "get", "k", 1.1 + r / 100, "v", warm=True))
    h.add(_op(1, "delete", "k", 1.2, True))
    for r in range(2):
        h.add(_op(r, "get", "k", 1.3 + r / 100, "v" if r == stale_reader else None))
    if late and stale_reader is not None:
        h.add(_op(stale_reader, "get", "k", 1.6, None, poll=True))
    return h


def test_delete_holds_when_nobody_reads_the_value() -> None:
    v = check_delete(_delete_history(None), FACTS)
    assert v.verdict == "holds"
    assert v.evidence["values_visible_before"] == 2


def test_delete_ignored_by_one_worker_is_violated() -> None:
    v = check_delete(_delete_history(0), FACTS)
    assert v.verdict == "violated"
    assert v.evidence["stale_samples"][0]["reader_pid"] == 100


def test_delete_seen_late_holds_and_counts_the_late_invalidation() -> None:
    v = check_delete(_delete_history(0, late=True), FACTS)
    assert (v.verdict, v.evidence["late_invalidations"]) == ("holds", 1)


def test_a_later_clear_does_not_excuse_a_stale_read() -> None:
    h = History()
    h.add(_op(0, "set", "a", 1.0, True, value="va"))
    h.add(_op(1, "clear", None, 1.1, True))
    h.add(_op(0, "get", "a", 1.2, "va"))       # survived the first clear
    h.add(_op(0, "set", "b", 1.3, True, value="vb"))
    h.add(_op(0, "clear", None, 1.4, True))    # the writer's own clear
    h.add(_op(0, "get", "b", 1.5, None))
    h.add(_op(0, "get", "a", 1.6, None, poll=True))  # gone only because of clear #2
    v = check_clear(h, FACTS)
    assert v.verdict == "violated"
    assert v.evidence["stale_reads"] == 1


def _ttl_history(before: object, after: object) -> History:
    h = History()
    h.add(_op(0, "set", "k", 1.0, True, value="v", timeout=2))
    h.add(_op(1, "get", "k", 1.1, before, phase="before"))
    h.add(_op(1, "get", "k", 4.1, after, phase="after"))
    return h


def test_ttl_holds_when_visible_then_gone() -> None:
    v = check_ttl(_ttl_history("v", None), FACTS)
    assert v.verdict == "holds"
    assert v.evidence["waited_s"] == 3.09


def test_ttl_violated_when_key_outlives_expiry() -> None:
    v = check_ttl(_ttl_history("v", "v"), FACTS)
    assert (v.verdict, v.evidence["present_after_expiry"]) == ("violated", 1)


def test_ttl_violated_when_not_visible_before_expiry() -> None:
    v = check_ttl(_ttl_history(None, None), FACTS)
    assert (v.verdict, v.evidence["missing_before_expiry"]) == ("violated", 1)
