"""CACHE_TYPE as an alias of Flask-Caching before 2.5 (``simple``), which 2.5 removed."""

from flask import Flask
from flask_caching import Cache

app = Flask(__name__)
cache = Cache(app, config={"CACHE_TYPE": "simple"})
