"""Is ``--app`` a Flask app?  Asked in a short-lived interpreter, before any boot.

Gunicorn reports an app that is not a WSGI application, or that fails to
import, only as workers that never answer, after the boot timeout.  Asking
first turns that into one line in about half a second.  The import happens
in a child process with the cache turned off (NullCache), so the harness's
own process never runs user code and no cache server is contacted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from ..errors import BootError, UsageError
from .processes import ledger, set_pdeathsig

#: Importing Flask, Flask-Caching and a small app takes about 0.4 s here.
PROBE_TIMEOUT = 10.0

_PROBE = """
import importlib, json, sys
module, _, name = sys.argv[1].partition(":")
try:
    obj = getattr(importlib.import_module(module), name)
except BaseException as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
    raise SystemExit(0)
from flask import Flask
kind = type(obj)
print(json.dumps({"flask": isinstance(obj, Flask),
                  "type": f"{kind.__module__}.{kind.__qualname__}"}))
"""


def check_app(app: str, app_root: Path, *, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise UsageError unless ``app`` (MODULE:NAME) names a ``flask.Flask`` instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.update(FLASK_CACHE_TYPE='"NullCache"', FLASK_CACHE_NO_NULL_WARNING="true",
               PYTHONPATH=os.pathsep.join([str(app_root), *filter(None, [
                   os.environ.get("PYTHONPATH")])]))
    with ledger().starting():
        proc = subprocess.Popen([sys.executable, "-c", _PROBE, app], cwd=app_root, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
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
    if "error" in answer:
        raise UsageError(f"app {app!r} failed to import: {answer['error']}; fix the module "
                         "path or add its directory to PYTHONPATH")
    if not answer["flask"]:
        raise UsageError(f"--app {app!r} is a {answer['type']}, not a Flask app; point "
                         "--app at MODULE:NAME of a flask.Flask instance, e.g. apps.demo:app")
