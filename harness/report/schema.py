"""The shape of report.json (schema ``coherence-report/1``), checked before anything reads it.

``coherence report`` and ``coherence diff`` read reports that may be old,
hand-edited or hostile.  Every field a renderer or the diff relies on is
checked here, once, so that a bad one costs one line naming that field
rather than a traceback from deep inside a renderer, and a history path
can never make a report read a file outside its own run directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..topology.appenv import REPORT_KEYS
from ..verdict import ANY_OF, Conclusion

SCHEMA = "coherence-report/1"

#: What a row's ``verdict`` and ``expected`` may be: what a checker can conclude.
CONCLUSIONS = tuple(c.value for c in Conclusion)

#: What to do about any malformed report: the writer only writes good ones.
FIX = "re-run 'coherence run' to write a new report"

#: JSON's names for Python's types, as a user reading report.json sees them.
_NOUNS: dict[type, str] = {dict: "an object", list: "a list", str: "a string",
                           int: "a whole number", float: "a number", bool: "true or false",
                           type(None): "null"}


@dataclass(frozen=True)
class Field:
    """One key of report.json or of a result row, and the JSON types it may hold."""

    name: str
    types: tuple[type, ...]
    required: bool = True

    def admits(self, value: Any) -> bool:
        # bool is an int to Python, never a number of workers to a report.
        if isinstance(value, bool):
            return bool in self.types
        return isinstance(value, self.types)

    @property
    def expected(self) -> str:
        return " or ".join(_NOUNS[t] for t in self.types)


_STR, _OPT_STR = (str,), (str, type(None))
_OBJECT = (dict, type(None))

#: The top level, in the order it is checked (``schema`` comes first, on its own).
TOP = (
    Field("created", _STR),
    Field("complete", (bool,), required=False),
    Field("partial_reason", _OPT_STR, required=False),
    # Optional: an empty block is written as {} but read back the same as none.
    Field("environment", _OBJECT, required=False),
    # Reports before --python have none.
    Field("app_environment", _OBJECT, required=False),
    Field("run", _OBJECT, required=False),
    Field("results", (list,)),
)

#: The app's environment (``--python``): the interpreter and its stack's versions
#: (harness.topology.appenv.AppEnvironment.describe), each None when absent.
APP_ENVIRONMENT = (
    Field("executable", _STR),
    Field("given", (bool,)),
    Field("python", _STR),
    Field("implementation", _OPT_STR, required=False),
    Field("prefix", _OPT_STR, required=False),
    *(Field(name, _OPT_STR) for name in (*REPORT_KEYS.values(), "memcached_client")),
)

#: Every result row; ``evidence`` may hold any JSON (the renderers read it defensively).
ROW = (
    Field("backend", _STR),
    Field("worker_class", _STR),
    Field("workers", (int,)),
    Field("preload", (bool,)),
    Field("scenario", _STR),
    Field("verdict", _STR),
    Field("expected", _OPT_STR),
    Field("evidence", (dict, list, str, int, float, bool, type(None))),
    Field("topology", (list,), required=False),
    Field("ok", (bool, type(None)), required=False),
    Field("history", _OPT_STR, required=False),
    Field("expected_reason", _OPT_STR, required=False),
    Field("expected_ref", _OPT_STR, required=False),
)


def describe(value: Any) -> str:
    """``value``'s JSON type, with the value itself when it is short enough to show."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    noun = _NOUNS.get(type(value), type(value).__name__)
    if isinstance(value, dict | list):
        return noun
    return f"{noun} ({short(value)})"


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a hostile value may be megabytes."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def _check_fields(where: str, owner: str, data: dict[str, Any], table: tuple[Field, ...]) -> None:
    for f in table:
        if f.name not in data:
            if f.required:
                raise UsageError(f"{where}: {owner or 'the report'} has no {f.name!r}: {FIX}")
            continue
        if not f.admits(data[f.name]):
            name = f"{owner}[{f.name!r}]" if owner else repr(f.name)
            raise UsageError(f"{where}: {name} must be {f.expected}, not "
                             f"{describe(data[f.name])}: {FIX}")


def check(data: Any, file: Path) -> None:
    """Raise UsageError naming the first field of ``data`` that is not as the schema says.

    ``file`` is the report.json ``data`` was read from: the message names it,
    and history paths are checked against its directory.
    """
    where = repr(str(file))
    if not isinstance(data, dict):
        raise UsageError(f"{where} holds {describe(data)}, not a report's object: {FIX}")
    if data.get("schema") != SCHEMA:
        schema = data.get("schema")
        raise UsageError(
            f"{where} has schema {short(schema)}, not {SCHEMA!r}: re-run 'coherence run' "
            "with this version of the harness to write a report it can render")
    _check_fields(where, "", data, TOP)
    try:
        datetime.fromisoformat(data["created"])
    except ValueError:
        raise UsageError(f"{where}: 'created' must be an ISO 8601 time, not "
                         f"{describe(data['created'])}: {FIX}") from None
    if data.get("app_environment"):
        _check_fields(where, "app_environment", data["app_environment"], APP_ENVIRONMENT)
    for n, row in enumerate(data["results"]):
        owner = f"results[{n}]"
        if not isinstance(row, dict):
            raise UsageError(f"{where}: {owner} must be an object, not {describe(row)}: {FIX}")
        _check_fields(where, owner, row, ROW)
        for name in ("verdict", "expected"):
            value = row[name]
            # An expectation may accept any of several verdicts, joined by ANY_OF.
            parts = value.split(ANY_OF) if name == "expected" and value is not None else [value]
            if value is not None and not all(v in CONCLUSIONS for v in parts):
                also = f" (or several joined by {ANY_OF!r})" if name == "expected" else ""
                raise UsageError(f"{where}: {owner}[{name!r}] must be one of "
                                 f"{', '.join(CONCLUSIONS)}{also}, not {describe(value)}: {FIX}")
        rel = row.get("history")
        if rel is not None and inside(file.parent, rel) is None:
            raise UsageError(
                f"{where}: {owner}['history'] {short(rel, 200)} leads outside the run directory "
                "(a history path is relative, such as 'histories/000-x.jsonl', and leaves "
                f"it through no '..' or symlink): {FIX}")


def inside(directory: Path, rel: str) -> Path | None:
    """``directory / rel`` with symlinks resolved, or None if that leaves ``directory``.

    An absolute path, a ``..`` that climbs out, or a symlink (anywhere along
    the way) that points out all leave it.
    """
    if not rel or "\0" in rel or Path(rel).is_absolute():
        return None
    try:
        root = directory.resolve()
        path = (root / rel).resolve()
    except (OSError, RuntimeError):
        return None
    if path == root or not path.is_relative_to(root):
        return None
    return path
