"""The identify operations, run as Stash runs the plugin, against the demo Stash with real faces."""

from __future__ import annotations

from pathlib import Path

from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)

from stash_sense.stash import queries as Q

CANDIDATE_KEYS = {"universal_id", "name", "disambiguation", "country", "image_url", "confidence", "band",
                  "on_target", "local_performer_id", "rejected"}


def top_names(output: dict) -> set[str]:
    return {p["candidates"][0]["name"] for p in output["persons"] if not p["unknown"]}


def test_identify_gallery_contract_and_right_candidates(stash):
    run = stash.run({"mode": "identify_gallery", "gallery_id": stash.gallery("Rumsfeld and Chirac")})
    out = run.output
    assert out["target"] == {"type": "gallery", "id": stash.gallery("Rumsfeld and Chirac")}
    assert out["images"] == 6 and out["faces"] >= 6 and out["errors"] == []
    assert set(out["thresholds"]) == {"auto", "review"} and out["database"] == {"version": "demo", "performers": 6}
    assert top_names(out) == {"Donald Rumsfeld", "Jacques Chirac"}
    for person in out["persons"]:
        assert set(person) == {"index", "unknown", "incidental", "faces", "image_ids", "crop", "candidates"}
        assert person["crop"].startswith("data:image/jpeg;base64,")
        assert 1 <= len(person["candidates"]) <= 5
        assert all(CANDIDATE_KEYS <= set(c) for c in person["candidates"])
        assert set(person["image_ids"]) <= set(stash.ids["images"].values())
    rumsfeld = next(p["candidates"][0] for p in out["persons"] if p["candidates"][0]["name"] == "Donald Rumsfeld")
    assert rumsfeld["on_target"] is True and rumsfeld["local_performer_id"] == stash.performer("Donald Rumsfeld")
    assert rumsfeld["band"] == "auto" and 0 <= rumsfeld["confidence"] <= 1
    chirac = next(p["candidates"][0] for p in out["persons"] if p["candidates"][0]["name"] == "Jacques Chirac")
    assert chirac["on_target"] is False and chirac["local_performer_id"] is None  # no stash id yet
    assert any("analysing 6 image(s)" in line for line in run.logs("i"))

    # stored: the modal can show them again without recomputing
    stored = stash.run({"mode": "suggestions", "target_type": "gallery", "target_id": stash.gallery(
        "Rumsfeld and Chirac")}).output
    assert {p["candidates"][0]["name"] for p in stored["persons"]} == {"Donald Rumsfeld", "Jacques Chirac"}


def test_identify_zip_gallery_and_image_over_http(stash):
    out = stash.run({"mode": "identify_gallery", "gallery_id": stash.gallery("Schroeder zip")}).output
    assert out["errors"] == [] and top_names(out) == {"Gerhard Schroeder"}
    schroeder = out["persons"][0]["candidates"][0]
    assert schroeder["local_performer_id"] is None  # only on stash-box: apply would create it
    zip_image = next(i for p, i in stash.ids["images"].items() if ".zip/" in p)
    image = stash.run({"mode": "identify_image", "image_id": zip_image}).output
    assert image["target"] == {"type": "image", "id": zip_image} and image["images"] == 1
    assert image["persons"][0]["image_ids"] == [zip_image]


def test_stranger_is_unknown(stash):
    out = stash.run({"mode": "identify_gallery", "gallery_id": stash.gallery("Stranger only")}).output
    assert out["persons"] and all(p["unknown"] for p in out["persons"])


def test_missing_image_file_is_reported_not_fatal(stash):
    blair = sorted(p for p in stash.ids["images"] if "Tony_Blair" in p)
    moved = Path(blair[0])
    # the file vanished (for the plugin and for Stash): its row points at a path that does not exist
    from devtools.demo.seed import connect

    conn = connect(stash.server.db_path)
    conn.execute("UPDATE files SET path = ? WHERE path = ?", (str(stash.tmp / "gone.jpg"), str(moved)))
    conn.close()
    out = stash.run({"mode": "identify_gallery", "gallery_id": stash.gallery("Blair solo")}).output
    assert len(out["errors"]) == 1 and "404" in out["errors"][0]["error"]
    assert out["errors"][0]["image"] == stash.ids["images"][str(moved)]
    assert top_names(out) == {"Tony Blair"}  # the other three images still count


def test_rejected_candidate_is_flagged_and_not_suggested(stash):
    gallery = stash.gallery("Blair solo")
    first = stash.run({"mode": "identify_gallery", "gallery_id": gallery, "max_images": 3}).output
    assert first["images"] == 3  # of 4, spread over the gallery
    blair = first["persons"][0]["candidates"][0]
    assert stash.run({"mode": "reject", "target_type": "gallery", "target_id": gallery,
                      "universal_id": blair["universal_id"]}).output == {"rejected": True}
    stored = stash.run({"mode": "suggestions", "target_type": "gallery", "target_id": gallery}).output["persons"]
    assert blair["universal_id"] not in {c["universal_id"] for p in stored for c in p["candidates"]}
    again = stash.run({"mode": "identify_gallery", "gallery_id": gallery}).output
    flagged = [(p, c) for p in again["persons"] for c in p["candidates"] if c["universal_id"] == blair["universal_id"]]
    assert flagged and all(c["rejected"] for _, c in flagged)
    assert all(p["unknown"] for p, c in flagged if p["candidates"][0] is c)  # a rejected match is no match


def test_no_database_error_names_the_download_task(empty_stash):
    run = empty_stash.run({"mode": "identify_gallery", "gallery_id": empty_stash.gallery("Blair solo")})
    assert run.error.startswith("No face database") and "Download/update face database" in run.error
    assert any(line.startswith("No face database") for line in run.logs("e"))


def test_identify_through_run_plugin_operation(stash):
    """The path the UI takes: GraphQL runPluginOperation -> the plugin -> the output object."""
    body = stash.server.query(Q.RUN_PLUGIN_OPERATION, {"plugin_id": "stash_sense", "args": {
        "mode": "identify_image", "image_id": stash.ids["images"][str(stash.scenario.galleries[0]["images"][0])]}})
    out = body["runPluginOperation"]
    assert out["target"]["type"] == "image" and top_names(out) == {"Tony Blair"}


def test_clicks_go_through_the_warm_worker(stash, monkeypatch):
    """Each click is a new plugin process; the second finds the engine worker already loaded."""
    from stash_sense.service.launcher import stop_worker

    monkeypatch.delenv("STASH_SENSE_WORKER", raising=False)
    monkeypatch.setenv("STASH_SENSE_WORKER_IDLE", "60")
    args = {"mode": "identify_gallery", "gallery_id": stash.gallery("Rumsfeld and Chirac")}
    try:
        first, second = stash.run(args), stash.run(args)
    finally:
        stop_worker("test-mbf128")
    assert any("(worker)" in line for line in first.logs("i") + second.logs("i"))
    assert first.output["persons"] == second.output["persons"]
    assert top_names(second.output) == {"Donald Rumsfeld", "Jacques Chirac"}
