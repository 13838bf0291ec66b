"""The seed's demo service, plus the routes the harness drives.

Run it by hand as the seed did::

    FLASK_CACHE_TYPE=SimpleCache gunicorn apps.demo:app -w 4

Configuration comes from ``FLASK_``-prefixed environment variables (for
example ``FLASK_CACHE_TYPE=RedisCache``), which is how the harness hands
each gunicorn instance its backend.
"""

from __future__ import annotations

from typing import Any

from coherence_worker.flaskcompat import from_prefixed_env
from coherence_worker.routes import install
from flask import Flask, jsonify, request
from flask_caching import Cache

from apps.user import install_user

app = Flask(__name__)
app.config.from_mapping(CACHE_TYPE="SimpleCache", CACHE_DEFAULT_TIMEOUT=300)
from_prefixed_env(app.config)
cache = Cache(app)
install(app, cache)
install_user(app, cache)


@app.get("/cache/<key>")
def get_cached_data(key: str) -> Any:
    value = cache.get(key)
    return jsonify(key=key, found=value is not None, value=value)


@app.post("/cache")
def set_cached_data() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="request body must be a JSON object"), 400
    key, value = body.get("key"), body.get("value")
    if not key or value is None:
        return jsonify(error="both 'key' and 'value' are required"), 400
    existing = cache.get(key)
    if existing is not None:
        return jsonify(key=key, value=existing, created=False)
    cache.set(key, value)
    return jsonify(key=key, value=value, created=True)
