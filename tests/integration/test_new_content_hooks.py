"""New content identified automatically: the demo Stash scans a folder of 50 new galleries (40 folders
and 10 zips of real LFW faces) and fires the manifest's hooks as Stash does (``devtools/demo/scan.py``:
one plugin process per created image and gallery, ``hookContext`` with ``input`` nil, on two parallel
scan workers, the task queued behind the scan job). The test only starts the scan and waits: the
hooks only queue, one task is started, and it identifies the 50 galleries once, on real faces.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from plugin_env import *  # noqa: F403  (fixtures: reference_db)
from plugin_env import SESSION, install_reference

from devtools.demo import scenario as demo
from devtools.demo.server import DemoStash

IDENTITIES = [i.folder for i in demo.IDENTITIES]
NEW = [(f"New {n:02d}", {IDENTITIES[n % len(IDENTITIES)]: 1}, n % 5 == 4, []) for n in range(50)]
BEFORE = [("Scanned while off", {"Colin_Powell": 1}, False, [])]
HEAVY = ("numpy", "onnxruntime", "cv2", "voyager")  # the engine's libraries: a hook never imports them


@pytest.fixture
def library(tmp_path, monkeypatch, isolated_data_dir, reference_db):
    """A demo Stash with the demo galleries, and on disk (not yet scanned) a folder ``before`` with
    one gallery and a folder ``library`` with the 50 new ones."""
    for name, value in {"STASH_SENSE_PACK": "test-mbf128", "STASH_SENSE_WORKER": "0",
                        "STASH_SENSE_DATA_DIR": str(isolated_data_dir),
                        "STASH_SENSE_NEW_CONTENT_QUIET_S": "15",
                        "PYTHONPROFILEIMPORTTIME": "1"}.items():  # each plugin process lists its imports
        monkeypatch.setenv(name, value)
    scenario = demo.build_scenario(tmp_path, galleries=demo.GALLERIES + BEFORE + NEW)
    seeded = len(demo.GALLERIES)
    demo.seed_stash(tmp_path / "stash.sqlite", replace(scenario, galleries=scenario.galleries[:seeded]))
    for gallery in scenario.galleries[seeded:]:
        root = tmp_path / ("before" if gallery["title"] in {t for t, *_ in BEFORE} else "library")
        root.mkdir(exist_ok=True)
        name = gallery["title"].replace(" ", "_")
        if "zip" in gallery:
            shutil.move(gallery["zip"], root / f"{name}.zip")
        else:
            (root / name).mkdir()
            for image in gallery["images"]:
                shutil.copy(image, root / name)
    install_reference(reference_db)
    server = DemoStash(tmp_path / "stash.sqlite", session=SESSION, parallel_tasks=2,
                       create_galleries_from_folders=True)
    server.start()
    yield server, scenario, tmp_path
    server.stop()


def scan(server: DemoStash, path: Path) -> dict:
    """What the user does: Tasks > Scan (``metadataScan``); returns the finished scan job."""
    job_id = server.query("mutation($i: ScanMetadataInput!) { metadataScan(input: $i) }",
                          {"i": {"paths": [str(path)]}})["metadataScan"]
    return server.wait_job(job_id, timeout=900)


def gallery_titles(server: DemoStash) -> dict[str, str]:
    """Gallery id -> folder or zip name with spaces (the scenario's title) for scanned galleries."""
    found = server.query("{ findGalleries(filter: {per_page: -1}) { galleries { id title folder { path } "
                         "files { path } } } }")["findGalleries"]["galleries"]
    out = {}
    for g in found:
        if g["title"] is None:
            path = Path(g["files"][0]["path"] if g["files"] else g["folder"]["path"])
            out[g["id"]] = (path.stem if path.suffix == ".zip" else path.name).replace("_", " ")
    return out


def heavy_imports(log: list[str]) -> list[str]:
    """Modules of ``HEAVY`` in a process's ``-X importtime`` lines (``import time: self | cumul | name``)."""
    names = [line.rsplit("|", 1)[-1].strip() for line in log if line.startswith("import time:")]
    assert "stash_sense.jobs.new_content" in names, "no import list: the check would prove nothing"
    return [n for n in names if n in HEAVY]


def plugin_tasks(server: DemoStash) -> list[dict]:
    return [j for j in server.jobs.values() if j["description"].startswith("Running plugin task")]


def test_a_scan_of_50_galleries_is_identified_once_without_a_hook_storm(library):
    server, scenario, tmp = library
    assert scan(server, tmp / "before")["status"] == "FINISHED"  # the setting is off by default
    assert [(r["type"], r["output"]) for r in server.hook_runs] == [
        ("Gallery.Create.Post", {"queued": False}), ("Image.Create.Post", {"queued": False})]
    assert plugin_tasks(server) == []
    server.hook_runs.clear()

    server.query("mutation($i: Map!) { configurePlugin(plugin_id: \"stash_sense\", input: $i) }",
                 {"i": {"identifyNewContent": True}})
    assert scan(server, tmp / "library")["status"] == "FINISHED"
    titles = gallery_titles(server)
    new = {gallery_id: title for gallery_id, title in titles.items() if title.startswith("New")}
    assert len(new) == 50

    # Stash's hooks: one process per created object, the scan's context, nothing else
    runs = server.hook_runs
    assert sorted(str(r["id"]) for r in runs if r["type"] == "Gallery.Create.Post") == sorted(new)
    assert len([r for r in runs if r["type"] == "Image.Create.Post"]) == 50 and len(runs) == 100
    assert all(r["args"]["hookContext"]["input"] is None and r["args"]["mode"] == "new_content_hook" for r in runs)
    # no hook storm: each hook only queued, without loading the engine; one task for the whole scan
    assert all(r["error"] is None and r["output"]["queued"] for r in runs), [r for r in runs if r["error"]][:1]
    assert [heavy_imports(r["log"]) for r in runs] == [[]] * len(runs)
    assert sum(r["output"]["task_started"] for r in runs) == 1
    assert len(plugin_tasks(server)) == 1
    job = server.wait_job(plugin_tasks(server)[0]["id"], timeout=900)
    assert job["status"] == "FINISHED", (job, server.logs("error")[-20:])
    assert len(plugin_tasks(server)) == 1

    from stash_sense.jobs.ledger import ledger_path

    ledger = sqlite3.connect(ledger_path())
    done = dict(ledger.execute("SELECT gallery_id, status FROM galleries").fetchall())
    summaries = ledger.execute("SELECT summary FROM bulk_runs").fetchall()
    ledger.close()
    assert done == {gallery_id: "done" for gallery_id in new}  # the 50, not the one scanned while off
    # each identified once (a slow scan may be identified in a few rounds, each after a quiet spell)
    assert sum(json.loads(summary)["processed"] for summary, in summaries) == 50 and len(summaries) <= 3
    found = server.query("{ findGalleries(filter: {per_page: -1}) { galleries { id title performers { name } } } }")
    named = {g["id"]: {p["name"] for p in g["performers"]} for g in found["findGalleries"]["galleries"]}
    correct = [t for i, t in new.items() if scenario.truth[t] <= named[i]]
    wrong = [t for i, t in new.items() if named[i] - scenario.truth[t]]
    assert len(correct) >= 40 and not wrong, (len(correct), wrong)  # single-image galleries: most are sure
    by_title = {g["title"]: named[g["id"]] for g in found["findGalleries"]["galleries"] if g["title"]}
    assert all(by_title[title] == set(present) for title, _, _, present in demo.GALLERIES)  # not scanned: untouched
    assert not named[next(i for i, t in titles.items() if t == "Scanned while off")]
