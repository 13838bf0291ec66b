"""The seed's demo app, misconfigured the way many real apps are.

It gives each process its own cache directory, as an app does that sets
``CACHE_DIR=tempfile.mkdtemp()`` at import: under gunicorn without
``--preload`` every worker imports the app, so every worker gets a directory
of its own.  A FileSystemCache row then fails its ``shared`` expectation,
which is what the harness is for.
"""

from __future__ import annotations

import os

from coherence_worker.flaskcompat import from_prefixed_env
from coherence_worker.routes import install
from flask import Flask
from flask_caching import Cache

app = Flask(__name__)
app.config.from_mapping(CACHE_TYPE="SimpleCache", CACHE_DEFAULT_TIMEOUT=300)
from_prefixed_env(app.config)
if app.config.get("CACHE_DIR"):
    app.config["CACHE_DIR"] = os.path.join(app.config["CACHE_DIR"], f"pid-{os.getpid()}")
cache = Cache(app)
install(app, cache)
