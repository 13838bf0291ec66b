"""The client library a backend row names (``MemcachedCache[pylibmc]``): its venv and its proof.

cachelib's MemcachedCache imports the first memcached library it finds
(cachelib/memcached.py:299-314: pylibmc, then Google's, then
python-memcached, then libmc), and only an ImportError moves it on, so a
venv whose pylibmc fails to import would quietly serve the row with
python-memcached.  A row that names its client therefore runs in a venv
that holds it (:func:`interpreter`), and every worker tells, in the
``whoami`` gunicorn's start waits for, which client its cache holds
(:func:`proven`): any other is a boot error, never a row that passes on
the wrong library.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import BootError
from . import venvs
from .backends import Backend
from .kind import Kind

#: How long a named client waits on an unanswering server, where that is not
#: its kind's (:attr:`~harness.topology.kind.Kind.client_timeout`): what a
#: fault must outlast to be one.  pylibmc 1.6.3: libmemcached's poll timeout,
#: 5000 ms by default (Client.get_behaviors()), which cachelib and
#: Flask-Caching leave as it is (cachelib/memcached.py:243).
CLIENT_TIMEOUTS = {"pylibmc": 5.0}


def client_timeout(backend: Backend, kind: Kind) -> float:
    """The seconds ``backend``'s workers wait on a silent server of ``kind``."""
    return CLIENT_TIMEOUTS.get(backend.spec.client or "", kind.client_timeout)


def interpreter(backend: Backend, python: str | None) -> str | None:
    """The interpreter the row's gunicorn runs with.

    ``python`` is the run's (``--python``; None: the harness's own).  A row
    whose client needs a venv gets that venv, built on first use, unless
    ``--python`` names the app's own interpreter: then that one, which
    :func:`proven` checks holds the client.
    """
    spec = backend.spec
    if not spec.requirements or python is not None:
        return python
    assert spec.client is not None  # BackendSpec: requirements come with a client
    return str(venvs.for_client(spec.client, spec.requirements))


def proven(want: str | None, seen: dict[int, str | None], *,
           log: Path | None = None) -> str | None:
    """The client class the workers' caches hold (``pylibmc.pools.ClientPool``), or None.

    ``seen`` is each worker's answer to ``whoami`` by pid; ``want`` the
    package the row's client must come from (None: any).  Raises BootError
    when a worker holds none, or one from another package.
    """
    wrong = {pid: c for pid, c in seen.items() if want and not (c or "").startswith(f"{want}.")}
    if wrong:
        pid, client = next(iter(wrong.items()))
        raise BootError(
            f"worker {pid}'s cache holds {client or 'no client'}, not a {want} client "
            f"({len(wrong)} of {len(seen)} workers); cachelib falls back to the next memcached "
            f"library when {want} fails to import: check that {want} imports in the row's "
            "interpreter, or run the row without its client", log=log)
    found = set(seen.values())
    return found.pop() if len(found) == 1 else None
