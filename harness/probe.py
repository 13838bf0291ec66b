"""Fitting the run's options to its app: the app is probed before anything boots.

A foreign app (one that does not install the harness routes itself) given
no ``--backend`` is checked on the cache it configures, as its installed
Flask-Caching made it (:func:`harness.topology.backends.of_app`); a cache
server it names must answer now, rather than as workers that fail to boot,
but only the server keys that backend reads count: a ``CACHE_REDIS_HOST``
left in a SimpleCache config is ignored, and said to be.  Apart from
:mod:`harness.options`, which validates the values alone, because this
needs the app imported.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from .options import RunOptions
from .topology import backends as _backends
from .topology.appcheck import AppInfo, check_app
from .topology.backends import Backend, kinds_read
from .topology.kinds import APP_CONFIG, KINDS, OPTION_CONFIG
from .topology.pool import check_configured_servers
from .topology.tree import search_path
from .workloads.keystability import targets


def probe_app(options: RunOptions, *, backends_given: bool) -> RunOptions:
    """Check ``--app`` before anything boots, and fit the options to it (:func:`for_app`).

    A foreign app's own cache server, which the harness does not start, must
    answer now rather than as workers that fail to boot.  The custom
    backends, ``--memoized`` targets and ``--sample-args`` are checked in the
    same probe, since each needs user code imported.
    """
    memoized, samples = targets(app=options.app, memoized=options.memoized,
                                sample_args=options.sample_args)
    info = check_app(options.app, options.app_root, cache=options.cache,
                     backends=[b.name for b in options.backends if not b.spec.builtin],
                     memoized=memoized, samples=samples, python=options.python.executable)
    if info is None:
        return options  # a stop signal: the front door reports it
    options = for_app(options, info, backends_given=backends_given)
    check_named_servers(options)
    return options


def check_named_servers(options: RunOptions) -> None:
    """Raise ServerUnreachable unless each server the config names, and a backend
    of the run reads, answers as its kind: a user's server speaks its protocol
    now, not as a run whose every row is an error.

    The app's own cache: its config merged with ``--config``, each key named
    with its origin; any other run: the ``--config`` keys its backends read.
    """
    if options.own_cache:
        backend = options.backends[0]
        config = options.app_cache_config
        origins = {k: OPTION_CONFIG if k in options.config else APP_CONFIG for k in config}
        ignored = unread_server_keys(backend, config)
        kinds = kinds_read(backend)
        what = f"the app's cache is {backend.label}, which does not read"
    else:
        config = options.config
        origins = {k: OPTION_CONFIG for k in config}
        unread = [set(unread_server_keys(b, config)) for b in options.backends]
        ignored = sorted(set.intersection(*unread)) if unread else []
        read = [kinds_read(b) for b in options.backends]
        kinds = None if None in read else tuple({k for r in read for k in r or ()})
        what = f"no backend of this run ({', '.join(b.label for b in options.backends)}) reads"
    if ignored:
        by: dict[str, list[str]] = {}
        for k in ignored:
            by.setdefault(origins[k], []).append(k)
        named = " and ".join(f"{', '.join(keys)} from {who}" for who, keys in by.items())
        print(f"coherence: {what} {named}; not checked", file=sys.stderr, flush=True)
    check_configured_servers(config, origin=origins, kinds=kinds)


def unread_server_keys(backend: Backend, config: dict[str, Any]) -> list[str]:
    """The server keys ``config`` sets that ``backend`` does not read (so are not checked)."""
    read = kinds_read(backend)
    if read is None:
        return []
    used = {k for kind in read for k in KINDS[kind].user_keys}
    return sorted({k for kind in KINDS.values() for k in kind.user_keys
                   if k in config and k not in used})


def for_app(options: RunOptions, info: AppInfo, *, backends_given: bool) -> RunOptions:
    """``options`` for the probed app.

    A foreign app given no ``--backend`` is checked on the cache it
    configures itself: one backend, the built-in its cache's class is (or
    the class itself, for a custom one), with no server started and nothing
    overridden but ``--config``.
    """
    if not info.foreign:
        return options
    if backends_given or info.cache_type is None:
        return replace(options, foreign_app=True)
    pythonpath = search_path(options.app_root, _backends.pythonpath_entries())
    own = _backends.of_app(info.cache_class or info.cache_type, pythonpath=pythonpath)
    # The app's own backend is known only now: its client must be in the app's environment.
    options.python.require(server_kinds=own.servers, worker_classes=options.worker_classes)
    # One backend now: more jobs than its groups (one per worker class) would
    # only start idle pytest workers.
    return replace(options, foreign_app=True, own_cache=True, backends=(own,),
                   app_cache_config={**info.cache_config, **options.config},
                   jobs=min(options.jobs, len(options.worker_classes)))
