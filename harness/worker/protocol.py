"""The names the controller and the workers share: one place for each."""

#: The URL prefix every harness endpoint sits under.  An app with routes of
#: its own there is refused before boot (:func:`.routes.describe`).
ROUTE_PREFIX = "/__coherence__"

#: The cache operations a worker performs (``POST <prefix>/ops/<op>``), in
#: the order of ``harness.history.names.OPS``.
CACHE_OPS = ("get", "set", "delete", "add", "inc", "has", "clear")

#: The key of ``app.extensions`` that marks an app serving the harness endpoints already.
EXTENSION = "coherence"

#: What ``POST <prefix>/views`` does (the app-views scenario): find the app's
#: targets, call one, or invalidate one the app's way.
VIEW_ACTIONS = ("list", "call", "forget")

#: The oldest release of each part of the app's stack the worker side runs
#: on, by distribution name (``python`` is the interpreter).  One table: the
#: ``--python`` check (:mod:`harness.topology.appenv`) refuses anything older,
#: the README's "Supported versions" states it, and tox's ``floor`` env and
#: ``tests/test_app_python.py`` install :data:`FLOOR_PINS` and run on them.
#: ``redis`` counts only where a Redis backend is checked.
FLOOR = {
    "python": "3.9",
    "flask": "2.0",
    "werkzeug": "2.0",
    "flask-caching": "2.0",
    "cachelib": "0.9",
    "gunicorn": "20.1",
    "redis": "4.0",
}

#: The exact releases at :data:`FLOOR` that the floor is proven on: the first
#: release of each line, but the last bugfix release of Flask's, Werkzeug's
#: and redis-py's; :data:`FLOOR_EXTRAS` is what else a worker needs on Python
#: 3.9 (gevent for ``--worker-class gevent``, a memcached client, and a
#: setuptools that still has the ``pkg_resources`` gunicorn 20.1 imports:
#: gunicorn/util.py:25).
FLOOR_PINS = {
    "flask": "2.0.3",
    "werkzeug": "2.0.3",
    "flask-caching": "2.0.0",
    "cachelib": "0.9.0",
    "gunicorn": "20.1.0",
    "redis": "4.0.2",
}
FLOOR_EXTRAS = ("gevent", "python-memcached", "setuptools<81")

#: What the app's environment is asked for and recorded (report.json's
#: ``app_environment``): the distributions a verdict depends on.  The
#: memcached clients are every one cachelib's MemcachedCache can use
#: (cachelib/memcached.py:291 in 0.17, :169 in 0.9,
#: ``import_preferred_memcache_lib``).
APP_DISTRIBUTIONS = ("flask", "werkzeug", "flask-caching", "cachelib", "gunicorn", "redis",
                     "gevent", "python-memcached", "pylibmc", "libmc")
