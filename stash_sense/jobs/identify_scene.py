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

from stash_sense.jobs.identify_target import describe_persons, keep_suggestions, suggestable
from stash_sense.library import images
from stash_sense.library.journal import Journal
from stash_sense.library.performers import PerformerResolver
from stash_sense.library.scene_source import frame_crop, primary_file, screenshot, video_source
from stash_sense.service import access as engine_access
from stash_sense.settings import Settings
from stash_sense.stash.client import StashClient, StashNotFound

log = logging.getLogger(__name__)


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
            "database": version, "video": out["video"], "sampling": out["sampling"]}


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
