"""The names workloads give their ops and checkers look for, each defined once."""

from __future__ import annotations

from enum import StrEnum


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
