"""A good app that uses a thread pool at import: its threads are not daemons, but
concurrent.futures stops them at exit, so they keep no process alive."""

from concurrent.futures import ThreadPoolExecutor

from _ok import app, cache  # noqa: F401

POOL = ThreadPoolExecutor(max_workers=2)
POOL.submit(sum, [1, 2]).result()
