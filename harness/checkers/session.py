"""Session guarantees: read-your-writes and monotonic reads, per client and per worker.

Terry et al.'s session guarantees ("Session Guarantees for Weakly
Consistent Replicated Data", 1994), judged on a history alone.  Sources,
"surely before" and acknowledged ops are defined in :mod:`.versions`.

* A *session* is the ops of one client (``Meta.client``, or else the op's
  ``process``, Jepsen's process) or of one worker (``pid``).  Its ops may
  overlap (several client threads on one worker), so "before" is real
  time: ``a`` precedes ``b`` when ``a.end < b.start``.
* A session's *acknowledged* ops on a key: its ``set``, ``add``, ``delete``
  answered True, its ``inc`` answered with a number, and its ``clear``
  answered True (on every key).

**Read-your-writes.**  A ``get`` answered ``ok`` after some of its
session's acknowledged ops on that key completed (those reads are the ones
*checked*) violates it when

1. *older*: its source is surely before one of those ops: the session's
   own write or delete was acknowledged, and the read saw what came
   before it; or
2. *missed, then seen*: it missed (None), the session's next read that
   returned a value returned one of those writes, and no ``delete`` or
   ``clear`` (anyone's; ``fail`` aside) could have taken effect between
   that write and the miss.  The value was stored before the miss and
   after it and nothing removed it, so the miss was not the cache
   forgetting: the read saw the key as it was before the session's own
   acknowledged write.

A miss alone is not a violation, only counted (``misses``): a cache may
forget any entry at any time (eviction, expiry, another client's clear;
a cache that never stores forgets at once), and one miss cannot tell
forgetting from not yet seeing.  Counting misses would condemn every cache
that stores nothing; leaving out rule 2 would excuse a read of a fresh key
from a copy that lags, which is the commonest way to break the guarantee.

**Monotonic reads.**  Two ``get`` s of one session on one key, both with a
source, the first before the second (a later read is *checked* when an
earlier one returned a sourced value), violate it when the second's
source is surely before the first's: the session saw a version, then one
from before it.  Misses never count: a miss after a value may be
forgetting, and a miss before a value may be a read from before the write,
which is staleness, not a reversal.

**Verdicts**, for each guarantee on its own:

* ``none``: no read returned a stored value; a cache that stores nothing
  keeps no session;
* ``holds``: no violation per client nor per worker;
* ``per-worker``: violations per client, none per worker: each worker
  keeps the guarantee, a client whose requests reach several workers
  does not;
* ``violated``: violations within a worker too.

A history that gives a guarantee nothing to check raises (no read after
its session's own acknowledged op; no session reading a key twice), and
so does one whose values name no write; :func:`harness.checkers.safely`
makes either ``unknown``.

**Evidence.**  ``per_client`` and ``per_worker`` each hold ``sessions``,
``reads_checked``, ``violations`` and the count of each kind (``older``,
``missed_then_seen``; ``reversed`` for monotonic reads), ``misses``
(read-your-writes only), ``by_session`` (session id as a string ->
``reads_checked``, ``violations``) and ``samples``: the first violations,
each with its ``kind``, ``ops`` (indices into ``History.ops``, in start
order), ``culprits`` (the violating read) and a ``describe`` line per op.
``counterexample`` is the first sample of the partition that decided the
verdict; ``unsourced_reads`` counts reads whose value names no write.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..history.ops import History, Op
from ..verdict import Conclusion, Verdict
from . import Facts, observing, op_line
from .evidence import Counterexample
from .versions import Removals, Sources, acknowledged, stores, surely_before

_MAX_SAMPLES = 5

#: How ops are grouped into sessions, by evidence key.
PARTITIONS: dict[str, Callable[[Op], int]] = {
    "per_client": lambda op: op.meta.client if op.meta.client is not None else op.process,
    "per_worker": lambda op: op.pid,
}


@dataclass
class _Tally:
    """One partition's counts and first violations."""

    history: History
    sessions: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    misses: int | None = None
    checked: Counter[int] = field(default_factory=Counter)
    violated: Counter[int] = field(default_factory=Counter)
    samples: list[Counterexample] = field(default_factory=list)

    def violation(self, kind: str, session: int, read: int, ops: list[int]) -> None:
        self.kinds[kind] += 1
        self.violated[session] += 1
        if len(self.samples) < _MAX_SAMPLES:
            ops = sorted(set(ops), key=lambda i: (self.history.ops[i].start, i))
            self.samples.append({"kind": kind, "ops": ops, "culprits": [read],
                                 "describe": [op_line(i, self.history.ops[i]) for i in ops]})

    def evidence(self, kinds: tuple[str, ...]) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "reads_checked": sum(self.checked.values()),
            "violations": sum(self.kinds.values()),
            **{k: self.kinds[k] for k in kinds},
            **({"misses": self.misses} if self.misses is not None else {}),
            "by_session": {str(s): {"reads_checked": self.checked[s],
                                    "violations": self.violated[s]}
                           for s in sorted(self.checked)},
            "samples": self.samples,
        }


def _groups(history: History, session_of: Callable[[Op], int]
            ) -> tuple[dict[tuple[int, str], list[int]], dict[int, list[int]]]:
    """Op indices per (session, key), in start order, and each session's clears."""
    keyed: dict[tuple[int, str], list[int]] = defaultdict(list)
    clears: dict[int, list[int]] = defaultdict(list)
    for index, op in enumerate(history.ops):
        if op.f == "clear":
            clears[session_of(op)].append(index)
        elif op.key is not None:
            keyed[(session_of(op), op.key)].append(index)
    for indices in keyed.values():
        indices.sort(key=lambda i: history.ops[i].start)
    return keyed, clears


def _reads(ops: list[Op], indices: list[int]) -> list[int]:
    return [i for i in indices if ops[i].f == "get" and ops[i].type == "ok"]


def _latest(ops: list[Op], indices: list[int]) -> tuple[list[float], list[int]]:
    """``indices`` sorted by end, and for each prefix the op that started last."""
    by_end = sorted(indices, key=lambda i: ops[i].end)
    latest: list[int] = []
    for i in by_end:
        latest.append(i if not latest or ops[i].start > ops[latest[-1]].start else latest[-1])
    return [ops[i].end for i in by_end], latest


def _ryw(history: History, sources: Sources, session_of: Callable[[Op], int]) -> _Tally:
    ops = history.ops
    tally = _Tally(history, misses=0)
    keyed, clears = _groups(history, session_of)
    tally.sessions = len({s for s, _ in keyed} | set(clears))
    removals = Removals(history)
    for (session, key), indices in keyed.items():
        own = [i for i in (*indices, *clears[session]) if acknowledged(ops[i])]
        if not own:
            continue
        ends, latest = _latest(ops, own)
        reads = _reads(ops, indices)
        hits = [r for r in reads if ops[r].value is not None]
        hit_starts = [ops[r].start for r in hits]
        for r in reads:
            read = ops[r]
            done = bisect_left(ends, read.start)
            if done == 0:
                continue
            tally.checked[session] += 1
            if read.value is not None:
                source = sources.of(read)
                if source is not None and surely_before(ops[source], ops[latest[done - 1]]):
                    tally.violation("older", session, r, [latest[done - 1], r, source])
                continue
            tally.misses = (tally.misses or 0) + 1
            # Rule 2, with the session's next read that returned a value.
            n = bisect_right(hit_starts, read.end)
            if n == len(hits) or (source := sources.of(ops[hits[n]])) is None:
                continue
            write = ops[source]
            if stores(write) and acknowledged(write) and session_of(write) == session \
                    and write.end < read.start \
                    and not removals.between(key, write.start, read.end):
                tally.violation("missed_then_seen", session, r, [source, r, hits[n]])
    return tally


def _monotonic(history: History, sources: Sources, session_of: Callable[[Op], int]) -> _Tally:
    ops = history.ops
    tally = _Tally(history)
    keyed, _ = _groups(history, session_of)
    tally.sessions = len({s for s, _ in keyed})
    for (session, _key), indices in keyed.items():
        seen = {r: s for r in _reads(ops, indices) if (s := sources.of(ops[r])) is not None}
        if len(seen) < 2:
            continue
        by_end = sorted(seen, key=lambda r: ops[r].end)
        ends = [ops[r].end for r in by_end]
        # For each prefix of reads (by end), the read whose source started last.
        newest: list[int] = []
        for r in by_end:
            newest.append(r if not newest or ops[seen[r]].start > ops[seen[newest[-1]]].start
                          else newest[-1])
        for r in sorted(seen, key=lambda r: ops[r].start):
            done = bisect_left(ends, ops[r].start)
            if done == 0:
                continue
            tally.checked[session] += 1
            first = newest[done - 1]
            if surely_before(ops[seen[r]], ops[seen[first]]):
                tally.violation("reversed", session, r, [seen[first], first, seen[r], r])
    return tally


def _values(history: History, sources: Sources) -> Iterator[tuple[int, int | None]]:
    for i, op in enumerate(history.ops):
        if op.f == "get" and op.type == "ok" and op.value is not None:
            yield i, sources.of(op)


def _judge(history: History, judge: Callable[[History, Sources, Callable[[Op], int]], _Tally],
           kinds: tuple[str, ...], what: str) -> Verdict:
    sources = Sources(history)
    values = list(_values(history, sources))
    if not values:
        return Verdict(verdict=Conclusion.NONE, evidence={
            "reads": sum(op.f == "get" and op.type == "ok" for op in history),
            "finding": "no read returned a stored value: there was no session to keep"})
    unsourced = sum(source is None for _, source in values)
    if unsourced == len(values):
        raise ValueError(f"none of the {len(values)} values read names a single write; "
                         "workloads must write each value at most once")
    tallies = {name: judge(history, sources, part) for name, part in PARTITIONS.items()}
    if not any(t.checked for t in tallies.values()):
        raise ValueError(f"no read {what}: the workload gave the guarantee nothing to check")
    evidence: dict[str, Any] = {name: t.evidence(kinds) for name, t in tallies.items()}
    if unsourced:
        evidence["unsourced_reads"] = unsourced
    client, worker = tallies["per_client"], tallies["per_worker"]
    if worker.samples:
        verdict, decided = Conclusion.VIOLATED, worker
    elif client.samples:
        verdict, decided = Conclusion.PER_WORKER, client
        evidence["finding"] = ("kept within each worker, broken for clients whose requests "
                               "reach several workers")
    else:
        return Verdict(verdict=Conclusion.HOLDS, evidence=evidence)
    evidence["counterexample"] = decided.samples[0]
    return Verdict(verdict=verdict, evidence=evidence)


@observing
def check_read_your_writes(history: History, facts: Facts) -> Verdict:
    """Read-your-writes per client and per worker; see the module docstring."""
    return _judge(history, _ryw, ("older", "missed_then_seen"),
                  "followed an acknowledged op of its own session on its key")


@observing
def check_monotonic_reads(history: History, facts: Facts) -> Verdict:
    """Monotonic reads per client and per worker; see the module docstring."""
    return _judge(history, _monotonic, ("reversed",),
                  "of a stored value followed another in its session on its key")
