"""Any Flask app, unchanged: an app factory with ``cache.init_app(app)`` reached on PYTHONPATH.

``apps/foreign/shopapp.py`` imports no harness code.  Run as
``--app 'shopapp:create_app()'`` it is checked on the cache it configures
itself (FileSystemCache in ``$SHOP_CACHE_DIR``); ``--backend`` replaces that
cache and nothing else.
"""

from __future__ import annotations

from pathlib import Path

from cachelib import FileSystemCache

ROOT = Path(__file__).resolve().parent.parent

FOREIGN = str(ROOT / "apps" / "foreign")


def test_factory_app_gets_verdicts_for_its_own_backend(cli, tmp_path: Path) -> None:
    own_dir = tmp_path / "shop-cache"
    run = cli("--app", "shopapp:create_app()", "--workers", "2", "--scenario", "visibility",
              "--scenario", "add-race", "--scenario", "inc-race", "--scenario", "cached-view",
              "--scenario", "clear", env={"PYTHONPATH": FOREIGN, "SHOP_CACHE_DIR": str(own_dir)})
    assert run.code == 0, run.stdout + run.stderr
    assert run.verdicts() == {("FileSystemCache", "sync", "visibility"): "shared",
                              ("FileSystemCache", "sync", "read-your-writes"): "holds",
                              ("FileSystemCache", "sync", "monotonic-reads"): "holds",
                              ("FileSystemCache", "sync", "add-race"): "violated",
                              ("FileSystemCache", "sync", "inc-race"): "violated"}
    # Its own CACHE_DIR was used, not one the harness made.
    assert any(own_dir.iterdir())
    assert "cached-view: skipped: needs the feature routes of the sample app" in run.stdout
    assert "clear: skipped: would clear storage the harness did not start " \
           "(the app's own FileSystemCache)" in run.stdout
    assert run.report()["run"]["app"] == "shopapp:create_app()"
    assert run.leftovers == []


def test_backend_option_replaces_only_the_cache(cli, tmp_path: Path) -> None:
    own_dir = tmp_path / "shop-cache"
    run = cli("--app", "shopapp:create_app()", "--backend", "SimpleCache", "--workers", "2",
              "--scenario", "visibility",
              env={"PYTHONPATH": FOREIGN, "SHOP_CACHE_DIR": str(own_dir)})
    assert run.code == 0, run.stdout + run.stderr
    assert run.verdicts() == {("SimpleCache", "sync", "visibility"): "per-worker",
                              ("SimpleCache", "sync", "read-your-writes"): "per-worker",
                              ("SimpleCache", "sync", "monotonic-reads"): "per-worker"}
    # The app's own FileSystemCache was made at start-up (it keeps a count
    # file), but every operation went to the SimpleCache that replaced it.
    fs = FileSystemCache(str(own_dir))
    count_file = Path(fs._get_filename(fs._fs_count_file)).name
    entries = [p.name for p in own_dir.iterdir()]
    assert [e for e in entries if e != count_file] == [], entries
