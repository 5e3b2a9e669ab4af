"""The bulk gallery task against the demo Stash with real faces, run as Stash runs it.

One library (the demo scenario plus more galleries and a gallery of corrupt files) is seeded
twice, identically: Stash A gets an uninterrupted run, Stash B a run killed at a random gallery
and then restarted; both must end in exactly the same state, and undo must restore the seed.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import onnxruntime
import pytest
from conftest import REPO
from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)
from plugin_env import SESSION, PluginStash, install_reference, run_plugin

from devtools.demo import scenario as demo
from devtools.demo.seed import connect, seed
from devtools.demo.server import DemoStash

EXTRA_GALLERIES = [
    ("Blair again", {"Tony_Blair": 3}, False, []),
    ("Powell again", {"Colin_Powell": 3}, False, []),
    ("Chirac again", {"Jacques_Chirac": 3}, False, []),
    ("Schroeder and Chavez", {"Gerhard_Schroeder": 2, "Hugo_Chavez": 2}, False, []),
    ("Rumsfeld again", {"Donald_Rumsfeld": 3}, False, []),
    ("Blair and Powell", {"Tony_Blair": 2, "Colin_Powell": 2}, False, []),
]
CORRUPT = "Corrupt files"
REVIEW_TAG = "Stash Sense: needs review"


@pytest.fixture(autouse=True)
def in_process_engine(monkeypatch):
    """The engine in the plugin process: a killed task must not leave a worker behind in CI."""
    monkeypatch.setenv("STASH_SENSE_WORKER", "0")
    monkeypatch.setenv("STASH_SENSE_PACK", "test-mbf128")


def seed_library(folder: Path, scenario: demo.Scenario) -> Path:
    folder.mkdir(parents=True)
    db = folder / "stash.sqlite"
    demo.seed_stash(db, scenario)
    corrupt = []
    for i in range(2):
        path = folder / f"corrupt_{i}.jpg"
        path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg " + bytes([i]) * 64)
        corrupt.append(str(path))
    seed(db, [{"title": CORRUPT, "images": corrupt}])
    return db


def library_state(db: Path) -> tuple[set, set]:
    conn = connect(db)
    try:
        links = {tuple(r) for r in conn.execute("SELECT * FROM links")}
        performers = {tuple(r) for r in conn.execute(
            "SELECT p.id, p.name, s.stash_id FROM performers p LEFT JOIN performer_stash_ids s"
            " ON s.performer_id = p.id")}
        return links, performers
    finally:
        conn.close()


def gallery_names(server: DemoStash) -> dict[str, set[str]]:
    found = server.query("{ findGalleries(filter: {per_page: -1}) { galleries { title performers { name } } } }")
    return {g["title"]: {p["name"] for p in g["performers"]} for g in found["findGalleries"]["galleries"]}


def journal_rows(data_dir: Path, sql: str) -> list:
    conn = connect(data_dir / "journal.sqlite")
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def test_kill_resume_same_state_rerun_noop_corrupt_skipped_and_undo(tmp_path, reference_db, monkeypatch):
    scenario = demo.build_scenario(tmp_path, galleries=demo.GALLERIES + EXTRA_GALLERIES)
    dbs = {name: seed_library(tmp_path / name, scenario) for name in ("a", "b")}
    seeded = library_state(dbs["a"])
    assert seeded == library_state(dbs["b"])
    data = {name: tmp_path / f"data-{name}" for name in dbs}
    for folder in data.values():
        shutil.copytree(reference_db, folder / "local_db")
    servers = {name: DemoStash(db, session=SESSION) for name, db in dbs.items()}
    for server in servers.values():
        server.start()
    try:
        # A: uninterrupted, as a plugin process
        env_a = {"STASH_SENSE_DATA_DIR": str(data["a"])}
        run = run_plugin(servers["a"].server_connection(), {"mode": "bulk_galleries"}, env=env_a)
        summary = run.output
        galleries = len(demo.GALLERIES) + len(EXTRA_GALLERIES) + 1
        assert summary["galleries"] == galleries and summary["processed"] == galleries - 1
        assert summary["failed_galleries"] and summary["errors"] >= 1
        assert any(f"({CORRUPT}) skipped" in line for line in run.logs("e"))  # logged, and the run went on
        assert sum(line.startswith("Gallery ") for line in run.logs("i")) == galleries - 1
        assert any("performers added" in line for line in run.logs("i"))
        names = gallery_names(servers["a"])
        for title, truth in scenario.truth.items():
            assert truth <= names[title], title
        assert names["Blair solo"] == {"Tony Blair", demo.USER_PERFORMER}  # the user's performer is kept
        assert names["Stranger only"] == set() and names[CORRUPT] == set()
        final = library_state(dbs["a"])

        # A again: nothing to do, nothing written, no model loaded
        rerun = run_plugin(servers["a"].server_connection(), {"mode": "bulk_galleries"}, env=env_a).output
        assert rerun["processed"] == 0 and rerun["inferred"] == 0 and rerun["skipped"] == galleries - 1
        assert library_state(dbs["a"]) == final

        # B: killed at a random gallery through Stash's stop button, then started again
        monkeypatch.setenv("STASH_SENSE_DATA_DIR", str(data["b"]))
        kill_after = random.Random().randint(1, galleries - 3)
        print(f"killing after {kill_after} galleries")
        job = servers["b"].start_plugin_task("stash_sense", None, None, {"mode": "bulk_galleries"})
        deadline = time.monotonic() + 120
        while sum(m.startswith("Gallery ") for m in servers["b"].logs("info")) < kill_after:
            assert time.monotonic() < deadline and servers["b"].jobs[job]["status"] in ("READY", "RUNNING")
            time.sleep(0.02)
        assert 0 < servers["b"].jobs[job]["progress"] < 1
        servers["b"].stop_job(job)
        assert servers["b"].wait_job(job, 30)["status"] == "CANCELLED"
        partial = library_state(dbs["b"])
        assert partial != final and partial[0] >= seeded[0]
        job = servers["b"].start_plugin_task("stash_sense", None, None, {"mode": "bulk_galleries"})
        assert servers["b"].wait_job(job, 180)["status"] == "FINISHED"
        assert any("resuming run" in m for m in servers["b"].logs("info"))
        assert library_state(dbs["b"]) == final

        # no duplicate writes, and the two processes' changes are one journal run
        done = journal_rows(data["b"], "SELECT run_id, target_type, target_id, field, added FROM mutations"
                                       " WHERE status = 'done'")
        added = [(t, i, f, json.dumps(x, sort_keys=True)) for _, t, i, f, a in done for x in json.loads(a)]
        assert len(added) == len(set(added)) and len({r[0] for r in done}) == 1

        # "Undo last bulk run" takes back the whole resumed run: the library is as seeded
        undo = run_plugin(servers["b"].server_connection(), {"mode": "undo_last_run"},
                          env={"STASH_SENSE_DATA_DIR": str(data["b"])}).output
        assert undo["removed"]["gallery"]
        links, performers = library_state(dbs["b"])
        assert links == seeded[0] and performers >= seeded[1]  # performers created by the run are kept
    finally:
        for server in servers.values():
            server.stop()


def test_review_band_is_stored_and_tagged_and_rejections_respected(stash: PluginStash):
    # Rumsfeld in one photo beside Powell's two: a bystander, so offered for review whatever his
    # confidence (persons.auto_applies), while Powell is added.
    powell = sorted((demo.lfw_dir() / "Colin_Powell").glob("*.jpg"))[15:17]
    single = sorted((demo.lfw_dir() / "Donald_Rumsfeld").glob("*.jpg"))[15]
    title = "Powell, Rumsfeld once"
    gallery = seed(stash.server.db_path, [{"title": title, "images": [*map(str, powell), str(single)]}])[
        "galleries"][title]
    before = stash.links()
    out = stash.run({"mode": "bulk_galleries"}).output
    assert out["suggested"] == 1 and out["added"] >= 5
    tagged = stash.server.query('query($id: ID!) { findGallery(id: $id) { performers { id } tags { name } } }',
                                {"id": gallery})["findGallery"]
    assert REVIEW_TAG in {t["name"] for t in tagged["tags"]}
    assert [p["id"] for p in tagged["performers"]] == [stash.performer("Colin Powell")]
    assert stash.performer("Donald Rumsfeld") not in {str(link[3]) for link in stash.links() - before
                                                     if link[:3] == ("gallery", int(gallery), "performer")}
    stored = stash.run({"mode": "suggestions", "target_type": "gallery", "target_id": gallery}).output
    assert [p["candidates"][0]["name"] for p in stored["persons"]] == ["Donald Rumsfeld"]
    rumsfeld = stored["persons"][0]["candidates"][0]
    assert rumsfeld["band"] == "review" and rumsfeld["local_performer_id"] == stash.performer("Donald Rumsfeld")
    assert stored["persons"][0]["crop"].startswith("data:image/jpeg")

    stash.run({"mode": "reject", "target_type": "gallery", "target_id": gallery,
               "universal_id": rumsfeld["universal_id"]})
    again = stash.run({"mode": "bulk_galleries", "force": True}).output
    assert again["processed"] == again["galleries"] and again["inferred"] == 0  # all from the cache
    assert again["suggested"] == 0  # the rejected performer is not proposed again
    assert stash.run({"mode": "suggestions", "target_type": "gallery", "target_id": gallery}).output["persons"] == []


def test_forced_rerun_runs_no_inference_and_writes_nothing(stash: PluginStash, engine, monkeypatch):
    """In this process, so the ONNX session runs of the real engine can be counted."""
    from stash_sense.engine.identify import Identifier
    from stash_sense.jobs.galleries import run_bulk
    from stash_sense.jobs.options import BulkOptions
    from stash_sense.library.journal import Journal
    from stash_sense.service import databases
    from stash_sense.service.inprocess import InProcessService
    from stash_sense.stash.client import StashClient

    runs = []
    original = onnxruntime.InferenceSession.run

    def counting(self, *args, **kwargs):
        runs.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(onnxruntime.InferenceSession, "run", counting)
    identifier = Identifier(engine, databases.open_databases(engine.pack))
    client = StashClient.from_plugin_input(stash.server.server_connection())
    calibration = identifier.calibration
    options = BulkOptions(auto=calibration.auto_threshold, review=calibration.review_threshold, pack="test-mbf128")
    journal = Journal()
    service = InProcessService(engine.pack.name, identifier=identifier)
    first = run_bulk(client, journal, service, options)
    assert first["inferred"] == first["images"] == 25 and len(runs) >= 25
    state, mutations = stash.links(), journal.db.execute("SELECT COUNT(*) FROM mutations").fetchone()[0]
    runs.clear()
    forced = run_bulk(client, journal, service, BulkOptions(**{**options.__dict__,
                                                                                     "force": True}))
    assert forced["processed"] == 5 and forced["cached"] == 25 and forced["inferred"] == 0
    assert runs == []  # not one detector or embedder run
    assert stash.links() == state
    assert journal.db.execute("SELECT COUNT(*) FROM mutations").fetchone()[0] == mutations
    journal.close()


def test_cli_dry_run_then_untagged_run(stash: PluginStash):
    server = DemoStash(stash.server.db_path, api_key="cli-key")  # same library, API key auth like a cron job
    server.start()
    try:
        before = stash.links()
        cmd = [sys.executable, "-m", "stash_sense", "bulk", "--stash-url", server.url, "--api-key", "cli-key",
               "--pack", "test-mbf128", "--json"]
        dry = subprocess.run(cmd + ["--dry-run"], capture_output=True, text=True, cwd=REPO, timeout=180)
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout)["dry_run"] is True and stash.links() == before
        missing = subprocess.run(cmd + ["--tag", "No such tag"], capture_output=True, text=True, cwd=REPO,
                                 timeout=180)
        assert missing.returncode == 1 and "No tag named 'No such tag'" in missing.stderr
        real = subprocess.run(cmd + ["--untagged", "--tag-images", "--low-memory"], capture_output=True, text=True,
                              cwd=REPO, timeout=180)
        assert real.returncode == 0, real.stderr
        # a terminal gets plain lines: no Stash log prefixes, write-back lines included (issue 18's CLI bug)
        assert "\x01" not in real.stderr + dry.stderr and "\x02" not in real.stderr
        assert "Added to gallery" in real.stderr and "Stash Sense galleries:" in real.stderr
        summary = json.loads(real.stdout)
        assert summary["galleries"] == 3  # Blair solo and Rumsfeld and Chirac already have performers
        names = {t: stash.gallery_performers(t) for t in stash.ids["galleries"]}
        assert names["Schroeder zip"] == {"Gerhard Schroeder"}
        assert names["Rumsfeld and Chirac"] == {"Donald Rumsfeld"}  # not selected: untouched
        images = stash.server.query('query($g: [ID!]) { findImages(image_filter: {galleries: {value: $g, '
                                    'modifier: INCLUDES}}) { images { performers { name } } } }',
                                    {"g": [stash.gallery("Schroeder zip")]})["findImages"]["images"]
        assert images and all(i["performers"] == [{"name": "Gerhard Schroeder"}] for i in images)  # --tag-images
    finally:
        server.stop()


def test_no_database_is_a_clear_error(empty_stash):
    run = empty_stash.run({"mode": "bulk_galleries"})
    assert run.error.startswith("No face database")


__all__ = ["install_reference"]


def test_task_log_shows_count_rate_and_eta(stash: PluginStash):
    """Stash's task log of a bulk run carries the progress line with the ETA (issue 16 item 7);
    the interval is 0 here so a short run logs it after every gallery (a minute by default)."""
    run = stash.run({"mode": "bulk_galleries"}, env={"STASH_SENSE_ETA_INTERVAL_S": "0"})
    assert run.output["processed"] >= 2
    lines = [line for line in run.logs("i") if re.fullmatch(r"Gallery \d+/\d+ — \d+\.\d galleries/min — ETA .+", line)]
    total = run.output["galleries"]
    assert len(lines) == run.output["processed"], run.logs("i")
    assert lines[-1].startswith(f"Gallery {total}/{total} — ") and lines[-1].endswith("ETA 0 s")
