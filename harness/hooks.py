"""Hooks the plugin adds to pytest; a plugin that implements one hears the run's steps."""

from __future__ import annotations

from typing import Any


def pytest_coherence_event(event: dict[str, Any]) -> None:
    """A step of the run happened (see :mod:`harness.observe` for who emits what).

    ``event["event"]`` names it: ``request`` (one request to a worker:
    ``path``, ``url``, ``poll``, ``start``, ``end``), ``boot`` (a gunicorn:
    ``workdir``, ``backend``, ``workers``, ``preload``, ``app``, ``start``,
    ``ready``), ``topology`` (which backend a gunicorn ``workdir`` serves:
    ``workdir``, ``backend``, ``name``), ``stop`` (``workdir``, ``start``, ``end``), ``together``
    (a concurrent step of ``clients`` clients), ``checker``, ``report``,
    ``report_png``.  Every event has ``pid`` and ``thread``.  It is called
    from the thread that took the step, in every process of a parallel run.
    """
