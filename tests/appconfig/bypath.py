"""CACHE_TYPE as the import path of a built-in, with Redis keys SimpleCache never reads.

The keys point at APPCONFIG_PORT, where nothing listens: left over from a
Redis set-up, as they often are.  Flask-Caching's SimpleCache factory reads
none of them, so the run must neither check nor mention them as a server.
"""

import os

from flask import Flask
from flask_caching import Cache

app = Flask(__name__)
cache = Cache(app, config={
    "CACHE_TYPE": "flask_caching.backends.simplecache.SimpleCache",
    "CACHE_REDIS_HOST": "127.0.0.1",
    "CACHE_REDIS_PORT": int(os.environ.get("APPCONFIG_PORT", "1")),
})
