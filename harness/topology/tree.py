"""Where the app is imported from, and the copy of its project an extra instance starts from.

Gunicorn changes to its ``--chdir`` directory (default: the working
directory) and puts that directory first on ``sys.path`` before it loads
the app (gunicorn/app/base.py:84-91, ``Application.chdir``, called from
``load_config`` at :164; the default is ``util.getcwd()``, config.py:1216).
The harness does the same: the app's root (:func:`app_root`) is
``--chdir DIR``, else the working directory, and it is gunicorn's working
directory and the first entry of the app's PYTHONPATH, in the app check
too.  The sample apps (``apps.*``) are the exception: they are found in the
harness's own bundle (:data:`PROJECT_ROOT`), wherever the run starts.

A second deployment of the app is another checkout of the whole project,
not only its package: an app may read a config file, templates or a
``migrations/`` folder beside its package.  :func:`copy_project` copies the
project tree (the directory the app's top-level module is found in) once,
leaving out what a checkout does not carry (:data:`LEFT_OUT`: version
control, virtualenvs, caches) and the run's report directory, and refuses a
tree over :data:`MAX_FILES` files or :data:`MAX_BYTES` bytes.
"""

from __future__ import annotations

import fnmatch
import importlib.machinery
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BootError, HarnessError, InstanceBootError


def _project_root() -> Path:
    """The checkout when running from one, else the copy the wheel carries.

    A checkout (``pip install -e .``) is told by its pyproject.toml beside
    ``harness/``; an installed wheel has ``apps/`` and ``scenarios/`` under
    ``harness/_bundle/`` (mapped in pyproject.toml), and no pyproject.toml
    next to site-packages' ``harness/``.
    """
    here = Path(__file__).resolve().parent.parent
    if (here.parent / "pyproject.toml").is_file() and (here.parent / "scenarios").is_dir():
        return here.parent
    return here / "_bundle"


#: Where ``apps/`` and ``scenarios/`` are: the checkout, or the wheel's copy.
PROJECT_ROOT = _project_root()
#: The package of the sample apps inside :data:`PROJECT_ROOT`.
SAMPLE_PACKAGE = "apps"

#: Names left out of the copy of a project, wherever they are in its tree
#: (shell patterns, matched against each file's and directory's own name):
#: version control, tool caches and bytecode, none of which a deployment
#: carries or an app reads.  A directory holding ``pyvenv.cfg`` (a
#: virtualenv, whatever its name) is left out too, as is the run's report
#: directory; ``--copy-exclude`` adds patterns of the user's own.
LEFT_OUT: tuple[str, ...] = (".git", ".hg", ".svn", "__pycache__", ".tox", ".nox",
                             "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache")
#: The most a project copy may hold: a source tree of a few thousand files
#: copies in well under a second, while a tree that carries data sets or
#: build output would fill the disk and the run's time.
MAX_FILES = 20_000
MAX_BYTES = 500 * 1024 * 1024


def app_root(app: str, chdir: Path | None, *, cwd: Path | None = None) -> Path:
    """The directory gunicorn starts in and imports ``app`` from first.

    ``--chdir`` when given; else the bundle for a sample app (one whose
    module is in :data:`PROJECT_ROOT`'s ``apps`` package), so the default
    app is found from any directory; else the working directory, as
    gunicorn's own default.
    """
    if chdir is not None:
        return chdir.resolve()
    module = app.partition(":")[0].strip()
    if module.split(".")[0] == SAMPLE_PACKAGE and find_module(module, [PROJECT_ROOT]):
        return PROJECT_ROOT
    return (cwd or Path.cwd()).resolve()


def search_path(root: Path, pythonpath: Sequence[str] = ()) -> list[str]:
    """The app's import path: its root, the user's PYTHONPATH, then the bundle.

    The bundle comes last, so the sample apps and ``apps.custom_backends``
    are found with any ``--app`` and never shadow a module of the user's.
    """
    return list(dict.fromkeys([str(root), *[p for p in pythonpath if p], str(PROJECT_ROOT)]))


def find_module(module: str, path: Sequence[str | Path]) -> str | None:
    """The entry of ``path`` that ``module`` is found in, without importing anything.

    Only the top-level name is looked up on ``path``; each name below it in
    its parent's directories, so no package's ``__init__`` runs here.
    """
    top, *below = module.split(".")
    if not top.isidentifier():
        return None
    for entry in path:
        spec = importlib.machinery.PathFinder.find_spec(top, [str(entry)])
        if spec is None:
            continue
        for depth in range(1, len(below) + 1):
            if spec is None or spec.submodule_search_locations is None:
                break
            spec = importlib.machinery.PathFinder.find_spec(
                ".".join([top, *below[:depth]]), list(spec.submodule_search_locations))
        return str(entry) if spec is not None else None
    return None


def project_tree(app: str, root: Path, pythonpath: Sequence[str] = ()) -> Path:
    """The directory a second deployment of ``app`` is a copy of.

    The entry of the app's import path that its top-level module is found
    in: the app's root for a project started from its own directory (or
    ``--chdir``), the PYTHONPATH entry otherwise; for a sample app, the
    ``apps`` package alone rather than the harness's whole checkout.
    """
    top = app.partition(":")[0].strip().split(".")[0]
    found = find_module(top, search_path(root, pythonpath))
    if found is None:
        raise HarnessError(f"cannot find the code of {top!r} on the app's path "
                           f"({', '.join(search_path(root, pythonpath))}) to start a second "
                           "copy of it")
    if Path(found) == PROJECT_ROOT and top == SAMPLE_PACKAGE:
        return PROJECT_ROOT / SAMPLE_PACKAGE
    return Path(found)


@dataclass(frozen=True, kw_only=True)
class Copy:
    """A copy of a project tree: where it is, what it holds and what it left out."""

    source: Path
    #: The copy's root: an extra instance's working directory and first
    #: PYTHONPATH entry.  For the sample apps' ``apps`` package, its parent.
    root: Path
    files: int
    bytes: int
    #: What was left out, relative to the source: directories end in "/".
    left_out: tuple[str, ...]

    def evidence(self) -> dict[str, object]:
        return {"source": str(self.source), "copy": str(self.root), "files": self.files,
                "bytes": self.bytes, "left_out": list(self.left_out)}


def copy_project(source: Path, target: Path, *, exclude: Iterable[str] = (),
                 skip: Iterable[Path] = ()) -> Copy:
    """Copy ``source`` under ``target`` (see the module docstring); HarnessError when too big.

    ``exclude`` are more name patterns to leave out, ``skip`` directories
    (the run's report directory) left out wherever they are in the tree.
    The tree is walked before anything is copied, so a refusal copies
    nothing.  Symbolic links are copied as links.
    """
    patterns = (*LEFT_OUT, *exclude)
    skipped = {p.resolve() for p in skip}
    plan: list[tuple[Path, bool]] = []
    left: list[str] = []
    size = 0
    for top, dirs, names in os.walk(source):
        here = Path(top)
        kept = []
        for d in sorted(dirs):
            path = here / d
            if _left_out(path, d, patterns, skipped):
                left.append(f"{path.relative_to(source)}/")
            else:
                kept.append(d)
                if path.is_symlink():
                    plan.append((path, False))
        dirs[:] = [d for d in kept if not (here / d).is_symlink()]
        for d in dirs:
            plan.append((here / d, True))
        for name in sorted(names):
            path = here / name
            # Sockets and pipes (a running server's) are no part of a checkout.
            if any(fnmatch.fnmatch(name, p) for p in patterns) or not (
                    path.is_symlink() or path.is_file()):
                left.append(str(path.relative_to(source)))
                continue
            plan.append((path, False))
            size += path.lstat().st_size
        files = sum(1 for _, is_dir in plan if not is_dir)
        if files > MAX_FILES or size > MAX_BYTES:
            raise HarnessError(
                f"the project tree {source} is too big to copy for a second instance (over "
                f"{MAX_FILES} files or {MAX_BYTES // 2 ** 20} MiB, counting from {here}); "
                "leave out what the app does not read with --copy-exclude NAME (e.g. "
                "--copy-exclude data), or start from the app's own directory with --chdir DIR")
    sample = source == PROJECT_ROOT / SAMPLE_PACKAGE
    base = target / (SAMPLE_PACKAGE if sample else "project")
    base.mkdir(parents=True)
    for path, is_dir in plan:
        dest = base / path.relative_to(source)
        if is_dir:
            dest.mkdir(exist_ok=True)
        elif path.is_symlink():
            dest.symlink_to(os.readlink(path))
        else:
            shutil.copy2(path, dest)
    files = sum(1 for _, is_dir in plan if not is_dir)
    root = base.parent if sample else base
    return Copy(source=source, root=root, files=files, bytes=size, left_out=tuple(left))


def _left_out(path: Path, name: str, patterns: Sequence[str], skipped: set[Path]) -> bool:
    if any(fnmatch.fnmatch(name, p) for p in patterns):
        return True
    if (path / "pyvenv.cfg").is_file():
        return True
    return bool(skipped) and path.resolve() in skipped


@dataclass(kw_only=True)
class Copier:
    """The one copy of a run's project tree, made on first use and shared by every
    extra instance of the process; or the error that kept it from being made."""

    app: str
    app_root: Path
    target: Path
    exclude: tuple[str, ...] = ()
    keep_out: tuple[Path, ...] = ()
    made: Copy | HarnessError | None = None

    def get(self) -> Copy:
        if self.made is None:
            try:
                source = project_tree(self.app, self.app_root, _pythonpath())
                if self.target.exists():
                    shutil.rmtree(self.target)
                self.made = copy_project(source, self.target, exclude=self.exclude,
                                         skip=self.keep_out)
            except (HarnessError, OSError) as exc:
                self.made = InstanceBootError(
                    f"could not copy the project tree for an extra instance: {exc}",
                    instance="project copy")
        if isinstance(self.made, HarnessError):
            raise self.made
        return self.made


def instance_failed(name: str, copier: Copier | None, root: Path,
                    exc: BootError) -> InstanceBootError:
    """An extra instance's failed boot, as the error of its scenario alone.

    ``root`` is where it started: the project copy, when it did, is named
    with what it left out, the likeliest reason it cannot boot where the
    original does.
    """
    copy = copier.made if copier is not None and isinstance(copier.made, Copy) else None
    if copy is None or root != copy.root:
        return InstanceBootError(f"extra instance {name!r} did not boot: {exc.reason}",
                                 log=exc.log, log_note=exc.log_note, instance=name)
    more = f" and {len(copy.left_out) - 5} more" if len(copy.left_out) > 5 else ""
    left = (f" less {', '.join(copy.left_out[:5])}{more} (--copy-exclude and "
            f"{', '.join(LEFT_OUT[:3])}, ...)" if copy.left_out else "")
    return InstanceBootError(
        f"extra instance {name!r}, started from a copy of the project {copy.source} at "
        f"{copy.root}, did not boot: {exc.reason}; the copy holds the project tree{left}, "
        "as a second deployment of the app would: an app that reads files outside its "
        "project tree cannot start there",
        log=exc.log, log_note=exc.log_note, instance=name,
        details={"project_copy": copy.evidence()})


def _pythonpath() -> list[str]:
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
