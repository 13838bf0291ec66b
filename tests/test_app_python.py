"""--python: the app served by its own interpreter, checked before anything starts, at the floor.

The venvs these tests need are built once and kept under the user's cache
(:func:`harness.topology.venvs.pinned`), as rolling-deploy's are: the first
run needs the package index, later ones take a few seconds.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from binaries import need
from clirun import ROOT

from harness.errors import UsageError
from harness.topology import venvs
from harness.topology.appenv import AppEnvironment, check_python, floor_venv, older
from harness.topology.gunicorn import GunicornSpec, command
from harness.worker.protocol import FLOOR, FLOOR_PINS

#: An app's venv as production has them: Flask 2.1 on a newer Werkzeug, an
#: older redis-py and Flask-Caching, on the harness's Python (which the
#: controller needs).  No gunicorn: the app is served some other way there.
APP_PINS = {"flask": "2.1.3", "werkzeug": "2.2.3", "redis": "4.5.5", "flask-caching": "2.0.2"}

#: The floor run's scenarios: one of each kind of thing the worker side does
#: (raw ops and the session checks on them; cached views, memoize and
#: fragments; the key maker and a second instance; --preload and a write at
#: import; inc under concurrency).  ``tox -e floor`` sets
#: ``COHERENCE_FLOOR_RUN=default`` and runs the whole default set instead.
FLOOR_SCENARIOS = ("visibility", "cached-view", "memoize", "template-fragment",
                   "key-stability", "preload", "register")
WHOLE_SET = os.environ.get("COHERENCE_FLOOR_RUN") == "default"


@pytest.fixture(scope="module")
def app_venv() -> Path:
    return venvs.pinned("app-flask2.1", [f"{d}=={v}" for d, v in APP_PINS.items()])


def _one_line(run, started: float) -> str:
    assert run.code == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coherence: error: "), run.stderr
    assert time.monotonic() - started < 15
    assert run.leftovers == []
    return lines[0]


def test_installing_the_harness_moves_none_of_the_apps_pins(app_venv: Path,
                                                            tmp_path: Path) -> None:
    """pip's own resolution of the checkout into that venv, without installing anything."""
    report = tmp_path / "pip-report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(app_venv), "install", "--dry-run",
         "--quiet", "--report", str(report), str(ROOT)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installs = {i["metadata"]["name"].lower(): i["metadata"]["version"]
                for i in json.loads(report.read_text())["install"]}
    assert "flask-cache-coherence" in installs  # the resolution did happen
    moved = {d: installs[d] for d in (*APP_PINS, "cachelib", "click", "jinja2")
             if d in installs}
    assert moved == {}, f"installing the harness would change the app's {moved}"


def test_a_missing_gunicorn_is_one_line_naming_the_pip_install(app_venv: Path, cli) -> None:
    started = time.monotonic()
    line = _one_line(cli("--python", str(app_venv), "--backend", "SimpleCache"), started)
    assert line == (f"coherence: error: --python {app_venv} has no gunicorn; install it for "
                    f"that interpreter: {app_venv} -m pip install 'gunicorn>=20.1'")


def test_bad_interpreters_are_refused_before_anything_starts(tmp_path: Path, cli) -> None:
    script = tmp_path / "script.txt"
    script.write_text("not a program\n")
    not_python = tmp_path / "fake-python"
    not_python.write_text("#!/bin/sh\necho hello\n")
    not_python.chmod(0o755)
    cases = {
        str(tmp_path / "nosuch" / "python"): "does not exist",
        str(tmp_path): "is a directory",
        str(script): "is not executable",
        str(not_python): "did not run as a Python interpreter",
    }
    for path, said in cases.items():
        started = time.monotonic()
        line = _one_line(cli("--python", path, "--backend", "SimpleCache"), started)
        assert said in line and "--python" in line, line


def test_a_python_below_the_floor_is_named_as_such() -> None:
    pattern = os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8")
    old = [p for p in sorted(glob.glob(pattern)) if os.access(p, os.X_OK)]
    if not old:
        pytest.skip("no python3.8 here to be refused")
    with pytest.raises(UsageError, match=r"is Python 3\.8\.\d+; .* needs Python 3\.9 or newer"):
        check_python(old[0])


def _env(**versions: str | None) -> AppEnvironment:
    base: dict[str, str | None] = {"flask": "2.0.3", "werkzeug": "2.0.3",
                                   "flask-caching": "2.0.0", "cachelib": "0.9.0",
                                   "gunicorn": "20.1.0"}
    return AppEnvironment(executable="/app/bin/python", given=True, python="3.9.18",
                          versions={**base, **versions})


def test_the_stack_is_checked_against_the_floor_for_what_the_run_uses() -> None:
    _env().require()  # the floor itself is enough for SimpleCache on sync workers
    with pytest.raises(UsageError, match=r"has flask 1\.1\.4, older than 2\.0; .*"
                                         r"/app/bin/python -m pip install 'flask>=2\.0'$"):
        _env(flask="1.1.4").require()
    # redis-py only where a Redis backend runs, at its floor.
    _env(redis=None, **{"python-memcached": "1.62"}).require(server_kinds=["memcached"],
                                                            worker_classes=["sync"])
    with pytest.raises(UsageError, match=r"has redis 3\.5\.3, older than 4\.0; .*'redis>=4\.0'"):
        _env(redis="3.5.3", **{"python-memcached": "1.62"}).require(
            server_kinds=["redis-cluster", "memcached"])
    with pytest.raises(UsageError, match=r"no memcached client .* 'python-memcached'$"):
        _env().require(server_kinds=["memcached"])
    with pytest.raises(UsageError, match=r"no gevent \(--worker-class gevent\); .*'gevent'$"):
        _env().require(worker_classes=["sync", "gevent"])
    with pytest.raises(UsageError, match=r"no gunicorn; no cachelib; .* "
                                         r"'gunicorn>=20\.1' 'cachelib>=0\.9'$"):
        _env(gunicorn=None, cachelib=None).require()
    pkg = AppEnvironment(executable="/p", given=True, python="3.9.18",
                         versions=_env().versions, pkg_resources_missing=True)
    with pytest.raises(UsageError, match=r"without the pkg_resources it imports; .*"
                                         r"'setuptools<81'$"):
        pkg.require()
    assert older("2.1.0rc1", "2.1") is False and older("20.0.4", "20.1") is True


def test_every_instance_is_started_with_the_apps_interpreter() -> None:
    spec = GunicornSpec(app="apps.demo:app", app_root=ROOT, python="/app/bin/python")
    assert command(spec, 8000)[:3] == ["/app/bin/python", "-m", "gunicorn"]
    assert command(GunicornSpec(app="apps.demo:app", app_root=ROOT), 8000)[0] == sys.executable


def test_the_default_scenarios_run_at_the_floor_on_python39(cli) -> None:
    """Python 3.9 and the oldest Flask stack: every row a verdict, the app's env recorded.

    Flask-Caching 2.0 has no ``delete_cached`` (new in 2.5: flask_caching/
    __init__.py, ``def delete_cached``), which the sample app's view
    invalidation calls, so cached-view is ``broken`` there: a verdict, and
    the proof that the workers ran that Flask-Caching, not the harness's.
    """
    base = need("python3.9")
    python = floor_venv(base)
    backends, classes = ("SimpleCache", "RedisCache"), ("sync", "gevent")
    args = [a for b in backends for a in ("--backend", b)]
    args += [a for c in classes for a in ("--worker-class", c)]
    if not WHOLE_SET:
        args += ["--workers", "2", *(a for s in FLOOR_SCENARIOS for a in ("--scenario", s))]
    run = cli("--python", str(python), *args, timeout=900)
    assert run.code in (0, 1), run.stdout + run.stderr
    assert run.leftovers == []
    report = run.report()
    rows = report["results"]
    seen = {(r["backend"], r["worker_class"], r["scenario"]) for r in rows}
    assert seen >= {(b, c, s) for b in backends for c in classes for s in FLOOR_SCENARIOS}
    if WHOLE_SET:
        assert len(seen) > 4 * len(FLOOR_SCENARIOS)
    inconclusive = [(r["backend"], r["worker_class"], r["scenario"], r["verdict"])
                    for r in rows if r["verdict"] in ("error", "unknown")]
    assert inconclusive == [], run.stdout
    views = {r["verdict"] for r in rows if r["scenario"] == "cached-view"}
    assert views == {"broken"}, views
    app = report["app_environment"]
    assert app["executable"] == str(python) and app["given"] is True
    assert app["python"].startswith(FLOOR["python"] + ".")
    assert {k: app[k] for k in ("flask", "werkzeug", "flask_caching", "cachelib", "gunicorn",
                                "redis")} == {k.replace("-", "_"): v
                                              for k, v in FLOOR_PINS.items()}
    assert app["gevent"] and app["memcached_client"].startswith("python-memcached ")
    assert report["environment"]["python"] == ".".join(map(str, sys.version_info[:3]))
    markdown = (run.report_dir / "latest" / "report.md").read_text()
    assert f"App environment (--python): `{python}`, Python {app['python']}; flask 2.0.3" \
        in markdown


def test_the_worker_side_compiles_on_python39(tmp_path: Path) -> None:
    """Every module of the worker side and the sample apps, compiled by Python 3.9 itself."""
    python = need("python3.9")
    files = [str(p) for p in sorted((ROOT / "harness" / "worker").glob("*.py"))]
    files += [str(p) for p in sorted((ROOT / "apps").rglob("*.py"))]
    code = ("import sys, py_compile\n"
            "for f in sys.argv[1:]: py_compile.compile(f, cfile=sys.argv[0] + '.pyc', "
            "doraise=True)")
    proc = subprocess.run([python, "-c", code.replace("sys.argv[0]", repr(str(tmp_path / "x"))),
                           *files], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_a_malformed_app_environment_is_refused_by_name(tmp_path: Path) -> None:
    from harness.report.schema import check

    env = AppEnvironment(executable="/app/bin/python", given=True, python="3.9.18",
                         versions={"flask": "2.0.3"}).describe()
    data = {"schema": "coherence-report/1", "created": "2026-12-02T00:00:00Z", "results": [],
            "app_environment": env}
    check(data, tmp_path / "report.json")  # as the writer writes it
    for field, value, said in (("executable", 3, "must be a string"),
                               ("flask", ["2.0"], "must be a string or null"),
                               ("given", None, "has no 'given'")):
        bad = {**env, field: value} if value is not None else {
            k: v for k, v in env.items() if k != field}
        with pytest.raises(UsageError, match=rf"app_environment.*{said}"):
            check({**data, "app_environment": bad}, tmp_path / "report.json")


def test_the_readme_states_the_floor_of_the_table() -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- floor -->", 1)[1].split("<!-- /floor -->", 1)[0]
    stated = [c.strip() for c in block.strip().splitlines()[-1].strip("|").split("|")]
    order = ("python", "flask", "werkzeug", "flask-caching", "cachelib", "gunicorn", "redis")
    assert stated == [FLOOR[d] for d in order]
    assert set(order) == set(FLOOR)


def test_a_check_that_hangs_is_stopped_with_everything_it_started(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    hangs = tmp_path / "python"
    hangs.write_text(f"#!/bin/sh\necho $$ > {pids}\nsleep 30 &\necho $! >> {pids}\nwait\n")
    hangs.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(UsageError, match=r"did not answer within 0\.5 s"):
        check_python(str(hangs), timeout=0.5)
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 2  # a killed orphan is reaped by init, not by us
    while (alive := [pid for pid in pids.read_text().split() if _running(pid)]) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive == [], "the check's process group outlived it"


def _running(pid: str) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie is dead, only not reaped
