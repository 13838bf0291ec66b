"""The op vocabulary: the names workloads give their ops and checkers look for, each once.

Besides names, :data:`OPS` states what each cache operation does (whether
it stores, removes, what a swallowed backend error looks like in its
reply), so that no checker keeps its own list of "the writes".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args

from ..worker.protocol import CACHE_OPS as WORKER_OPS

OpType = Literal["ok", "fail", "info"]
#: Every completion type, in the order reports list them.
OP_TYPES: tuple[OpType, ...] = get_args(OpType)

#: The cache operations a worker performs (``POST /ops/<f>``).
CacheOp = Literal["get", "set", "delete", "add", "inc", "has", "clear"]
CACHE_OPS: tuple[CacheOp, ...] = get_args(CacheOp)


def _never(_value: Any) -> bool:
    return False


def _falsy(value: Any) -> bool:
    return not value


def _none(value: Any) -> bool:
    return value is None


@dataclass(frozen=True, kw_only=True)
class OpKind:
    """What one cache operation does, as the checkers read it."""

    name: CacheOp
    #: It stores the value it was sent (``args["value"]``).
    stores_arg: bool = False
    #: It stores a value a later read may return (an ``inc`` stores its count).
    stores: bool = False
    #: It removes its key, or every key when it is not :attr:`keyed`.
    removes: bool = False
    #: It names one key; ``clear`` names none and acts on all.
    keyed: bool = True
    #: Refusing it leaves a ``none`` verdict meaningless: the workloads write
    #: or clear, then look for the effect (the share rule of
    #: :mod:`harness.checkers`).  A refused delete is not counted.
    refusal_voids_none: bool = False
    #: Results of an answered request that are a backend error the client
    #: library swallowed (compared by identity): see :mod:`harness.history.ops`.
    swallowed: tuple[Any, ...] = ()
    #: Whether an ``ok`` answer says nothing about the op's effect (a refused
    #: write, see :mod:`harness.checkers.register`).
    says_nothing: Callable[[Any], bool] = _never

    def __post_init__(self) -> None:
        if self.stores_arg and not self.stores:
            raise TypeError(f"op {self.name!r} stores the value it was sent but not a value "
                            "a later read may return; set stores=True too")

    @property
    def mutates(self) -> bool:
        """It may change what a key holds."""
        return self.stores or self.removes


#: Every cache operation, by name: the one table of what each does.
OPS: dict[str, OpKind] = {k.name: k for k in (
    OpKind(name="get"),
    OpKind(name="set", stores_arg=True, stores=True, refusal_voids_none=True,
           swallowed=(False,), says_nothing=_falsy),
    OpKind(name="delete", removes=True),
    OpKind(name="add", stores_arg=True, stores=True, refusal_voids_none=True),
    OpKind(name="inc", stores=True, refusal_voids_none=True, swallowed=(None,),
           says_nothing=_none),
    OpKind(name="has"),
    OpKind(name="clear", removes=True, keyed=False, refusal_voids_none=True,
           swallowed=(False,), says_nothing=_falsy),
)}
if tuple(OPS) != CACHE_OPS or CACHE_OPS != WORKER_OPS:
    raise TypeError(f"OPS describes {tuple(OPS)!r}; give it one entry per cache op of "
                    f"CACHE_OPS, in its order: {CACHE_OPS!r}, the workers' "
                    f"harness.worker.protocol.CACHE_OPS: {WORKER_OPS!r}")


def swallowed(f: str, value: Any) -> bool:
    """Whether ``f`` answering ``value`` is a backend error the client library hid."""
    kind = OPS.get(f)
    # Identity, not equality: an inc answering 0 is a count, not False.
    return kind is not None and any(value is s for s in kind.swallowed)


class Phase(StrEnum):
    """Where in its workload an op ran (``Meta.phase``)."""

    WRITE = "write"
    BEFORE = "before"
    CLEAR = "clear"
    AFTER = "after"
    FINAL = "final"
    OVERWRITE = "overwrite"
    IMPORT = "import"
    #: While every cache server is down (failure-safety).
    DOWN = "down"
    #: Writes past a cache's threshold, made to force a prune (ttl-zero).
    PRUNE = "prune"


class Role(StrEnum):
    """A worker's part in a restart (``Meta.role``)."""

    WRITER = "writer"
    SURVIVOR = "survivor"
    NEW = "new"


class App(StrEnum):
    """Who owns an entry in the blast-radius workload (``Meta.app``)."""

    CLEARING = "clearing"
    NEIGHBOUR = "neighbour"
    FOREIGN = "foreign"


class Feature(StrEnum):
    """The Flask-Caching features of ``apps/features.py`` the feature workloads try."""

    VIEW = "view"
    PLUGGABLE = "pluggable"
    HELPER = "helper"
    POST_BODY = "post-body"
    UNLESS = "unless"
    CACHED_RESPONSE = "cached-response"
    FUNCTION = "function"
    FUNCTION_ALL = "function-all"
    ITEM = "item"
    CLASSMETHOD = "classmethod"
    SINGLETON = "singleton"
    PER_REQUEST = "per-request"
    FRAGMENT_DEFAULT = "fragment-default"
    FRAGMENT_NAMED = "fragment-named"
    FRAGMENT_NONE = "fragment-none"
    FRAGMENT_DEL = "fragment-del"


class Step(StrEnum):
    """One request of a feature trial; the op's ``f`` is ``<feature>:<step>``."""

    COMPUTE = "compute"
    READ = "read"
    HELD = "held"
    FORGET = "forget"
    AFTER = "after"
    OTHER = "other"
    BYPASS = "bypass"
    EXPIRED = "expired"
    RESET = "reset"


def feature_op(feature: Feature, step: Step) -> str:
    """The ``f`` of a feature workload's op."""
    return f"{feature}:{step}"


#: The failure-safety workload's view probes: the first call computes, the
#: second should be served from the cache.
VIEW_COMPUTE = feature_op(Feature.VIEW, Step.COMPUTE)
VIEW_READ = feature_op(Feature.VIEW, Step.READ)

#: The ``load`` workload's ops: a worker's probe of a key, one execution of
#: the slow "database" call, a worker's first cache hit of a key, and the
#: read-back of a worker's record.
PROBE, SLOW_CALL, FIRST_HIT, READ_BACK = "probe", "slow-call", "first-hit", "slow-calls"


class Race(StrEnum):
    """The ops of the ``invalidation-race`` workload, by what each does in a trial."""

    #: The cold call racing the invalidation.
    READ = "invalidation:read"
    #: Another worker's invalidation, sent while the read computes.
    FORGET = "invalidation:forget"
    #: A read on every worker, started after the invalidation returned.
    AFTER = "invalidation:after"
