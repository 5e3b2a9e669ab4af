"""Scenes through the plugin, as Stash runs it: identify_scene on a video of real faces in the demo
Stash, apply (mode ADD) with and without markers, undo, broken videos, and the stream fallback."""

from __future__ import annotations

import pytest
from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)
from scene_env import BLAIR, POWELL, TRUTH, range_iou, seed_scenes, two_people_video

from devtools.demo.scenario import USER_PERFORMER

FRAMES = 12  # per scene: enough for 10 s at ~0.8 s spacing, cheap on a 2-core box
MIN_IOU = 0.6  # 12 frames: each range edge is known to within half a spacing (~0.4 s)


@pytest.fixture
def scene(stash):
    """The two-people scene seeded into the demo Stash, with a performer the user put on it."""
    path = two_people_video(stash.tmp / "videos" / "blair_powell.mp4")
    ids = seed_scenes(stash.server.db_path, [{"title": "Blair and Powell", "path": str(path),
                                              "performers": [USER_PERFORMER], "duration": 10.0}])
    return ids["Blair and Powell"]


def scene_state(stash, scene_id: str) -> dict:
    found = stash.server.query("query($id: ID!) { findScene(id: $id) { performers { name } tags { name } "
                               "scene_markers { title seconds } } }", {"id": scene_id})["findScene"]
    return {"performers": sorted(p["name"] for p in found["performers"]),
            "tags": sorted(t["name"] for t in found["tags"]), "markers": found["scene_markers"]}


def top_names(out: dict) -> dict[str, dict]:
    return {p["candidates"][0]["name"]: p for p in out["persons"] if not p["unknown"]}


def test_identify_scene_finds_the_people_and_when(stash, scene):
    out = stash.run({"mode": "identify_scene", "scene_id": scene, "frames": FRAMES}).output
    assert out["target"] == {"type": "scene", "id": scene}
    people = top_names(out)
    assert set(people) == {BLAIR, POWELL}, [(p["candidates"][:1], p["time_ranges"]) for p in out["persons"]]
    for name, person in people.items():
        assert range_iou(person["time_ranges"], TRUTH[name]) >= MIN_IOU, (name, person["time_ranges"])
        start, end = TRUTH[name][0]
        assert start <= person["best_time"] <= end
        assert person["crop"].startswith("data:image/jpeg;base64,")
        assert person["image_ids"] == [] and person["frame_times"]
    assert set(out) >= {"persons", "thresholds", "errors", "database", "images", "faces", "video", "sampling"}
    assert out["errors"] == [] and out["images"] == FRAMES + 1  # frames + Stash's screenshot
    assert out["video"]["duration"] == pytest.approx(10.0, abs=0.3)
    assert people[BLAIR]["candidates"][0]["on_target"] is False


def test_apply_to_scene_adds_marks_and_undoes(stash, scene):
    assert stash.run({"mode": "identify_scene", "scene_id": scene, "frames": FRAMES}).output["persons"]
    stash.configure({"sceneMarkers": True})
    uid = stash.scenario.identity(POWELL).universal_id
    out = stash.run({"mode": "apply", "target_type": "scene", "target_id": scene, "universal_id": uid}).output
    assert out["added"] == {"scene": [scene], "image": []} and out["marker_id"]
    marker_id = out["marker_id"]
    state = scene_state(stash, scene)
    assert state["performers"] == sorted([USER_PERFORMER, POWELL])
    assert state["tags"] == ["Stash Sense: identified"]
    [marker] = state["markers"]
    assert marker["title"] == POWELL and abs(marker["seconds"] - TRUTH[POWELL][0][0]) <= 1.0

    stash.configure({"sceneMarkers": False})  # markers off: the performer only
    uid = stash.scenario.identity(BLAIR).universal_id
    out = stash.run({"mode": "apply", "target_type": "scene", "target_id": scene, "universal_id": uid}).output
    assert out["marker_id"] is None and len(scene_state(stash, scene)["markers"]) == 1
    assert scene_state(stash, scene)["performers"] == sorted([USER_PERFORMER, POWELL, BLAIR])

    assert stash.run({"mode": "undo_last_run"}).output["removed"]  # Blair's apply
    assert scene_state(stash, scene)["performers"] == sorted([USER_PERFORMER, POWELL])
    undone = stash.run({"mode": "undo_last_run"}).output  # Powell's, with the marker
    assert undone["removed"]["scene"][scene]["marker"] == [marker_id]
    assert scene_state(stash, scene) == {"performers": [USER_PERFORMER], "tags": [], "markers": []}


def test_broken_video_is_a_clear_scene_error(stash):
    broken = stash.tmp / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not really a video" * 200)
    ids = seed_scenes(stash.server.db_path, [{"title": "Broken", "path": str(broken)}])
    run = stash.run({"mode": "identify_scene", "scene_id": ids["Broken"], "frames": FRAMES})
    assert run.error.startswith(f"Scene {ids['Broken']}: cannot read its video:"), run.error
    assert "broken.mp4" in run.error and "Traceback" not in run.error


def test_unreadable_path_falls_back_to_the_stream_with_the_cookie(stash, scene):
    """A path the plugin cannot open -> Stash's /scene/{id}/stream with the session cookie (Range seeks)."""
    from stash_sense.engine.video import sample_frames
    from stash_sense.library.scene_source import video_source
    from stash_sense.stash.client import StashClient

    client = StashClient.from_plugin_input(stash.server.server_connection())
    found = client.find_scene(scene)
    assert video_source(client, found) == (found["files"][0]["path"], None)
    found["files"][0]["path"] = "/elsewhere/not/mounted.mp4"
    url, headers = video_source(client, found)
    assert url == f"{client.base_url}/scene/{scene}/stream" and list(headers) == ["Cookie"]
    assert stash.server.sessions.valid(headers["Cookie"].removeprefix("session="))  # the newest cookie
    sampling = sample_frames(url, 4, headers=headers)
    assert len(sampling.frames) == 4 and sampling.info.duration == pytest.approx(10.0, abs=0.3)


def test_bulk_scenes_task_adds_resumes_and_survives_a_broken_video(stash, scene):
    """"Identify scenes": the two people go onto their scene, a broken video is that scene's error
    and the run goes on; a re-run skips everything; a forced one reads every frame from the cache."""
    broken = stash.tmp / "broken.webm"
    broken.write_bytes(b"\x1aE\xdf\xa3" + b"\x00garbage" * 300)
    ids = seed_scenes(stash.server.db_path, [{"title": "Broken", "path": str(broken)}])
    stash.configure({"sceneFrames": FRAMES, "sceneMarkers": True})
    env = {"STASH_SENSE_WORKER": "0"}
    run = stash.run({"mode": "identify_scenes"}, env=env)
    first = run.output
    assert scene_state(stash, scene)["performers"] == sorted([USER_PERFORMER, BLAIR, POWELL])
    markers = {m["title"]: m["seconds"] for m in scene_state(stash, scene)["markers"]}
    assert set(markers) == {BLAIR, POWELL}
    assert all(abs(markers[name] - TRUTH[name][0][0]) <= 1.0 for name in markers), markers
    assert first["scenes"] == 2 and first["processed"] == 1 and first["failed_scenes"] == [ids["Broken"]]
    assert first["added"] == 2 and first["markers"] == 2 and first["inferred"] == FRAMES + 1
    errors = [line for line in run.logs("e") if f"Scene {ids['Broken']}" in line]
    assert errors and "broken.webm" in errors[0], run.logs("e")

    again = stash.run({"mode": "identify_scenes"}, env=env).output
    assert again["skipped"] == 1 and again["processed"] == 0 and again["inferred"] == 0  # the broken one is retried
    forced = stash.run({"mode": "identify_scenes", "force": "true"}, env=env).output
    assert forced["processed"] == 1 and forced["inferred"] == 0 and forced["cached"] == FRAMES + 1
    assert forced["added"] == 0 and len(scene_state(stash, scene)["markers"]) == 2  # nothing written twice

    undone = stash.run({"mode": "undo_last_run", "run_kind": "identify_scenes"}).output
    assert undone["run_id"] == first["journal_run_id"]
    assert scene_state(stash, scene) == {"performers": [USER_PERFORMER], "tags": [], "markers": []}
