"""An ordinary Flask app that knows nothing of the harness: a factory and ``cache.init_app``.

It is what ``coherence run --app 'shopapp:create_app()'`` is for: the module
is reached on PYTHONPATH (``PYTHONPATH=apps/foreign``), imports no harness
code, and keeps its own cache configuration -- FileSystemCache in
``$SHOP_CACHE_DIR`` -- which the harness checks as it is.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from flask import Flask, jsonify
from flask_caching import Cache

cache = Cache()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        CACHE_TYPE="FileSystemCache",
        CACHE_DIR=os.environ.get("SHOP_CACHE_DIR",
                                 os.path.join(tempfile.gettempdir(), "shopapp-cache")),
        CACHE_DEFAULT_TIMEOUT=600,
    )
    app.config.update(config or {})
    cache.init_app(app)

    @app.get("/price/<int:item>")
    @cache.cached(timeout=60)
    def price(item: int) -> Any:
        return jsonify(item=item, price=item * 100)

    # A catch-all route: the harness's own routes must still win under their prefix.
    @app.get("/<path:anything>")
    def not_found(anything: str) -> Any:
        return jsonify(error=f"no page {anything!r}"), 404

    return app
