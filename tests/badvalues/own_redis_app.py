"""A foreign app whose own config names a Redis at the port BADVALUES_PORT gives."""

import os

from flask import Flask
from flask_caching import Cache

app = Flask(__name__)
cache = Cache(app, config={"CACHE_TYPE": "RedisCache",
                           "CACHE_REDIS_URL": f"redis://127.0.0.1:{os.environ['BADVALUES_PORT']}/0"})
