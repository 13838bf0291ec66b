"""rolling-deploy: what one Flask-Caching version writes, does the other read?

One worker of the old instance and one of the new, on one backend, take
turns as writer and reader for each kind of entry: a plain ``set``, a
``@cache.cached`` view (``/feat/view/<token>``) and a ``@cache.memoize``
function (``/memo/f/<token>``).  The writer reads its own entry back first,
so a backend that keeps nothing is told apart from two versions that do not
share.  Each side's keys for the same calls come from ``/__coherence__/keys``.
"""

from __future__ import annotations

from typing import Any

from ..client import WorkerClient, request
from ..history.ops import History
from ..worker.protocol import ROUTE_PREFIX
from .features import call
from .keys import Keyspace

#: The entries compared, in report order.
KINDS = ("set", "cached", "memoize")
MEMOIZED = "apps.features:compute"
VIEW = "cached_view"


def run(sides: dict[str, WorkerClient]) -> tuple[History, dict[str, Any]]:
    """Every kind of entry written on each side and read on the other.

    ``sides`` maps ``old`` / ``new`` to a worker.  Returns the history and,
    per kind and direction (``old->new``), the facts the checker judges.
    """
    history = History()
    keys = Keyspace("rolling")
    facts: dict[str, Any] = {}
    for writer_side, reader_side in (("old", "new"), ("new", "old")):
        writer, reader = sides[writer_side], sides[reader_side]
        direction = f"{writer_side}->{reader_side}"
        for kind in KINDS:
            token = keys.fresh(f"{kind}-{writer_side}").replace(":", "-")
            facts.setdefault(kind, {})[direction] = _exchange(history, kind, token,
                                                               writer, reader)
    for kind in ("cached", "memoize"):
        token = keys.fresh(f"keys-{kind}").replace(":", "-")
        facts[kind]["keys"] = {side: _key(w, kind, token) for side, w in sides.items()}
    return history, facts


def _exchange(history: History, kind: str, token: str, writer: WorkerClient,
              reader: WorkerClient) -> dict[str, Any]:
    if kind == "set":
        wrote = history.add(writer.op("set", token, value=token))
        own = history.add(writer.op("get", token))
        other = history.add(reader.op("get", token))
        value: Any = token
    else:
        url = f"/feat/view/{token}" if kind == "cached" else f"/memo/f/{token}"
        wrote = history.add(call(writer, f"{kind}:compute", "GET", url, key=token, trial=0))
        own = history.add(call(writer, f"{kind}:read", "GET", url, key=token, trial=0))
        other = history.add(call(reader, f"{kind}:read", "GET", url, key=token, trial=0))
        value = wrote.value
    ops = (wrote, own, other)
    return {"token": token, "ops_ok": all(op.type == "ok" for op in ops),
            "errors": [op.error for op in ops if op.type != "ok"],
            "self_read": own.type == "ok" and own.value == value,
            "read": other.type == "ok" and other.value == value}


def _key(worker: WorkerClient, kind: str, token: str) -> str | None:
    """The key ``worker``'s Flask-Caching gives the same call (memoize: without its version)."""
    memoized = [MEMOIZED] if kind == "memoize" else []
    samples = {MEMOIZED: [token], VIEW: {"name": token}}
    reply = request(worker.socket_path, "POST", f"{ROUTE_PREFIX}/keys",
                    {"memoized": memoized, "samples": samples})
    if reply.status != 200 or not isinstance(reply.body, dict):
        return None
    want = MEMOIZED if kind == "memoize" else VIEW
    for entry in reply.body.get("entries", []):
        if entry["name"] == want:
            return str(entry.get("key") or entry.get("error"))
    return None
