"""The identify_scene operation: a scene's sampled frames -> persons with time ranges (UI contract).

Same output as ``identify_gallery`` (``target, persons[], thresholds, errors, database``; persons
with ``candidates``), so the modal, apply and reject work unchanged. What a scene adds per person:
``time_ranges`` (``[[start_s, end_s], ...]``, where the person is on screen), ``best_time`` (the
frame of the crop) and ``frame_times``; ``image_ids`` stays empty (frames are not Stash images).
Stored suggestions keep the time ranges, so applying later can place a marker at the first
appearance without analysing the video again.
"""

from __future__ import annotations

import logging
import time

from stash_sense.jobs.identify_target import describe_persons, engine_line, keep_suggestions, suggestable
from stash_sense.library import images
from stash_sense.library.journal import Journal
from stash_sense.library.performers import PerformerResolver
from stash_sense.library.scene_source import frame_crop, primary_file, screenshot, video_source
from stash_sense.service import access as engine_access
from stash_sense.settings import Settings
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashNotFound

log = logging.getLogger(__name__)
SCREENSHOT_NAME = "screenshot"  # engine.scenes.SCREENSHOT (not imported: no numpy on the light side)


def load_scene(client: StashClient, scene_id: str) -> dict:
    scene = client.find_scene(scene_id)
    if scene is None:
        raise StashNotFound(f"Stash has no scene with id {scene_id}")
    return scene


def identify_scene_target(client: StashClient, settings: Settings, journal: Journal, scene_id: str,
                          frames: int | None = None) -> dict:
    """Sample the scene's video (plus its screenshot), identify persons, store suggestions.

    Raises ``engine.video.VideoError`` when the video cannot be sampled at all (broken file,
    audio only, unreachable stream); the caller turns it into a per-scene message.
    """
    if engine_access.is_remote():
        return _identify_remote(client, settings, journal, str(scene_id), frames)
    from stash_sense.engine.scenes import SCREENSHOT, identify_scene

    started = time.monotonic()
    identifier = engine_access.identifier_for(settings)  # first: no database -> clear error, no decoding
    scene = load_scene(client, str(scene_id))
    video, headers = video_source(client, scene)
    shot = screenshot(client, scene)
    count = frames or settings.scene_frames
    log.info(f"Stash Sense: sampling {count} frames of scene {scene_id}"
             + (" over Stash's stream" if headers is not None else ""))
    result = identify_scene(identifier, video, frames=count, screenshot=shot, headers=headers,
                            duration=primary_file(scene).get("duration"))
    thresholds = settings.thresholds({"auto": identifier.calibration.auto_threshold,
                                      "review": identifier.calibration.review_threshold})
    on_target = {str(p["id"]) for p in scene.get("performers") or []}
    persons = describe_persons(result.group.persons, thresholds, {}, PerformerResolver(client), on_target,
                               journal.rejected("scene", str(scene_id)))
    for entry, scene_person in zip(persons, result.persons):
        _add_time(entry, scene_person, (video, headers, result.sampling.info), shot, SCREENSHOT)
    version = engine_access.database_info()
    keep_suggestions(journal, "scene", str(scene_id), [suggestable(p) for p in persons if not p["unknown"]],
                     version["version"])
    log.info(f"Stash Sense: {len(persons)} person(s) in scene {scene_id} ({time.monotonic() - started:.1f}s)")
    out = result.to_dict()
    return {"target": {"type": "scene", "id": str(scene_id)}, "persons": persons, "thresholds": thresholds,
            "images": out["sampling"]["read"] + (1 if shot else 0), "faces": out["faces"],
            "errors": out["errors"] + [{"image": f"{t:.3f}s", "error": "frame could not be decoded"}
                                       for t in result.sampling.failed],
            "database": version, "video": out["video"], "sampling": out["sampling"],
            "engine": {"mode": "local", "provider": getattr(identifier.engine, "provider", None)}}


def _add_time(entry: dict, scene_person, video: tuple, shot: bytes | None, screenshot_name: str) -> None:
    """Time ranges, the best frame's time, the frames seen in, and the crop from the best frame."""
    best = scene_person.best_face
    entry["time_ranges"] = [[round(a, 3), round(b, 3)] for a, b in scene_person.time_ranges]
    entry["best_time"] = best.get("time")
    entry["frame_times"] = sorted(float(name[:-1]) for name in scene_person.person.images
                                  if name != screenshot_name)
    entry["image_ids"] = []
    if best.get("image") == screenshot_name:
        entry["crop"] = images.face_crop(shot, best.get("box")) if shot else None
    else:
        path, headers, info = video
        entry["crop"] = frame_crop(path, headers, info, best.get("time"), best.get("box"))


def _identify_remote(client: StashClient, settings: Settings, journal: Journal, scene_id: str,
                     frames: int | None) -> dict:
    """The same answer with a remote engine: it samples Stash's stream itself and makes the crops."""
    from stash_sense.engine.timeline import time_ranges

    started = time.monotonic()
    service = engine_access.service()  # first: unreachable engine or no database -> clear error
    scene = load_scene(client, scene_id)
    video, headers = video_source(client, scene, remote=True)
    shot = screenshot(client, scene)
    count = frames or settings.scene_frames
    log.info(f"Stash Sense: the engine samples {count} frames of scene {scene_id}")
    done = service.analyze_video(video, headers, count, primary_file(scene).get("duration"), shot)  # type: ignore[attr-defined]
    group = service.identify_analyzed(done["results"]) if done["results"] else {"persons": [], "faces": 0}
    by_name = {f"{t:.3f}s": t for t in done["times"]}
    for person in group["persons"]:
        person["best_face"]["crop"] = None  # made below, by the engine
    thresholds = settings.thresholds(group.get("thresholds") or engine_access.calibration_thresholds())
    on_target = {str(p["id"]) for p in scene.get("performers") or []}
    persons = describe_persons(group["persons"], thresholds, {}, PerformerResolver(client), on_target,
                               journal.rejected("scene", scene_id))
    duration = float(done["video"].get("duration") or 0.0)
    for entry, person in zip(persons, group["persons"]):
        seen = [by_name[i] for i in person.get("images") or [] if i in by_name]
        entry["time_ranges"] = [[round(a, 3), round(b, 3)] for a, b in time_ranges(done["times"], seen, duration)]
        best = person["best_face"]
        entry["best_time"] = by_name.get(best.get("image"))
        entry["frame_times"] = sorted(seen)
        entry["image_ids"] = []
    _remote_crops(service, persons, group["persons"], (video, headers, done["video"]), shot)
    version = engine_access.database_info()
    journal.store_suggestions("scene", scene_id, [suggestable(p) for p in persons if not p["unknown"]],
                              version["version"])
    log.info(f"Stash Sense: {len(persons)} person(s) in scene {scene_id} ({time.monotonic() - started:.1f}s)")
    return {"target": {"type": "scene", "id": scene_id}, "persons": persons, "thresholds": thresholds,
            "images": len(done["results"]), "faces": group.get("faces", 0),
            "errors": [{"image": f"{t:.3f}s", "error": "frame could not be decoded"} for t in done["failed"]],
            "database": version, "video": done["video"], "engine": engine_line(service),
            "sampling": {"requested": count, "read": len(done["times"]), "failed": len(done["failed"])}}


def _remote_crops(service, persons: list[dict], found: list[dict], video: tuple, shot: bytes | None) -> None:
    """Crops of the best faces: frames decoded again by the engine, the screenshot sent to it."""
    source, headers, info = video
    in_frames = [(i, p["best_face"]) for i, p in enumerate(found) if p["best_face"].get("image") != SCREENSHOT_NAME]
    if in_frames:
        wanted = [{"time": persons[i]["best_time"], "box": best.get("box")} for i, best in in_frames]
        crops = service.frame_crops(source, headers, info, wanted)
        for (i, _), crop in zip(in_frames, crops):
            persons[i]["crop"] = crop
    on_shot = [(i, p["best_face"]) for i, p in enumerate(found) if p["best_face"].get("image") == SCREENSHOT_NAME]
    if on_shot and shot:
        crops = service.image_crops([(SCREENSHOT_NAME, shot)] * len(on_shot), [best.get("box") for _, best in on_shot])
        for (i, _), crop in zip(on_shot, crops):
            persons[i]["crop"] = crop
