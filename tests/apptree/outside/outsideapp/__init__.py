"""An app that reads a config shared by several projects, from above its own project.

``create_app`` reads ``shared.cfg`` two levels above this package, outside
the project tree: a copy of the project has no such file, so a second
deployment made from one cannot boot.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from flask import Flask
from flask_caching import Cache

SHARED = Path(__file__).resolve().parents[2] / "shared.cfg"

cache = Cache()


def create_app() -> Flask:
    parser = configparser.ConfigParser()
    if not parser.read(SHARED):
        raise FileNotFoundError(f"outsideapp needs the shared config {SHARED}")
    app = Flask(__name__)
    app.config.update(CACHE_TYPE=parser["cache"]["type"])
    cache.init_app(app)
    return app
