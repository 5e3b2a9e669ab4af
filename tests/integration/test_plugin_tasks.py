"""Task modes: local enrollment from the user's performers, database download, run as Stash tasks."""

from __future__ import annotations

import base64
import zipfile

import yaml
from conftest import REPO
from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)

from devtools.demo.scenario import REFERENCE_IMAGES, lfw_dir
from devtools.demo.seed import seed
from stash_sense.service import databases
from stash_sense.stash import queries as Q


def task_defaults() -> dict:
    manifest = yaml.safe_load((REPO / "stash_sense.yml").read_text())
    return {t["name"]: t["defaultArgs"] for t in manifest["tasks"]}


def run_task(stash, task_name: str) -> dict:
    """runPluginTask(task_name) as the Tasks page does: defaultArgs from the manifest, a job with progress."""
    stash.server.task_default_args = task_defaults()
    job_id = stash.server.query(Q.RUN_PLUGIN_TASK, {"plugin_id": "stash_sense", "task_name": task_name,
                                                    "args_map": {}})["runPluginTask"]
    return stash.server.wait_job(job_id, timeout=300)


def test_enroll_local_then_identify_without_any_download(empty_stash):
    stash = empty_stash
    blair_refs = sorted((lfw_dir() / "Tony_Blair").glob("*.jpg"))[:REFERENCE_IMAGES]
    seed(stash.server.db_path, [{"title": "Blair set", "images": [str(p) for p in blair_refs],
                                 "performers": ["Tony Blair"]}])
    powell = sorted((lfw_dir() / "Colin_Powell").glob("*.jpg"))[0]
    stash.server.query(Q.PERFORMER_UPDATE, {"input": {"id": stash.performer("Colin Powell"), "image": (
        "data:image/jpeg;base64," + base64.b64encode(powell.read_bytes()).decode())}})

    job = run_task(stash, "Build local reference from my performers")
    assert job["status"] == "FINISHED" and job["progress"] == 1.0, (job, stash.server.logs("error"))
    local = databases.local_db_path()
    performers = yaml.safe_load((local / "performers.json").read_text())
    blair = stash.scenario.identity("Tony Blair")
    powell_uid = stash.scenario.identity("Colin Powell").universal_id
    # the user's tags are trusted: galleries tagged with exactly one performer count too (Rumsfeld's,
    # and "Someone Else", who has no stash id, under local:<id>)
    assert set(performers) == {blair.universal_id, powell_uid, stash.scenario.identity("Donald Rumsfeld").universal_id,
                               f"local:{stash.performer('Someone Else')}"}
    assert performers[blair.universal_id]["face_count"] == REFERENCE_IMAGES
    assert performers[blair.universal_id]["local_id"] == stash.performer("Tony Blair")
    assert performers[powell_uid]["face_count"] == 1  # the performer image

    out = stash.run({"mode": "identify_gallery", "gallery_id": stash.gallery("Chavez, Powell and a stranger")}).output
    powell = next(p for p in out["persons"] if p["candidates"][0]["name"] == "Colin Powell")
    assert not powell["unknown"] and powell["candidates"][0]["local_performer_id"] == stash.performer("Colin Powell")

    again = stash.run({"mode": "enroll_local"}).output  # incremental: nothing new to add
    assert again["faces_added"] == 0 and again["images"] == 0


def test_download_db_installs_a_release_from_the_configured_source(empty_stash, reference_db, tmp_path):
    release = tmp_path / "release.zip"
    with zipfile.ZipFile(release, "w") as bundle:
        for path in reference_db.iterdir():
            bundle.write(path, path.name)
    empty_stash.configure({"databaseSourceUrl": str(release)})
    job = run_task(empty_stash, "Download/update face database")
    assert job["status"] == "FINISHED", (job, empty_stash.server.logs("error"))
    assert "Stash Sense: face database demo installed" in empty_stash.server.logs("info")
    out = empty_stash.run({"mode": "identify_gallery", "gallery_id": empty_stash.gallery("Schroeder zip")}).output
    assert out["database"]["version"] == "demo" and out["persons"][0]["candidates"][0]["name"] == "Gerhard Schroeder"

    empty_stash.configure({"databaseSourceUrl": str(tmp_path / "missing.zip")})
    job = run_task(empty_stash, "Download/update face database")
    assert job["status"] == "FINISHED" and job["error"] is None  # Stash keeps no outcome in the job
    outcome = empty_stash.run({"mode": "task_outcome", "task": "download_db", "since": job["startTime"]}).output
    assert outcome["status"] == "failed" and "missing.zip" in outcome["error"]
    later = empty_stash.run({"mode": "task_outcome", "task": "download_db", "since": "2999-01-01T00:00:00Z"})
    assert later.output["status"] == "unknown"  # a run older than the job asked about is not its outcome
