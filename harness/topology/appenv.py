"""The app's own environment (``--python``): the interpreter that serves it, and its stack.

Gunicorn, the app, the worker side and the app check all run with the
``--python`` interpreter, the app's own venv, while the controller (the
CLI, the plugin, the checkers, the reports) stays in the harness's.  Before
anything starts, :func:`check_python` runs that interpreter once, briefly
(:mod:`harness.worker.envprobe`: versions read with importlib.metadata,
nothing of the app imported), and refuses anything older than
:data:`harness.worker.protocol.FLOOR` in one line that names the exact
``pip install`` for that interpreter.  The versions it read are what the
report records as the app's environment.

With no ``--python`` the app runs on the harness's own interpreter, whose
versions are read here, in process, with no subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import UsageError, shorten
from ..worker.protocol import APP_DISTRIBUTIONS, FLOOR, FLOOR_EXTRAS, FLOOR_PINS
from . import venvs
from .kinds import KINDS
from .processes import ledger, reap_killed, set_pdeathsig
from .workerpath import PACKAGE
from .workerpath import directory as worker_directory

#: Starting an interpreter and reading a dozen distributions' metadata takes
#: about 0.1 s; ten seconds is a hung or absurdly slow interpreter.
CHECK_TIMEOUT = 10.0
#: How long the check's process may take to go once killed.
KILL_WAIT = 2.0
#: The interpreter floor as a tuple, for the check's first line.
PYTHON_FLOOR = tuple(int(p) for p in FLOOR["python"].split("."))

#: Written so that any Python, however old, prints its version first: an
#: interpreter below the floor is named as such, not as a syntax error.
_CHECK = (
    "import sys, json\n"
    "sys.stdout.write(json.dumps({'version': list(sys.version_info[:3])}) + '\\n')\n"
    "sys.stdout.flush()\n"
    f"if sys.version_info[:2] >= {PYTHON_FLOOR!r}:\n"
    f"    from {PACKAGE}.envprobe import main\n"
    "    main()\n"
)

#: The memcached clients cachelib's MemcachedCache can use, the one to install first.
MEMCACHED_CLIENTS = ("python-memcached", "pylibmc", "libmc")
#: The order cachelib tries them in (cachelib/memcached.py:299-314): the first found is used.
CACHELIB_ORDER = ("pylibmc", "python-memcached", "libmc")

#: report.json's ``app_environment`` keys, by distribution: the same names as
#: the controller's ``environment`` block where both have them.
REPORT_KEYS = {"flask": "flask", "werkzeug": "werkzeug", "flask-caching": "flask_caching",
               "cachelib": "cachelib", "gunicorn": "gunicorn", "redis": "redis",
               "gevent": "gevent"}


@dataclass(frozen=True, kw_only=True)
class AppEnvironment:
    """The interpreter the app is served with, and its stack's versions as it sees them."""

    #: The interpreter as given (made absolute, symlinks kept: a venv's
    #: ``bin/python`` is a link to its base interpreter, and only through
    #: the link is the venv's site-packages found).
    executable: str
    #: Whether it came from ``--python``; else it is the harness's own.
    given: bool
    python: str
    implementation: str = "CPython"
    prefix: str = ""
    #: Version of each of :data:`~harness.worker.protocol.APP_DISTRIBUTIONS`, None when absent.
    versions: dict[str, str | None] = field(default_factory=dict)
    #: Whether gunicorn's installed release imports ``pkg_resources``, and it is missing.
    pkg_resources_missing: bool = False

    @property
    def memcached_client(self) -> str | None:
        """The memcached client cachelib would pick there, as ``name version``."""
        return next((f"{d} {self.versions[d]}" for d in CACHELIB_ORDER
                     if self.versions.get(d)), None)

    def describe(self) -> dict[str, Any]:
        """The report's ``app_environment`` block."""
        return {
            "executable": self.executable, "given": self.given, "python": self.python,
            "implementation": self.implementation, "prefix": self.prefix,
            **{key: self.versions.get(dist) for dist, key in REPORT_KEYS.items()},
            "memcached_client": self.memcached_client,
        }

    def require(self, *, server_kinds: Iterable[str] = (),
                worker_classes: Iterable[str] = ()) -> None:
        """Raise UsageError, naming the ``pip install`` to run, unless the stack is enough.

        ``server_kinds`` are the kinds the run's backends talk to (their
        clients are needed), ``worker_classes`` gunicorn's (gevent's
        needs gevent).
        """
        wanted: list[tuple[str, str]] = []  # (what is wrong, the requirement to install)
        for dist in ("gunicorn", "flask", "werkzeug", "flask-caching", "cachelib"):
            wanted += _floor(dist, self.versions.get(dist))
        clients = {KINDS[k].client for k in server_kinds}
        if "redis" in clients:
            wanted += _floor("redis", self.versions.get("redis"))
        if "python-memcached" in clients and self.memcached_client is None:
            wanted.append(("no memcached client (cachelib's MemcachedCache needs one of "
                           f"{', '.join(MEMCACHED_CLIENTS)})", "python-memcached"))
        if "gevent" in set(worker_classes) and not self.versions.get("gevent"):
            wanted.append(("no gevent (--worker-class gevent)", "gevent"))
        if self.pkg_resources_missing:
            # gunicorn/util.py:25 (20.1): "import pkg_resources", which
            # setuptools 81 and later no longer ship.
            wanted.append((f"gunicorn {self.versions.get('gunicorn')} without the "
                           "pkg_resources it imports", "setuptools<81"))
        if wanted:
            what = "; ".join(w for w, _ in wanted)
            pins = " ".join(f"'{r}'" for _, r in wanted)
            them = "them" if len(wanted) > 1 else "it"
            raise UsageError(f"--python {self.executable} has {what}; install {them} for that "
                             f"interpreter: {self.executable} -m pip install {pins}")


def _parts(text: str) -> tuple[int, ...]:
    """``2.0.3`` -> (2, 0, 3); ``2.1.0rc1`` -> (2, 1, 0): the leading digits of each part."""
    out = []
    for part in text.split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def older(version: str, floor: str) -> bool:
    """Whether ``version`` is older than ``floor`` (over the parts ``floor`` gives)."""
    want = _parts(floor)
    return _parts(version)[:len(want)] < want


def _floor(dist: str, version: str | None) -> list[tuple[str, str]]:
    need = FLOOR[dist]
    if version is None:
        return [(f"no {dist}", f"{dist}>={need}")]
    if older(version, need):
        return [(f"{dist} {version}, older than {need}", f"{dist}>={need}")]
    return []


def own() -> AppEnvironment:
    """The harness's own interpreter, read in process: the app's when no ``--python`` is given."""
    versions: dict[str, str | None] = {}
    for dist in APP_DISTRIBUTIONS:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return AppEnvironment(executable=sys.executable, given=False,
                          python=platform.python_version(),
                          implementation=platform.python_implementation(),
                          prefix=sys.prefix, versions=versions)


def check_python(path: str, *, timeout: float = CHECK_TIMEOUT) -> AppEnvironment:
    """Run ``path`` once and read its stack, or raise UsageError saying what it is not.

    Only the interpreter is checked here; :meth:`AppEnvironment.require`
    then checks its stack against what the run needs.
    """
    shown = shorten(path, 200, quote=False)
    executable = os.path.abspath(path)
    if not os.path.lexists(executable):
        raise UsageError(f"--python {shown} does not exist; give the interpreter of the app's "
                         "environment, e.g. --python .venv/bin/python")
    if os.path.isdir(executable):
        inside = os.path.join(executable, "bin", "python")
        hint = f"--python {inside}" if os.path.exists(inside) else "--python .venv/bin/python"
        raise UsageError(f"--python {shown} is a directory; give its interpreter, e.g. {hint}")
    if not os.path.exists(executable):
        raise UsageError(f"--python {shown} is a broken link; give an interpreter that "
                         "exists, e.g. --python .venv/bin/python")
    if not os.access(executable, os.X_OK):
        raise UsageError(f"--python {shown} is not executable; give the app's Python "
                         "interpreter, e.g. --python .venv/bin/python")
    out, err, status = _run(executable, timeout)
    lines = [_json(line) for line in out.splitlines()]
    version = next((line["version"] for line in lines if "version" in line), None)
    if not (isinstance(version, list) and version and all(isinstance(v, int) for v in version)):
        last = (err.strip().splitlines() or [""])[-1]
        said = f": {shorten(last, 120, quote=False)}" if last else (
            f" (exit status {status})" if status is not None else "")
        raise UsageError(f"--python {shown} did not run as a Python interpreter{said}; give "
                         "the app's python, e.g. --python .venv/bin/python")
    if tuple(version[:2]) < PYTHON_FLOOR:
        raise UsageError(f"--python {shown} is Python {'.'.join(map(str, version))}; the app's "
                         f"side of the harness needs Python {FLOOR['python']} or newer: give "
                         "the interpreter of a venv made with a newer python")
    answer = next((line["answer"] for line in lines if isinstance(line.get("answer"), dict)),
                  None)
    if answer is None:
        last = (err.strip().splitlines() or [f"exit status {status}"])[-1]
        raise UsageError(f"--python {shown} could not read its installed packages: "
                         f"{shorten(last, 160, quote=False)}; check that the interpreter "
                         "starts cleanly (python -c 'import importlib.metadata')")
    return AppEnvironment(
        executable=executable, given=True, python=str(answer.get("python")),
        implementation=str(answer.get("implementation")), prefix=str(answer.get("prefix")),
        versions={d: answer.get("versions", {}).get(d) for d in APP_DISTRIBUTIONS},
        pkg_resources_missing=bool(answer.get("pkg_resources_missing")))


def _json(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _run(executable: str, timeout: float) -> tuple[str, str, int | None]:
    """The check's stdout, stderr and exit status; its process group is gone when this returns."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    env["PYTHONPATH"] = os.pathsep.join([str(worker_directory()), *filter(None, [
        os.environ.get("PYTHONPATH")])])
    request = json.dumps({"distributions": list(APP_DISTRIBUTIONS)})
    try:
        with ledger().starting():
            proc = subprocess.Popen([executable, "-c", _CHECK, request], env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, errors="replace",
                                    start_new_session=True, preexec_fn=set_pdeathsig)
            ledger().spawned(proc, what="--python check")
    except OSError as exc:
        raise UsageError(f"--python {shorten(executable, 200, quote=False)} could not be "
                         f"started ({exc.strerror or type(exc).__name__}); give the app's "
                         "Python interpreter, e.g. --python .venv/bin/python") from None
    try:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UsageError(
                f"--python {shorten(executable, 200, quote=False)} did not answer within "
                f"{timeout:g} s; check that it starts (it may be waiting on a network "
                "file system, or be a wrapper script that reads stdin)") from None
    finally:
        _stop(proc)
    return out, err, proc.returncode


def _stop(proc: subprocess.Popen[str]) -> None:
    """Kill the check's whole group (whatever it started too) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    reap_killed(proc, timeout=KILL_WAIT)
    if proc.poll() is not None:
        ledger().reaped(proc.pid)


def floor_requirements() -> list[str]:
    """What a venv at the floor holds: :data:`.protocol.FLOOR_PINS` and the extras."""
    return [*(f"{dist}=={pin}" for dist, pin in FLOOR_PINS.items()), *FLOOR_EXTRAS]


def floor_venv(base: str) -> Path:
    """The interpreter of a venv made from ``base`` (a python3.9) at the floor, built once."""
    return venvs.pinned("floor", floor_requirements(), base=base)


def main(argv: list[str] | None = None) -> None:
    """``python -m harness.topology.appenv --floor-venv python3.9``: build it, print its python.

    tox's ``floor`` env runs the default scenarios with that interpreter as ``--python``.
    """
    parser = argparse.ArgumentParser(prog="python -m harness.topology.appenv")
    parser.add_argument("--floor-venv", metavar="BASE", required=True,
                        help="the interpreter to make the venv from, e.g. python3.9")
    args = parser.parse_args(argv)
    print(floor_venv(args.floor_venv))


if __name__ == "__main__":
    main()
