"""The shapes of the evidence that the report reads back: checkers write them, reports read them.

A verdict's evidence is a JSON object, and most of it is there for people
to read, in any shape.  The parts below are read by :mod:`harness.report`
(the fault numbers, counterexamples, the heatmap's matrix, the cost
section's figures), so the checkers build them as these TypedDicts and
the report reads them under the same names.  They are plain dicts at run
time, so report.json is what it was; the report still checks each value
it reads, since it also renders reports written by older versions.
:func:`keys_of` and :func:`key_of` let a reader that names keys as data
(a table of stats) have them checked against a shape when it is defined.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any, TypedDict


class Counterexample(TypedDict, total=False):
    """The few ops a verdict rests on, which the report marks on the timeline."""

    #: 0-based indices into the workers' ops (``History.ops``), in time order.
    ops: list[int]
    #: One line per op of ``ops`` (or one line in all).
    describe: list[str] | str
    #: The ops whose results cannot be explained; marked more strongly.
    culprits: list[int]
    key: str | None
    #: The session guarantee a sample breaks (:mod:`.session`).
    kind: str
    #: Seconds a stale read came after the write that replaced its value.
    age: float


class StaleReads(TypedDict, total=False):
    count: int
    #: Reads with a source, of which ``count`` were stale.
    reads: int
    age_p50: float
    age_p99: float
    age_max: float
    samples: list[Counterexample]


class LostWrites(TypedDict):
    count: int
    #: Acknowledged writes a final read could judge.
    acked: int
    percent: float | None
    unjudged: int
    samples: list[Counterexample]


class Recovery(TypedDict, total=False):
    max_read: float | None
    max_write: float | None
    per_worker: dict[str, dict[str, float | None]]
    unrecovered: list[int]
    not_asked: list[int]


class SilentAfterRecovery(TypedDict):
    count: int
    judged: int
    #: [first, last] end of the silent writes, or None.
    window: list[float] | None
    samples: list[Counterexample]


class WindowEvidence(TypedDict):
    fault: str
    target: str
    start: float
    end: float
    closed: bool


class WorkerGone(TypedDict):
    count: int
    by_worker: dict[str, int]


class Duplicated(TypedDict):
    """Counters above what their increments could make (:mod:`.effects`)."""

    count: int
    counters: int
    samples: list[dict[str, Any]]


class Immortal(TypedDict):
    """Keys written with a timeout, stored with none (:mod:`.effects`)."""

    count: int
    judged: int
    samples: list[dict[str, Any]]


class Stalled(TypedDict):
    """Requests unanswered for the harness's whole request timeout (:mod:`.effects`)."""

    count: int
    longest: float
    samples: list[dict[str, Any]]


class FaultEvidence(TypedDict, total=False):
    """What :mod:`.faults` finds; its docstring says what each number means."""

    windows: list[WindowEvidence]
    healed_at: float
    finding: str
    lost_writes: LostWrites
    stale_reads: StaleReads
    failed_during_fault: int
    failed_by_worker: dict[str, dict[str, int]]
    recovery: Recovery
    silent_after_recovery: SilentAfterRecovery
    worker_gone: WorkerGone
    duplicated: Duplicated
    immortal: Immortal
    stalled: Stalled
    findings: list[str]
    counterexample: Counterexample


class Matrix(TypedDict, total=False):
    """A writer -> reader matrix, drawn as the heatmap: ``matrix[w][r]`` is one mark."""

    pids: list[int]
    matrix: list[list[str]]


class Visibility(Matrix, total=False):
    """What :mod:`.visibility` finds, around its matrix."""

    instances: list[int]
    writes: int
    writes_dropped: int
    reads: int
    late_reads: int
    missed_reads: int
    #: Here a count: reads of an older value after an overwrite.
    stale_reads: int
    stale_samples: list[dict[str, Any]]
    max_lag_s: float
    miss_samples: list[dict[str, Any]]


class Spread(TypedDict):
    """min / median / max of a count."""

    min: float
    median: float
    max: float


def spread(counts: Sequence[int]) -> Spread:
    """The spread of ``counts``: all 0 when there are none."""
    return {"min": min(counts, default=0),
            "median": statistics.median(counts) if counts else 0,
            "max": max(counts, default=0)}


class Stampede(TypedDict, total=False):
    #: Slow calls per trial.
    slow_calls: Spread


class Baseline(TypedDict, total=False):
    """The no-cache baseline's wrk figures, or why there are none."""

    backend: str
    #: How it was measured: "this row", "separately".
    measured: str
    error: str
    requests_per_s: float | None
    latency_ms: dict[str, float] | None
    hit_ratio: float | None
    requests: int | None
    errors: int | None


class Load(TypedDict, total=False):
    """The ``load`` scenario's figures: wrk's, the workers' records, and the baseline's."""

    requests_per_s: float
    latency_ms: dict[str, float]
    hit_ratio: float | None
    errors: int
    requests: int
    slow_calls: int
    slow_calls_per_key: Spread
    baseline: Baseline
    vs_baseline: dict[str, float | None]


def keys_of(shape: Any, *names: str) -> tuple[str, ...]:
    """``names``, once each is checked to be a key of the TypedDict ``shape``."""
    known = shape.__required_keys__ | shape.__optional_keys__
    unknown = [n for n in names if n not in known]
    if unknown:
        raise TypeError(f"{shape.__name__} has no key {', '.join(map(repr, unknown))}; "
                        f"use one of {', '.join(sorted(known))}")
    return names


def key_of(shape: Any, name: str) -> str:
    """``name``, once it is checked to be a key of the TypedDict ``shape``."""
    return keys_of(shape, name)[0]
