"""A project laid out as real ones are: the package, and a config file beside it.

``create_app`` reads ``settings.cfg`` from the project's root (the directory
above this package), as many apps read an ini or toml file kept next to
their code.  Nothing here knows of the harness.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from flask import Flask, jsonify
from flask_caching import Cache

SETTINGS = Path(__file__).resolve().parent.parent / "settings.cfg"

cache = Cache()


def create_app() -> Flask:
    parser = configparser.ConfigParser()
    if not parser.read(SETTINGS):
        raise FileNotFoundError(f"treeapp needs its settings file {SETTINGS}")
    app = Flask(__name__)
    app.config.update(CACHE_TYPE=parser["cache"]["type"],
                      CACHE_KEY_PREFIX=parser["cache"]["key_prefix"])
    cache.init_app(app)

    @app.get("/greeting/<name>")
    @cache.cached(timeout=60)
    def greeting(name: str):  # type: ignore[no-untyped-def]
        return jsonify(hello=name)

    return app
