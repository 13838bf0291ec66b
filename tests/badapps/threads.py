"""Starts a non-daemon thread at import that never ends."""

import threading

from _ok import app, cache  # noqa: F401

threading.Thread(target=threading.Event().wait, name="poller").start()
