"""The library's own faces (issue 20) end to end on real faces, through the plugin as Stash runs it:
a bulk run fills the library face index; "Find recurring unknown people" groups the faces nobody
was matched to; naming a group adds the performer everywhere (undoable) and enrolls the faces so
the next run recognises them; hiding keeps a group hidden; "find this performer everywhere" lists
the galleries that show a database performer who is not on them yet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugin_env import *  # noqa: F403  (fixtures: reference_db)
from plugin_env import SESSION, PluginStash, install_reference
from scene_env import seed_scenes, two_people_video

from devtools.demo import scenario as demo
from devtools.demo.server import DemoStash

UNKNOWN = demo.UNKNOWN_RECURRING
EXTRA = demo.RECURRING_GALLERIES
API_KEY = "library-test-key"  # the command line signs in like a script: with an API key
BLAIR_GALLERIES = {"Blair solo", "Blair again", "Blair and Powell"}


@pytest.fixture
def library(tmp_path, monkeypatch, isolated_data_dir, reference_db) -> PluginStash:
    monkeypatch.setenv("STASH_SENSE_PACK", "test-mbf128")
    monkeypatch.setenv("STASH_SENSE_WORKER", "0")
    scenario = demo.build_scenario(tmp_path, galleries=demo.GALLERIES + EXTRA)
    ids = demo.seed_stash(tmp_path / "stash.sqlite", scenario)
    install_reference(reference_db)
    server = DemoStash(tmp_path / "stash.sqlite", session=SESSION, api_key=API_KEY)
    server.start()
    yield PluginStash(server, ids, scenario, isolated_data_dir, tmp_path)
    server.stop()


def folder_of(library: PluginStash) -> dict[str, str]:
    """image id -> the LFW identity its file is of (``<Identity>_0001.jpg``, zip members included)."""
    return {image_id: Path(path).name.rsplit("_", 1)[0] for path, image_id in library.ids["images"].items()}


def identity_of(person: dict, folders: dict[str, str]) -> str:
    """The one identity a group's faces come from (fails if it mixes two)."""
    found = {folders[s["image"]] for s in person["samples"]} | {folders[i] for i in _all_images(person)}
    assert len(found) == 1, f"{person['label']} mixes {sorted(found)}"
    return found.pop()


def _all_images(person: dict) -> list[str]:
    return person["_images"]


def people(library: PluginStash) -> list[dict]:
    """The listed groups, each with every image it holds (from the side table)."""
    from stash_sense.jobs.library_index import open_index
    from stash_sense.jobs.unknown_people import face_ids

    listed = library.run({"mode": "unknown_people_list", "crops": "true"},
                         env={"STASH_SENSE_DATA_DIR": str(library.data_dir)}).output["people"]
    index = open_index("test-mbf128", folder=library.data_dir / "library_index")
    try:
        for person in listed:
            person["_images"] = [f["image"] for f in index.table.faces(face_ids(index, person["id"])).values()]
    finally:
        index.close()
    return listed


def test_unknown_people_named_hidden_and_recognised_next_run(library: PluginStash, monkeypatch):
    monkeypatch.setenv("STASH_SENSE_DATA_DIR", str(library.data_dir))
    run = library.run({"mode": "bulk_galleries"})
    bulk = run.output
    assert bulk["processed"] == len(library.scenario.galleries), (bulk["failed_galleries"], run.logs("e"))
    assert (library.data_dir / "library_index" / "index" / "current").is_file()  # saved after the last item

    found = library.run({"mode": "unknown_people"}).output
    assert found["groups"] >= 3 and found["unknown_faces"] >= found["grouped_faces"]
    folders = folder_of(library)
    listed = people(library)
    by_identity: dict[str, dict] = {}
    for person in sorted(listed, key=lambda p: p["faces"]):  # every group is one identity; keep the largest
        by_identity[identity_of(person, folders)] = person
    # recall: each unknown identity (and the demo's stranger) is one group holding most of its images
    for identity in UNKNOWN | {demo.STRANGER}:
        seen = [i for i, f in folders.items() if f == identity]
        assert identity in by_identity, (identity, [p["label"] for p in listed])
        assert len(by_identity[identity]["_images"]) >= 0.8 * len(seen) - 1, identity
    assert not {"Tony_Blair", "Colin_Powell"} & set(by_identity)  # matched people are not "unknown"
    berlusconi = by_identity["Silvio_Berlusconi"]
    label = berlusconi["label"]
    assert label.startswith(f"Unknown person {berlusconi['id']}: ") and "in 3 galleries" in label, label
    assert any(s["crop"] and s["crop"].startswith("data:image/") for s in berlusconi["samples"])

    # "new performer named ...": added to every gallery the group is in, one undoable run
    before = library.links()
    named = library.run({"mode": "unknown_person_name", "person_id": berlusconi["id"],
                         "new_name": "Silvio Berlusconi"}).output
    assert set(named["added"]["gallery"]) == {library.gallery(t) for t in (
        "Berlusconi one", "Berlusconi and Koizumi", "Putin and Berlusconi")}
    assert named["enrolled_faces"] == berlusconi["faces"]
    assert "Silvio Berlusconi" in library.gallery_performers("Putin and Berlusconi")
    undone = library.run({"mode": "undo_last_run"}).output
    assert undone and library.links() == before and library.performer("Silvio Berlusconi") is None
    local = json.loads((library.data_dir / "local_db" / "performers.json").read_text())
    assert named["universal_id"] not in local  # the undone naming took its faces out of the local database
    # the same through the Runs tab (undo one run by id)
    named = library.run({"mode": "unknown_person_name", "person_id": berlusconi["id"],
                         "new_name": "Silvio Berlusconi"}).output
    assert library.run({"mode": "undo_run", "run_id": named["journal_run_id"]}).output
    local = json.loads((library.data_dir / "local_db" / "performers.json").read_text())
    assert library.links() == before and named["universal_id"] not in local

    # "this is performer X" with an existing performer: the next run recognises the enrolled faces
    koizumi_id = library.server.query('mutation { performerCreate(input: {name: "Junichiro Koizumi"}) { id } }'
                                      )["performerCreate"]["id"]
    koizumi = by_identity["Junichiro_Koizumi"]
    named = library.run({"mode": "unknown_person_name", "person_id": koizumi["id"],
                         "performer_id": koizumi_id}).output
    assert set(named["added"]["gallery"]) == {library.gallery("Berlusconi and Koizumi"), library.gallery("Koizumi two")}
    identified = library.run({"mode": "identify_gallery", "gallery_id": library.gallery("Koizumi two")}).output
    best = [c for p in identified["persons"] for c in p["candidates"][:1]]
    assert any(c["local_performer_id"] == koizumi_id and c["band"] != "low" for c in best), identified["persons"]

    # "not interesting": hidden now and after the next clustering
    putin = by_identity["Vladimir_Putin"]
    assert library.run({"mode": "unknown_person_hide", "person_id": putin["id"]}).output["hidden"]
    library.run({"mode": "bulk_galleries", "force": "true"})
    library.run({"mode": "unknown_people"})
    again = {identity_of(p, folders) for p in people(library)}
    assert "Vladimir_Putin" not in again and "Junichiro_Koizumi" not in again  # hidden; recognised now
    assert "Silvio_Berlusconi" in again  # his naming was undone: still unknown


def cli(library: PluginStash, capsys, *argv: str) -> dict:
    """``python -m stash_sense library ...`` in this process; its JSON answer."""
    import argparse

    from stash_sense.cli.library import add_library_commands

    parser = argparse.ArgumentParser()
    add_library_commands(parser.add_subparsers(dest="command"))
    capsys.readouterr()
    args = parser.parse_args(["library", "--stash-url", library.server.url, "--api-key", API_KEY,
                              "--data-dir", str(library.data_dir), *argv])
    assert args.run(args) == 0
    return json.loads(capsys.readouterr().out)


def test_find_this_performer_everywhere_and_add(library: PluginStash, monkeypatch, capsys):
    monkeypatch.setenv("STASH_SENSE_DATA_DIR", str(library.data_dir))
    video = two_people_video(library.tmp / "videos" / "blair_powell.mp4")
    scene = seed_scenes(library.server.db_path, [{"title": "Blair and Powell on video", "path": str(video),
                                                  "duration": 10.0}])["Blair and Powell on video"]
    library.run({"mode": "bulk_galleries", "dry_run": "true"})  # analysed and indexed, nothing added
    library.run({"mode": "identify_scenes", "dry_run": "true", "frames": "12"})  # scene frames indexed too
    blair = library.performer("Tony Blair")
    found = library.run({"mode": "find_everywhere", "performer_id": blair}).output
    titles = {gallery_id: title for title, gallery_id in library.ids["galleries"].items()}
    listed = {titles[i["id"]] for i in found["items"] if i["type"] == "gallery"}
    assert listed == BLAIR_GALLERIES, found["items"]
    assert [i["id"] for i in found["items"] if i["type"] == "scene"] == [scene]
    assert all(i["band"] in ("auto", "review") for i in found["items"])
    assert all(i["images"] for i in found["items"] if i["type"] == "gallery")  # the images he is in
    confidences = [i["confidence"] for i in found["items"]]
    assert confidences == sorted(confidences, reverse=True)
    from_cli = cli(library, capsys, "find", "--performer-id", blair)  # the command line finds the same
    assert [(i["id"], i["confidence"]) for i in from_cli["items"]] == [(i["id"], i["confidence"])
                                                                      for i in found["items"]]

    before = library.links()
    added = library.run({"mode": "find_everywhere_add", "performer_id": blair,
                         "items": [{"type": i["type"], "id": i["id"]} for i in found["items"]]}).output
    assert {titles[i] for i in added["added"]["gallery"]} == BLAIR_GALLERIES and added["added"]["scene"] == [scene]
    assert all("Tony Blair" in library.gallery_performers(t) for t in BLAIR_GALLERIES)
    assert not library.run({"mode": "find_everywhere", "performer_id": blair}).output["items"]  # they have him
    library.run({"mode": "undo_last_run"})
    assert library.links() == before

    auto = {titles[i["id"]] for i in found["items"] if i["band"] == "auto" and i["type"] == "gallery"}
    added = library.run({"mode": "find_everywhere_add", "performer_id": blair, "above_auto": "true"}).output
    assert {titles[i] for i in added["added"].get("gallery", [])} == auto
    assert {t for t in BLAIR_GALLERIES if "Tony Blair" in library.gallery_performers(t)} == auto
    groups = cli(library, capsys, "unknown", "--list")
    assert groups["groups"] == len(groups["people"]) >= 1  # the demo's stranger, at least
