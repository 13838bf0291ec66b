"""A minimal foreign app, for the fixtures that misbehave around it."""

from flask import Flask
from flask_caching import Cache

app = Flask(__name__)
cache = Cache(app, config={"CACHE_TYPE": "SimpleCache"})
