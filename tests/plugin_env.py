"""Fixtures for the plugin tests: the demo scenario in a demo Stash, a reference database, and a
runner that starts ``stash_sense_plugin.py`` exactly as Stash does (stdin JSON, stdout/stderr).

Import the fixtures into a test module with ``from plugin_env import ...``. The reference database
is built once per session; each test gets a freshly seeded Stash and its own data folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO

from devtools.demo import scenario as demo
from devtools.demo.server import DemoStash
from stash_sense.service import databases

__all__ = ["empty_stash", "reference_db", "stash", "run_plugin", "PluginStash", "Run"]

SESSION = "plugin-test-session"
PLUGIN = REPO / "stash_sense_plugin.py"


@dataclass
class Run:
    """One plugin process: what Stash would see."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict:
        return json.loads(self.stdout)

    @property
    def output(self):
        result = self.result
        assert "error" not in result or result["error"] is None, result
        return result["output"]

    @property
    def error(self) -> str:
        return self.result["error"]

    def logs(self, level: str = "") -> list[str]:
        """stderr lines with the given level code ("i", "e", ...); every line must carry a prefix."""
        lines = [line for line in self.stderr.splitlines() if line]
        for line in lines:
            assert line[0] == "\x01" and line[2] == "\x02", f"unprefixed stderr line: {line!r}"
        return [line[3:] for line in lines if not level or line[1] == level]


def run_plugin(server_connection: dict, args: dict, env: dict | None = None, timeout: float = 180) -> Run:
    """Like Stash's raw interface: PluginInput on stdin (then closed), stdout read to EOF."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (full_env.get("PYTHONPATH"), str(REPO.parent)) if p)
    proc = subprocess.run([sys.executable, str(PLUGIN)], input=json.dumps(
        {"server_connection": server_connection, "args": args}).encode(), capture_output=True, env=full_env,
        timeout=timeout)
    out = Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert out.stdout.count("\n") == 1 and out.stdout.endswith("\n"), f"stdout must be one JSON line: {out.stdout!r}"
    assert isinstance(json.loads(out.stdout), dict)
    return out


@pytest.fixture(scope="session")
def reference_db(engine, tmp_path_factory) -> Path:
    """The demo reference database (6 identities x 4 images, test-mbf128), built once."""
    folder = tmp_path_factory.mktemp("reference")
    scenario = demo.build_scenario(folder)
    report = demo.build_reference(engine, scenario, folder / "db")
    assert report.faces_added >= 20, report.to_dict()
    return folder / "db"


@dataclass
class PluginStash:
    server: DemoStash
    ids: dict
    scenario: demo.Scenario
    data_dir: Path
    tmp: Path

    def run(self, args: dict, **kwargs) -> Run:
        return run_plugin(self.server.server_connection(), args, **kwargs)

    def gallery(self, title: str) -> str:
        return self.ids["galleries"][title]

    def performer(self, name: str) -> str | None:
        found = self.server.query('query($n: String!) { findPerformers(performer_filter: {name: {value: $n, '
                                  'modifier: EQUALS}}) { performers { id } } }', {"n": name})
        performers = found["findPerformers"]["performers"]
        return performers[0]["id"] if performers else None

    def links(self) -> set[tuple]:
        """Every performer/tag link in the library: the whole state write-back may touch."""
        from devtools.demo.seed import connect

        conn = connect(self.server.db_path)
        try:
            return {tuple(r) for r in conn.execute("SELECT * FROM links")}
        finally:
            conn.close()

    def performers_table(self) -> set[tuple]:
        from devtools.demo.seed import connect

        conn = connect(self.server.db_path)
        try:
            rows = conn.execute("SELECT p.id, p.name, s.stash_id FROM performers p"
                                " LEFT JOIN performer_stash_ids s ON s.performer_id = p.id").fetchall()
            return {tuple(r) for r in rows}
        finally:
            conn.close()

    def gallery_performers(self, title: str) -> set[str]:
        found = self.server.query("query($id: ID!) { findGallery(id: $id) { performers { name } } }",
                                  {"id": self.gallery(title)})
        return {p["name"] for p in found["findGallery"]["performers"]}

    def configure(self, settings: dict) -> None:
        self.server.query("mutation($i: Map!) { configurePlugin(plugin_id: \"stash_sense\", input: $i) }",
                          {"i": settings})


def install_reference(reference: Path) -> None:
    """The reference database as this test's local database (STASH_SENSE_DATA_DIR is per test)."""
    shutil.copytree(reference, databases.local_db_path())


@pytest.fixture
def empty_stash(tmp_path, monkeypatch, isolated_data_dir) -> PluginStash:
    """A seeded demo Stash and an empty plugin data folder (no database)."""
    monkeypatch.setenv("STASH_SENSE_PACK", "test-mbf128")
    scenario = demo.build_scenario(tmp_path)
    ids = demo.seed_stash(tmp_path / "stash.sqlite", scenario)
    server = DemoStash(tmp_path / "stash.sqlite", session=SESSION)
    server.start()
    yield PluginStash(server, ids, scenario, isolated_data_dir, tmp_path)
    server.stop()


@pytest.fixture
def stash(empty_stash, reference_db) -> PluginStash:
    """The seeded demo Stash plus the reference database installed."""
    install_reference(reference_db)
    return empty_stash
