"""Virtualenvs with another Flask-Caching or client, built once and kept in the user's cache.

The ``rolling-deploy`` scenario runs the same app under two Flask-Caching
versions at once, as a rolling deploy does.  Each version gets a venv under
``$XDG_CACHE_HOME/flask-cache-coherence/venvs/`` (``~/.cache/...``), holding
that Flask-Caching and, pinned to what this environment has, everything
else a worker imports (Flask, cachelib, gunicorn, gevent, the Redis and
memcached clients), so the version is the only difference.  The harness
itself is not installed there: the workers import only its worker side,
from a directory on PYTHONPATH that holds a link to it
(:mod:`harness.topology.workerpath`), so the venv's own site-packages (and
its Flask-Caching) are the ones imported.

A backend row whose client this environment does not hold
(``MemcachedCache[pylibmc]``) gets one the same way (:func:`for_client`):
this environment's stack, Flask-Caching and Werkzeug included, plus that
client, so the client is the only difference.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from ..errors import HarnessError, UsageError, shorten
from .kinds import clients
from .processes import ledger, set_pdeathsig

#: Longest a venv build may take: pip resolving and unpacking about 20
#: wheels, from its cache after the first time (about 10 s here).
BUILD_TIMEOUT = 600.0
#: Packages a worker imports, pinned to this environment's versions: the
#: server kinds' clients among them, and packaging, which gunicorn's gevent
#: worker imports (gunicorn 27, workers/ggevent.py:16) but declares only in
#: its ``gevent`` extra.
PINNED = ("flask", "cachelib", "gunicorn", "gevent", "packaging", *clients())

#: The scenario that reads --old-version and --new-version.
ROLLING_DEPLOY = "rolling-deploy"

#: ASCII digits only: ``\d`` alone takes any script's (``٢.٤``), which pip does not.
_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$", re.ASCII)


@dataclass(frozen=True, kw_only=True)
class Venv:
    """A venv's interpreter and the Flask-Caching version it holds."""

    python: Path
    flask_caching: str


def installed() -> str:
    """This environment's Flask-Caching version."""
    return version("flask-caching")


def previous_minor(current: str) -> str:
    """``2.5.1`` -> ``2.4``: the release line before ``current``'s."""
    major, minor = (int(p) for p in current.split(".")[:2])
    if minor == 0:
        raise UsageError(f"Flask-Caching {current} has no earlier minor release in its "
                         f"major version; pass --old-version, e.g. --old-version {major - 1}.0")
    return f"{major}.{minor - 1}"


def check_version(value: str, option: str) -> str:
    if not _VERSION.fullmatch(value):
        raise UsageError(f"{option} {shorten(value)} must be a Flask-Caching version such as 2.4 "
                         "(its latest release) or 2.4.1")
    return value


def _newer(a: str, b: str) -> bool:
    """Whether version ``a`` is newer than ``b``, over the parts both give (2.5 is not 2.5.1's)."""
    pa, pb = (tuple(int(p) for p in v.split(".")) for v in (a, b))
    n = min(len(pa), len(pb))
    return pa[:n] > pb[:n]


def check_pair(old: str | None, new: str | None, *, scenarios: tuple[str, ...]) -> None:
    """Raise UsageError for versions the rolling deploy would not use, or could not.

    Both are read only by the ``rolling-deploy`` scenario; the old one must
    not be newer than the new one (given, or the installed Flask-Caching),
    which a version that is not released yet, such as 99.0, always is.
    """
    given = [f"{flag} {v}" for flag, v in (("--old-version", old), ("--new-version", new)) if v]
    if given and ROLLING_DEPLOY not in scenarios:
        raise UsageError(f"{given[0]} is read only by the {ROLLING_DEPLOY} scenario, which "
                         f"this run does not select; add --scenario {ROLLING_DEPLOY}, or drop "
                         f"{given[0].split()[0]}")
    if old is None:
        if new is None:
            return
        # What scenarios/test_rolling_deploy.py runs when no --old-version is given.
        old, named = previous_minor(installed()), "the default --old-version "
    else:
        named = "--old-version "
    against, what = (new, f"--new-version {new}") if new else (
        installed(), f"the installed Flask-Caching {installed()}, which the new instance runs")
    if _newer(old, against):
        major, minor = (int(p) for p in against.split(".")[:2])
        example = f"{major}.{minor - 1}" if minor else f"{max(major - 1, 0)}.0"
        raise UsageError(f"{named}{old} is newer than {what}; the old instance runs "
                         f"the older version: pass e.g. --old-version {example}")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flask-cache-coherence" / "venvs"


def _spec(wanted: str) -> str:
    return f"flask-caching=={wanted}.*" if wanted.count(".") == 1 else f"flask-caching=={wanted}"


def _pins() -> list[str]:
    pins = []
    for name in PINNED:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return pins


def ensure(wanted: str, *, extra: Sequence[str] = (), root: Path | None = None) -> Venv:
    """The venv for Flask-Caching ``wanted`` (``2.4`` or ``2.4.1``), built if missing.

    ``extra``: what the row's client needs beside the pinned stack
    (:attr:`~harness.topology.backends.BackendSpec.requirements`).
    """
    tag = f"py{sys.version_info.major}.{sys.version_info.minor}"
    pins = [*_pins(), *extra]
    name = f"fc{wanted}-" + "-".join(p.replace("==", "") for p in pins) + f"-{tag}"
    target = (root or cache_root()) / re.sub(r"[^\w.-]", "_", name)
    python = target / "bin" / "python"
    if not python.exists():
        _build(target, [_spec(wanted), *pins])
    return Venv(python=python, flask_caching=_version_in(python))


def pinned(name: str, requirements: Sequence[str], *, base: str | None = None,
           root: Path | None = None) -> Path:
    """The interpreter of a venv holding ``requirements``, built once and kept.

    ``base`` is the interpreter the venv is made from (the harness's own by
    default; ``python3.9`` for the oldest supported stack).  The directory's
    name carries ``name`` and a hash of the requirements and the base, so a
    change to either is a new venv.
    """
    base = base or sys.executable
    digest = hashlib.sha256("\n".join([base, *requirements]).encode()).hexdigest()[:12]
    target = (root or cache_root()) / re.sub(r"[^\w.-]", "_", f"{name}-{digest}")
    python = target / "bin" / "python"
    if not python.exists():
        _build(target, list(requirements), base=base)
    return python


def for_client(client: str, requirements: Sequence[str]) -> Path:
    """The interpreter of a venv holding this environment's stack plus ``requirements``.

    For a backend row that runs a client this environment does not hold
    (:attr:`harness.topology.backends.BackendSpec.requirements`); built on
    first use and kept, like :func:`pinned`'s.
    """
    stack = [f"{d}=={version(d)}" for d in ("flask-caching", "werkzeug")]
    return pinned(f"client-{client}", [*stack, *_pins(), *requirements])


def _build(target: Path, requirements: list[str], *, base: str | None = None) -> None:
    # Built beside its final place and renamed, so a run that dies half-way
    # (or a second run building the same venv) never leaves a broken one.
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _run([base or sys.executable, "-m", "venv", "--without-pip", str(tmp)], what="venv")
        _run([sys.executable, "-m", "pip", "--python", str(tmp / "bin" / "python"), "install",
              "-q", *requirements], what="pip install " + " ".join(requirements))
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "bin" / "python").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(cmd: list[str], *, what: str) -> str:
    with ledger().starting():
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                preexec_fn=set_pdeathsig)
        ledger().spawned(proc, what=what)
    try:
        out, _ = proc.communicate(timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise HarnessError(f"{what} took longer than {BUILD_TIMEOUT:g}s") from None
    finally:
        if proc.poll() is not None:
            ledger().reaped(proc.pid)
    if proc.returncode != 0:
        last = (out.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise HarnessError(f"{what} failed: {last}; check the version exists "
                           "(pip index versions flask-caching) and that PyPI is reachable")
    return out


def _version_in(python: Path) -> str:
    return _run([str(python), "-c", "import importlib.metadata as m; "
                 "print(m.version('flask-caching'))"], what="version check").strip()
