"""What only a remote engine does for the plugin: the work that needs pixels the plugin's light
side cannot decode (no numpy, OpenCV or Pillow there).

- ``analyze_video``: sample a scene's video from Stash's stream (the engine fetches it with the
  plugin's session headers; FFmpeg's Range requests move only the sampled stretches) and analyse
  the frames exactly as the plugin would (lossless PNG per frame through ``Backend.analyze``);
- ``frame_crops``: the face crops of a scene's persons, from one decoded frame each;
- ``add_crops``: the best face's crop of each identified person, from the images of the request.
"""

from __future__ import annotations

from typing import Any

from stash_sense.engine.crops import crop_rgb, face_crop
from stash_sense.service.backend import Backend

SCREENSHOT = "screenshot"  # engine.scenes.SCREENSHOT; the plugin names the screenshot this too


def frame_name(time: float) -> str:
    from stash_sense.engine.scenes import frame_name as name

    return name(time)


def analyze_video(backend: Backend, request: dict, screenshot: bytes | None) -> dict:
    """``{"results", "times", "video", "failed"}`` for ``request`` = source, headers, frames, duration."""
    import cv2

    from stash_sense.engine.video import sample_frames

    sampling = sample_frames(str(request["source"]), int(request["frames"]), headers=request.get("headers"),
                             duration=request.get("duration"))
    by_name = {frame_name(f.time): f for f in sampling.frames}
    items: list[tuple[str, bytes | str]] = [(name, _png(cv2, f.image)) for name, f in by_name.items()]
    if screenshot:
        items.append((SCREENSHOT, screenshot))
    analysed = backend.analyze(items, scene=True)
    return {"results": [{**r, "image": name} for (name, _), r in zip(items, analysed)],
            "times": [f.time for f in by_name.values()], "video": sampling.info.to_dict(),
            "failed": list(sampling.failed)}


def frame_crops(request: dict) -> list[str | None]:
    """One crop per ``{"time", "box"}`` of ``request["crops"]`` (None where the frame cannot be read)."""
    from stash_sense.engine.video import VideoError, read_frames
    from stash_sense.engine.video_frames import VideoInfo

    info = VideoInfo(**request["video"])
    out: list[str | None] = []
    for wanted in request["crops"]:
        box, time = wanted.get("box"), wanted.get("time")
        if not box or time is None:
            out.append(None)
            continue
        try:
            frames, _ = read_frames(str(request["source"]), [float(time)], info, request.get("headers"),
                                    workers=1, snap=False)
        except VideoError:
            out.append(None)
            continue
        frame = frames[0]
        out.append(crop_rgb(frame.image, [v * frame.scale for v in box[:4]]))
    return out


def add_crops(group: dict, items: list[tuple[str, Any]]) -> dict:
    """Each person's ``best_face["crop"]`` from the request's own images (key always present)."""
    sources = dict(items)
    for person in group.get("persons") or []:
        best = person.get("best_face") or {}
        best["crop"] = face_crop(sources.get(str(best.get("image"))), best.get("box"))
    return group


def image_crops(items: list[tuple[str, Any]], boxes: list) -> list[str | None]:
    """A crop of each image at its box (review suggestions of the bulk task)."""
    return [face_crop(source, box) for (_, source), box in zip(items, boxes)]


def _png(cv2: Any, rgb) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return data.tobytes()


def engine_facts(backend: Backend) -> dict:
    """What the plugin asks of a remote engine instead of reading it from its own disk: performer
    counts of the loaded databases, the pack description that keys the embedding cache, providers."""
    from dataclasses import asdict

    from stash_sense.service.wire import to_plain

    identifier = backend.refresh()
    pack = backend.engine.pack
    return to_plain({
        "performers": sum(len(db.performers) for db in identifier.databases),
        "database_versions": [str(db.version) for db in identifier.databases],
        "pack_description": {"signature": pack.signature(), "detector": asdict(pack.detector)},
        "calibration": {"auto": identifier.calibration.auto_threshold,
                        "review": identifier.calibration.review_threshold},
    })
