"""RedisCache on a host and port of the app's own config (APPCONFIG_HOST, APPCONFIG_PORT)."""

import os

from flask import Flask
from flask_caching import Cache

app = Flask(__name__)
cache = Cache(app, config={"CACHE_TYPE": "RedisCache",
                           "CACHE_REDIS_HOST": os.environ.get("APPCONFIG_HOST", "127.0.0.1"),
                           "CACHE_REDIS_PORT": int(os.environ.get("APPCONFIG_PORT", "6379"))})
