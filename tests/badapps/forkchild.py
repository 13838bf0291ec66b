"""Forks at import; the child leaves the session (setsid) and keeps stdout and stderr."""

import os
import time

from _ok import app, cache  # noqa: F401

if os.fork() == 0:
    os.setsid()
    time.sleep(120)
    os._exit(0)
