"""A backend that, on its first write in a process, forks a daemon: the daemon leaves
its process group (setsid) and lets go of the output, so neither a group signal nor
a pipe leads to it.  It does so on first use rather than at import, which the app
check would refuse, so it happens in the gunicorn workers only."""

from __future__ import annotations

import os
import time
from typing import Any

from flask_caching.backends import SimpleCache

_forked_in: int | None = None


def _daemon() -> None:
    global _forked_in
    if _forked_in == os.getpid():
        return
    _forked_in = os.getpid()
    if os.fork() == 0:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in range(3):
            os.dup2(null, fd)
        os.closerange(3, 1024)
        time.sleep(40)
        os._exit(0)


class C(SimpleCache):
    def set(self, key: str, value: Any, timeout: int | None = None) -> Any:
        _daemon()
        return super().set(key, value, timeout)
