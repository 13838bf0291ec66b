"""A user's own backend, named to the harness by import path with ``--server redis``.

On PYTHONPATH only for the runs that name it (tests/test_topology.py), as a
user's package would be.
"""

from __future__ import annotations

from flask_caching.backends import RedisCache


class MyRedisCache(RedisCache):
    """RedisCache under another name: the harness knows it only as ``mypkg.MyRedisCache``."""
