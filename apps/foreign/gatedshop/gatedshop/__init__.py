"""gatedshop: a shop with every gate a production app has, and its own caching.

It knows nothing of the harness.  ``create_app()`` reads ``shop.cfg`` from
beside the package, then sets up the gates every request passes, in order:
Flask-WTF's ``CSRFProtect`` (a POST without a token answers 400), a
"finish the set-up first" redirect to ``/setup`` while ``SETUP_DONE`` is
false, and a login-required redirect to ``/login``; and a catch-all page
route.  It has two ``Cache`` instances: ``cache`` (FileSystemCache, named by
import path) and ``local`` (SimpleCache, with CACHE_REDIS_* keys it never
reads).  Started from this directory: ``gunicorn 'gatedshop:create_app()'``.

What ``coherence run --app 'gatedshop:create_app()' --scenario app-views``
should find, with ``cache`` on a shared backend (FileSystemCache, RedisCache)
and 2 or more workers, from Flask-Caching's source (2.5.1 line numbers of
flask_caching/__init__.py, 2.0.0 in brackets):

* ``catalog.index``, ``catalog.product``, ``catalog.reviews`` (a MethodView's
  cached ``get``): **shared**.  The key is ``"view/" + request.path``
  (``key_prefix % request.path``, 789 [484]), the same in every worker,
  and the entry lives in the one shared backend (a hit returns it without
  calling the view, 613 and 666 [380 and 404]); ``cache.delete`` of that
  key removes it for everyone.
* ``gatedshop.catalog:price_of``, ``gatedshop.inventory:Inventory.stock``
  (``self`` is the module-level ``inventory``, whose repr names it) and
  ``gatedshop.inventory:Reports.bestsellers`` (``self`` is ``Reports()``,
  built with no arguments): **shared**.  The key hashes the qualified name,
  the arguments and ``repr(self)`` (``_memoize_make_cache_key``, 916
  [582]; utils.py ``get_id``), the same everywhere, plus a version read
  from the shared backend (``_memoize_version``, 890 [545]), which
  ``delete_memoized(fn)`` resets for every worker (1449 [1022]).
* ``gatedshop.catalog:exchange_rate``: **per-worker**, deliberately.  It is
  memoized on ``local``, a SimpleCache: a dict per process
  (cachelib/simple.py:42, ``self._cache = {}``), so a worker never finds
  another's entry, and an invalidation clears only its own.
* ``gatedshop.catalog:category_tree``: **stale**, deliberately.  A
  ``functools.cache`` (an unbounded ``lru_cache``) sits in front of the
  memoized call; ``functools.update_wrapper`` copied ``uncached`` and
  ``make_cache_key`` onto it, so it is what the app's code calls.
  ``delete_memoized`` resets the version in the shared backend, but each
  process's functools cache still answers from its own copy and never
  reaches the memoized call again.
* ``account.orders`` (needs ``session["user"]``, a logged-in user) and
  ``catalog.order`` (needs an order row; a fresh shop has none, so 404):
  **not computed**, with the reason, never a pass.

The row's verdict is the worst target's: **stale**.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify, redirect, request, session, url_for

from . import account, catalog
from .extensions import cache, csrf, local


def create_app() -> Flask:
    app = Flask(__name__)
    # The config file sits beside the package, not inside it.
    app.config.from_pyfile(os.path.join(os.path.dirname(app.root_path), "shop.cfg"))
    csrf.init_app(app)
    cache.init_app(app)
    local.init_app(app, config=app.config["LOCAL_CACHE"])
    app.register_blueprint(catalog.bp)
    app.register_blueprint(account.bp)

    @app.before_request
    def require_setup() -> Any:
        if not app.config["SETUP_DONE"] and request.endpoint not in (
                "account.setup", *account.PUBLIC):
            return redirect(url_for("account.setup"))
        return None

    @app.before_request
    def require_login() -> Any:
        if "user" not in session and request.endpoint not in account.PUBLIC:
            return redirect(url_for("account.login"))
        return None

    @app.route("/<path:page>")
    def pages(page: str) -> Any:
        return jsonify(error=f"no page {page!r}"), 404

    return app
