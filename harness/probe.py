"""Fitting the run's options to its app: the app is probed before anything boots.

A foreign app (one that does not install the harness routes itself) given
no ``--backend`` is checked on the cache it configures; a cache server it
names must answer now, rather than as workers that fail to boot.  Apart
from :mod:`harness.options`, which validates the values alone, because
this needs the app imported.
"""

from __future__ import annotations

from dataclasses import replace

from .options import PROJECT_ROOT, RunOptions
from .topology import backends as _backends
from .topology.appcheck import AppInfo, check_app
from .topology.pool import check_configured_servers
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
    if options.own_cache:
        check_configured_servers(options.app_cache_config)
    return options


def for_app(options: RunOptions, info: AppInfo, *, backends_given: bool) -> RunOptions:
    """``options`` for the probed app.

    A foreign app given no ``--backend`` is checked on the cache it
    configures itself: one backend, named as its CACHE_TYPE, with no server
    started and nothing overridden but ``--config``.
    """
    if not info.foreign:
        return options
    if backends_given or info.cache_type is None:
        return replace(options, foreign_app=True)
    pythonpath = [str(PROJECT_ROOT), *_backends.pythonpath_entries()]
    own = _backends.resolve(info.cache_type, pythonpath=pythonpath)
    # The app's own backend is known only now: its client must be in the app's environment.
    options.python.require(server_kinds=own.servers, worker_classes=options.worker_classes)
    return replace(options, foreign_app=True, own_cache=True, backends=(own,),
                   app_cache_config={**info.cache_config, **options.config})
