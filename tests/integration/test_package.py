"""``make package``: the zip and source index Stash's plugin manager installs from, then the plugin
installed from them (as Stash does: sha256 checked, extracted into ``<plugins>/community/<id>/``)
running a task and a click against the demo Stash."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from plugin_env import *  # noqa: F403  (fixture reference_db: the demo reference database, built once)

from devtools.demo import scenario as demo
from devtools.demo.server import DemoStash
from stash_sense.stash import queries as Q

spec = importlib.util.spec_from_file_location("package_under_test", REPO / "devtools" / "package.py")
package = importlib.util.module_from_spec(spec)
spec.loader.exec_module(package)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, str(REPO / "devtools" / "package.py"), str(out)], check=True, capture_output=True)
    return out


def install_like_stash(dist: Path, plugins: Path) -> Path:
    """Stash's package manager: the index entry's zip, its sha256 checked, extracted under the source's folder."""
    entry = yaml.safe_load((dist / "index.yml").read_text())[0]
    data = (dist / entry["path"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    target = plugins / "community" / entry["id"]
    target.mkdir(parents=True)
    with zipfile.ZipFile(dist / entry["path"]) as bundle:
        bundle.extractall(target)
    return target


def test_index_is_what_stash_reads(dist):
    entries = yaml.safe_load((dist / "index.yml").read_text())
    assert len(entries) == 1
    entry = entries[0]
    manifest = yaml.safe_load((REPO / "stash_sense.yml").read_text())
    assert set(entry) == {"id", "name", "metadata", "version", "date", "path", "sha256"}
    assert entry["id"] == "stash_sense" and entry["name"] == manifest["name"]
    assert entry["metadata"] == {"description": manifest["description"]}
    assert str(entry["version"]).startswith(f"{manifest['version']}-") and entry["path"] == "stash_sense.zip"


def test_zip_holds_only_what_the_plugin_runs(dist):
    names = zipfile.ZipFile(dist / "stash_sense.zip").namelist()
    assert {"stash_sense.yml", "stash_sense_plugin.py", "requirements.txt", "requirements-nodeps.txt",
            "stash_sense/plugin/main.py", "stash_sense/js/stash_sense.css"} <= set(names)
    assert any(n.startswith("stash_sense/engine/packs/") and n.endswith(".json") for n in names)
    for name in names:
        assert not name.startswith(("tests/", "bench/", "devtools/", "data/", ".venv", "stash_sense/demo/", ".")), name
        assert "__pycache__" not in name and not name.endswith(".pyc")
    assert [n for n in names if n.endswith(".yml")] == ["stash_sense.yml"]  # Stash loads every .yml
    manifest = yaml.safe_load(zipfile.ZipFile(dist / "stash_sense.zip").read("stash_sense.yml"))
    for asset in manifest["ui"]["javascript"] + manifest["ui"]["css"]:
        assert asset in names


def test_same_tree_same_zip(dist, tmp_path):
    package.build(tmp_path)
    assert (tmp_path / "stash_sense.zip").read_bytes() == (dist / "stash_sense.zip").read_bytes()


def test_installed_plugin_runs_a_task_and_a_click(dist, tmp_path, reference_db, monkeypatch):
    """From the extracted folder only: the task downloads the database, the click identifies a gallery."""
    monkeypatch.setenv("STASH_SENSE_PACK", "test-mbf128")
    monkeypatch.setenv("STASH_SENSE_VENV", sys.prefix)  # the environment is this one: no pip in a test
    config = tmp_path / "config"
    plugin = install_like_stash(dist, config / "plugins")
    scenario = demo.build_scenario(tmp_path)
    ids = demo.seed_stash(config / "stash.sqlite", scenario)
    release = tmp_path / "release.zip"
    with zipfile.ZipFile(release, "w") as bundle:
        for path in reference_db.iterdir():
            bundle.write(path, path.name)
    tasks = yaml.safe_load((plugin / "stash_sense.yml").read_text())["tasks"]
    with DemoStash(config / "stash.sqlite", session="package", plugin_dir=plugin,
                   plugin_command=[sys.executable, str(plugin / "stash_sense_plugin.py")],
                   task_default_args={t["name"]: t["defaultArgs"] for t in tasks}) as server:
        server.query('mutation($i: Map!) { configurePlugin(plugin_id: "stash_sense", input: $i) }',
                     {"i": {"databaseSourceUrl": str(release)}})
        job_id = server.query(Q.RUN_PLUGIN_TASK, {"plugin_id": "stash_sense", "args_map": {},
                                                  "task_name": "Download/update face database"})["runPluginTask"]
        job = server.wait_job(job_id, timeout=300)
        assert job["status"] == "FINISHED", (job, server.logs("error"))
        out = server.query(Q.RUN_PLUGIN_OPERATION, {"plugin_id": "stash_sense", "args": {
            "mode": "identify_gallery", "gallery_id": ids["galleries"]["Schroeder zip"]}})["runPluginOperation"]
    assert out["persons"][0]["candidates"][0]["name"] == "Gerhard Schroeder"
    assert not any(p.name in (".venv", "data") for p in plugin.iterdir())  # nothing written into the plugins tree
