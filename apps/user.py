"""The seed's cached endpoint, ``GET /user/<name>``, counted for the load scenarios.

The blog post this project grew from measures this endpoint before it asks
the coherence question: ``get``; on a miss a slow "database" call; then
``set`` with a 10 s timeout.  Two variants do the same through Flask-Caching's
decorators, so a stampede can be measured the same way on each:

* ``GET /user/<name>``          plain cache-aside, as the seed wrote it;
* ``GET /user-cached/<name>``   a ``@cache.cached`` view around the slow call;
* ``GET /user-memo/<name>``     a view calling a ``@cache.memoize`` function.

Every response says ``X-Cache: hit`` or ``miss`` (miss when this request
ran the slow call) and carries the value's generation id (``gen``), fresh
per slow call, so equal ids mean one computation.  Each worker records every
slow call (when its request began, before the cache ``get``, and when its
response was ready, after the ``set``) and every hit, per key;
``GET /slow-calls?prefix=P`` returns that worker's record for the keys
starting with ``P``, which the harness reads through each worker's socket.

Times are ``time.monotonic()``: one clock for every process on the machine.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import Counter
from typing import Any
from uuid import uuid4

from flask import Blueprint, Flask, Response, g, jsonify, request
from flask_caching import Cache

#: The simulated database call: the seed's "slow" lookup.
SLOW_CALL_S = 0.05
#: The seed's timeout for a cached user.
TIMEOUT = 10
#: Variant names, as the records and the stampede scenarios name them.
PLAIN, CACHED, MEMO = "plain", "cached", "memoize"

_lock = threading.Lock()
_counter = itertools.count()
_served: Counter[str] = Counter()
_hits: Counter[str] = Counter()
_first_hit: dict[str, float] = {}
_slow_calls: dict[str, list[tuple[float, float]]] = {}


def _lookup(name: str) -> dict[str, Any]:
    """The "database": slow, and a fresh generation id for every call."""
    time.sleep(SLOW_CALL_S)
    g.user_slow_call = True
    return {"name": name, "gen": f"{os.getpid()}-{next(_counter)}-{uuid4().hex[:6]}",
            "pid": os.getpid()}


def install_user(app: Flask, cache: Cache) -> None:
    """Register the three ``/user`` routes and ``/slow-calls`` on ``app``."""
    bp = Blueprint("user", __name__)

    @bp.before_request
    def started() -> None:
        # Before any cache call of the request, the decorators' included.
        g.user_started = time.monotonic()

    @bp.after_request
    def counted(resp: Response) -> Response:
        key = g.get("user_key")
        if key is None:
            return resp
        slow = bool(g.get("user_slow_call"))
        # After the decorators' set: the entry is stored by now.
        now = time.monotonic()
        with _lock:
            _served[key] += 1
            if slow:
                _slow_calls.setdefault(key, []).append((g.user_started, now))
            else:
                _hits[key] += 1
                _first_hit.setdefault(key, g.user_started)
        resp.headers["X-Cache"] = "miss" if slow else "hit"
        return resp

    @bp.get("/user/<name>")
    def user(name: str) -> Response:
        g.user_key = f"{PLAIN}/{name}"
        key = f"user:{name}"
        value = cache.get(key)
        if value is None:
            value = _lookup(name)
            cache.set(key, value, timeout=TIMEOUT)
        return jsonify(value)

    @bp.get("/user-cached/<name>")
    def user_cached(name: str) -> Response:
        g.user_key = f"{CACHED}/{name}"
        return _user_cached(name)

    @cache.cached(timeout=TIMEOUT)
    def _user_cached(name: str) -> Response:
        return jsonify(_lookup(name))

    @cache.memoize(timeout=TIMEOUT)
    def lookup_memoized(name: str) -> dict[str, Any]:
        return _lookup(name)

    @bp.get("/user-memo/<name>")
    def user_memo(name: str) -> Response:
        g.user_key = f"{MEMO}/{name}"
        return jsonify(lookup_memoized(name))

    @bp.get("/slow-calls")
    def slow_calls() -> Response:
        prefix = request.args.get("prefix", "")

        def mine(key: str) -> bool:
            return key.partition("/")[2].startswith(prefix)

        with _lock:
            return jsonify(
                pid=os.getpid(), clock="monotonic", timeout_s=TIMEOUT, slow_call_s=SLOW_CALL_S,
                served={k: n for k, n in _served.items() if mine(k)},
                hits={k: n for k, n in _hits.items() if mine(k)},
                first_hit={k: t for k, t in _first_hit.items() if mine(k)},
                slow_calls={k: v for k, v in _slow_calls.items() if mine(k)},
            )

    app.register_blueprint(bp)
