"""Where the app's interpreter finds the worker side: a directory holding one link.

Gunicorn, the app and the app check's probe import :mod:`harness.worker`
as the top-level package :data:`PACKAGE`, from a directory on their
PYTHONPATH that holds nothing but a link to it.  That works the same in the
harness's own environment and in the app's (``--python``, a rolling-deploy
venv), where the harness is not installed, and a package of the user's own
called ``harness`` cannot shadow it.

The directory is kept in the user's cache, one per checkout (a hash of the
package's path), and made with a rename, so runs side by side share it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: The name the worker side is imported under in the app's interpreter.
PACKAGE = "coherence_worker"
#: The worker package in this checkout or install.
SOURCE = Path(__file__).resolve().parent.parent / "worker"
#: What gunicorn serves: the user's app plus the harness endpoints.
WRAPPER = f"{PACKAGE}.wrap:app"
#: gunicorn's config file (a file it executes, not a module it imports).
CONF_FILE = SOURCE / "gunicorn_conf.py"


def _cache_home() -> Path:
    raw = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(raw) if raw and os.path.isabs(raw) else Path.home() / ".cache"
    return base / "flask-cache-coherence" / "worker"


def directory() -> Path:
    """The directory to put first on the app's PYTHONPATH (made on first use)."""
    digest = hashlib.sha256(str(SOURCE).encode()).hexdigest()[:16]
    home = _cache_home() / digest
    link = home / PACKAGE
    if link.is_symlink() and Path(os.readlink(link)) == SOURCE:
        return home
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".{PACKAGE}.{os.getpid()}"
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    tmp.symlink_to(SOURCE, target_is_directory=True)
    os.replace(tmp, link)
    return home
