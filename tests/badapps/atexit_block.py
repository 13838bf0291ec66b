"""An exit handler that blocks: the process would not exit when gunicorn stops a worker."""

import atexit
import time

from _ok import app, cache  # noqa: F401

atexit.register(time.sleep, 60)
