"""A good app that prints from an atexit handler."""

import atexit

from _ok import app, cache  # noqa: F401

atexit.register(print, "goodbye from atexit")
print("hello from import")
