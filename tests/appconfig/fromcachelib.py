"""CACHE_TYPE naming cachelib's SimpleCache, which Flask-Caching makes from CACHE_ARGS alone."""

from flask import Flask
from flask_caching import Cache

app = Flask(__name__)
cache = Cache(app, config={"CACHE_TYPE": "cachelib.simple.SimpleCache",
                           "CACHE_REDIS_URL": "redis://127.0.0.1:1/0"})
