"""The invalidation-race scenario's targets, installed on the features app.

Every body that runs returns a token no other run returns, stamped with the
worker's wall clock when the body started, then takes RACE_COMPUTE seconds:
the window in which another worker's invalidation lands.  Each /race/ reply
also says whether this request ran the body (``fresh``) and the worker's
wall clock when it answered (``now``), so the harness can set the token's
start against its own operation times.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from uuid import uuid4

from flask import Flask, Response, g, jsonify, request
from flask_caching import Cache

#: How long a race body "computes" after stamping its token.
RACE_COMPUTE = 0.025

#: Which read route each invalidation's target is read through.
RACE_TARGETS = {"delete_memoized(fn)": "memo-all", "delete_memoized(fn, x)": "memo",
                "delete_memoized(instance.method)": "item",
                "cache.delete(view key)": "view", "delete_cached(view)": "view"}


def install_race(app: Flask, cache: Cache, timeout: int) -> None:
    """The race targets, their read routes, /race/kinds and /race/forget on ``app``."""

    def _race_token(x: str) -> dict[str, Any]:
        token = {"gen": uuid4().hex, "started": time.time(), "pid": os.getpid(), "x": x}
        g.race_computed = token["gen"]
        time.sleep(RACE_COMPUTE)
        return token


    @cache.memoize(timeout=timeout)
    def race_compute(x: str) -> dict[str, Any]:
        return _race_token(x)


    @cache.memoize(timeout=timeout)
    def race_compute_all(x: str) -> dict[str, Any]:
        """race_compute's twin for ``delete_memoized(fn)``, whose version reset would
        otherwise orphan race_compute's entries of the trials running beside it."""
        return _race_token(x)


    class RaceItem:
        """A model with a stable repr, whose memoized method has a per-instance version."""

        def __init__(self, item_id: str) -> None:
            self.id = item_id

        def __repr__(self) -> str:
            return f"RaceItem({self.id})"

        @cache.memoize(timeout=timeout)
        def token(self) -> dict[str, Any]:
            return _race_token(self.id)


    @app.get("/race/memo/<x>")
    def race_memo(x: str) -> Response:
        return jsonify(race_compute(x))


    @app.get("/race/memo-all/<x>")
    def race_memo_all(x: str) -> Response:
        return jsonify(race_compute_all(x))


    @app.get("/race/item/<x>")
    def race_item(x: str) -> Response:
        return jsonify(RaceItem(x).token())


    @app.get("/race/view/<x>")
    @cache.cached(timeout=timeout)
    def race_view(x: str) -> Response:
        return jsonify(_race_token(x))


    def _race_forgets() -> dict[str, Any]:
        """Each way to invalidate a race target, by name: what it calls."""
        forgets: dict[str, Any] = {
            "delete_memoized(fn)": lambda x: cache.delete_memoized(race_compute_all),
            "delete_memoized(fn, x)": lambda x: cache.delete_memoized(race_compute, x),
            "delete_memoized(instance.method)":
                lambda x: cache.delete_memoized(RaceItem(x).token),
            "cache.delete(view key)": lambda x: cache.delete(f"view//race/view/{x}"),
        }
        # delete_cached came with Flask-Caching 2.5; older releases lack it.
        if hasattr(cache, "delete_cached"):
            forgets["delete_cached(view)"] = \
                lambda x: cache.delete_cached(race_view, path=f"/race/view/{x}")
        return forgets


    @app.get("/race/kinds")
    def race_kinds() -> Response:
        kinds = list(_race_forgets())
        return jsonify(result=kinds, routes={k: RACE_TARGETS[k] for k in kinds},
                       delete_cached=hasattr(cache, "delete_cached"), now=time.time())


    @app.post("/race/forget/<x>")
    def race_forget(x: str) -> Response:
        how = str((request.get_json(silent=True) or {}).get("how"))
        forgets = _race_forgets()
        if how not in forgets:
            return jsonify(error=f"no invalidation {how!r}; use one of {', '.join(forgets)}"), 400
        done = forgets[how](x)
        return jsonify(result=True if done is None else bool(done), how=how, now=time.time())


    @app.after_request
    def _race_stamp(response: Response) -> Response:
        if request.path.startswith(("/race/memo/", "/race/memo-all/", "/race/item/",
                                                     "/race/view/")) \
                and response.is_json:
            body = response.get_json()
            if isinstance(body, dict):
                body["fresh"] = g.get("race_computed") == body.get("gen")
                body["now"] = time.time()
                response.set_data(json.dumps(body))
        return response
