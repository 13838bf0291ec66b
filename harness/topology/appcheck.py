"""Is ``--app`` a Flask app, and which cache would the harness drive?  Asked before any boot.

Gunicorn reports an app that is not a WSGI application, or that fails to
import, only as workers that never answer, after the boot timeout.  Asking
first turns that into one line in about half a second.  The app is loaded
in a child process (:func:`harness.app.describe`, gunicorn's own loader), so
the harness's own process never runs user code; the answer says whether the
app installs the harness routes itself (the sample apps) or is a *foreign*
app, and for a foreign one its Flask-Caching instances and their settings.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client import ROUTE_PREFIX
from ..errors import BootError, UsageError
from .processes import ledger, set_pdeathsig

#: Importing Flask, Flask-Caching and a small app takes about 0.4 s here.
PROBE_TIMEOUT = 10.0

_PROBE = """
import json, sys
from harness.app import describe
print(json.dumps(describe(sys.argv[1], sys.argv[2] or None)))
"""


@dataclass(frozen=True, kw_only=True)
class AppInfo:
    """What the probe found out about ``--app``."""

    app: str
    #: False for an app that installs the harness routes itself (the sample apps).
    foreign: bool
    #: The Flask-Caching instance a foreign app is driven through, and its backend
    #: (a CACHE_TYPE name, or an import path for a custom class).
    cache: str | None = None
    cache_type: str | None = None
    #: That instance's CACHE_* settings, as the app configures them.
    cache_config: dict[str, Any] = field(default_factory=dict)


def check_app(app: str, app_root: Path, *, cache: str | None = None,
              timeout: float = PROBE_TIMEOUT) -> AppInfo:
    """Probe ``app`` (``mod:name`` or ``mod:factory()``); raise UsageError for a bad one."""
    # The workers' environment, less the FLASK_* settings the harness sets:
    # a foreign app is probed with the config it will run with.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(app_root), *filter(None, [
        os.environ.get("PYTHONPATH")])])
    with ledger().starting():
        proc = subprocess.Popen([sys.executable, "-c", _PROBE, app, cache or ""], cwd=app_root,
                                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True,
                                preexec_fn=set_pdeathsig)
        ledger().spawned(proc, what="app check")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise BootError(f"--app {app!r} did not finish importing within {timeout:g}s; "
                        "check that importing it does not block (e.g. on a network call)"
                        ) from None
    finally:
        if proc.poll() is not None:
            ledger().reaped(proc.pid)
    try:
        answer = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        last = (err.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise BootError(f"--app {app!r} could not be checked: {last}") from None
    return _judge(app, cache, answer)


def _judge(app: str, cache: str | None, answer: dict[str, Any]) -> AppInfo:
    if "error" in answer:
        call = "calling the factory or " if app.rstrip().endswith(")") else ""
        raise UsageError(f"app {app!r} failed to import: {answer['error']}; fix the error in "
                         f"{call}the module, or the module path (add its directory to "
                         "PYTHONPATH)")
    if not answer["flask"]:
        raise UsageError(f"--app {app!r} is a {answer['type']}, not a Flask app; point "
                         "--app at MODULE:NAME of a flask.Flask instance (or "
                         "'MODULE:create_app()'), e.g. apps.demo:app")
    if answer["installed"]:
        if cache is not None:
            raise UsageError(f"--cache {cache!r} is for apps that do not install the harness "
                             f"routes themselves; {app!r} does: drop --cache")
        return AppInfo(app=app, foreign=False)
    if answer["collisions"]:
        raise UsageError(f"app {app!r} has routes of its own under {ROUTE_PREFIX} "
                         f"({', '.join(answer['collisions'])}), where the harness adds its "
                         "routes; rename them")
    found = {c["name"]: c for c in answer["caches"]}
    if not found:
        raise UsageError(f"app {app!r} has no Flask-Caching instance (app.extensions['cache'] "
                         "is empty); create one with Cache(app), or cache.init_app(app) in "
                         "the factory")
    if cache is None and len(found) > 1:
        raise UsageError(f"app {app!r} has {len(found)} Flask-Caching instances "
                         f"({', '.join(found)}); choose one with --cache NAME, "
                         f"e.g. --cache {next(iter(found))}")
    name = cache if cache is not None else next(iter(found))
    if name not in found:
        raise UsageError(f"--cache {name!r} is not a Flask-Caching instance of {app!r}; "
                         f"use one of: {', '.join(found)}")
    return AppInfo(app=app, foreign=True, cache=name, cache_type=found[name]["type"],
                   cache_config=found[name]["config"])
