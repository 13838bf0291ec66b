"""A custom backend whose module forks at import: the child leaves the probe's
session (setsid) and keeps the inherited output open, as a daemon started by a
library at import would.  The app itself (the default sample app) does nothing of
the kind, so the refusal must name the backend."""

from __future__ import annotations

import os
import time

from flask_caching.backends import SimpleCache

if os.fork() == 0:
    os.setsid()
    time.sleep(30)
    os._exit(0)


class C(SimpleCache):
    pass
