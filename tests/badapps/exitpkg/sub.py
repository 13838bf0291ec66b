from flask_caching.backends import SimpleCache as C  # noqa: F401
