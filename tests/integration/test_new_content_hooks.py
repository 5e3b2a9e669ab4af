"""New content identified automatically: a scan that creates 50 galleries fires Stash's hooks as Stash
does (one plugin process per created image and gallery, ``args.hookContext`` with ``input`` nil for a
scan, the hook's ``defaultArgs`` filled in); the hooks only queue, one task is started, and it
identifies the 50 galleries once with the bulk machinery, on real faces.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from plugin_env import *  # noqa: F403  (fixtures: reference_db)
from plugin_env import SESSION, install_reference, run_plugin

from devtools.demo import scenario as demo
from devtools.demo.server import DemoStash

IDENTITIES = [i.folder for i in demo.IDENTITIES]
NEW = [(f"New {n:02d}", {IDENTITIES[n % len(IDENTITIES)]: 1}, False, []) for n in range(50)]


@pytest.fixture
def scanned(tmp_path, monkeypatch, isolated_data_dir, reference_db):
    """A demo Stash whose last scan added 50 one-image galleries (ids known, no hook fired yet)."""
    for name, value in {"STASH_SENSE_PACK": "test-mbf128", "STASH_SENSE_WORKER": "0",
                        "STASH_SENSE_DATA_DIR": str(isolated_data_dir),
                        "STASH_SENSE_NEW_CONTENT_QUIET_S": "15"}.items():
        monkeypatch.setenv(name, value)
    scenario = demo.build_scenario(tmp_path, galleries=demo.GALLERIES + NEW)
    ids = demo.seed_stash(tmp_path / "stash.sqlite", scenario)
    install_reference(reference_db)
    server = DemoStash(tmp_path / "stash.sqlite", session=SESSION)
    server.start()
    yield server, ids, scenario
    server.stop()


def fire(server: DemoStash, trigger: str, object_id: str) -> dict:
    """What Stash does for one hook: a plugin process with the hook context and the hook's defaultArgs."""
    context = {"id": int(object_id), "type": trigger, "input": None, "inputFields": None}
    return run_plugin(server.server_connection(), {"hookContext": context, "mode": "new_content_hook"}).output


def configure(server: DemoStash, settings: dict) -> None:
    server.query("mutation($i: Map!) { configurePlugin(plugin_id: \"stash_sense\", input: $i) }", {"i": settings})


def test_a_scan_of_50_galleries_is_identified_once_without_a_hook_storm(scanned, isolated_data_dir):
    server, ids, scenario = scanned
    new = {title: ids["galleries"][title] for title, *_ in NEW}
    images = {title: [ids["images"][p] for p in g["images"]] for g in scenario.galleries
              for title in [g["title"]] if title in new}
    first = next(iter(new.values()))
    assert fire(server, "Gallery.Create.Post", first) == {"queued": False}  # off by default: nothing queued

    configure(server, {"identifyNewContent": True})
    answers = []
    for title, gallery_id in new.items():  # a scan: each image, then its gallery
        answers += [fire(server, "Image.Create.Post", image_id) for image_id in images[title]]
        answers.append(fire(server, "Gallery.Create.Post", gallery_id))
    assert all(a["queued"] for a in answers)
    assert sum(a["task_started"] for a in answers) == 1  # one task for the whole burst
    assert len(server.jobs) == 1
    job = server.wait_job(next(iter(server.jobs)), timeout=900)
    assert job["status"] == "FINISHED", (job, server.logs("error"))

    from stash_sense.jobs.ledger import ledger_path

    ledger = sqlite3.connect(ledger_path())
    done = dict(ledger.execute("SELECT gallery_id, status FROM galleries").fetchall())
    runs = ledger.execute("SELECT summary FROM bulk_runs").fetchall()
    ledger.close()
    assert done == {gallery_id: "done" for gallery_id in new.values()}  # the 50, and nothing else
    # each identified once (a slow scan may be identified in a few rounds, each after a quiet spell)
    assert sum(json.loads(summary)["processed"] for summary, in runs) == 50 and len(runs) <= 3
    titles = {gallery_id: title for title, gallery_id in ids["galleries"].items()}
    found = server.query("{ findGalleries(filter: {per_page: -1}) { galleries { id performers { name } } } }")
    named = {titles[g["id"]]: {p["name"] for p in g["performers"]} for g in found["findGalleries"]["galleries"]}
    correct = [t for t in new if scenario.truth[t] <= named[t]]
    wrong = [t for t in new if named[t] - scenario.truth[t]]
    assert len(correct) >= 40 and not wrong, (len(correct), wrong)  # single-image galleries: most are sure
    assert all(named[title] == set(present) for title, _, _, present in demo.GALLERIES)  # not hooked: untouched
