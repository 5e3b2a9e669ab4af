"""A scene's frames as analysed images, cached per (video fingerprint, frame time).

The embedding cache (``cache.EmbeddingCache``) stores analysed images under any string key; a
scene uses three kinds, all derived from the video file's key (``cache.file_key``: oshash, md5 or
phash, which follow the bytes through renames):

- ``frame:<file key>@<time>``: one sampled frame's analysed faces;
- ``sampling:<file key>:<frames>``: which times a sampling of that many frames landed on (keyframe
  snapping makes them depend on the file), plus the video's probe, so a re-run knows the frame
  keys without opening the video at all;
- ``shot:<file key>``: the scene's screenshot.

A fully cached scene therefore costs no decoding and no inference. Frames go to the engine as
lossless PNG bytes (the worker takes bytes or paths), so results equal the in-process operation's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stash_sense.jobs.cache import EmbeddingCache, file_key

SCREENSHOT = "screenshot"  # the name engine.scenes gives the screenshot too


@dataclass
class SceneFrames:
    """What identification of one scene needs: analysed images named by frame time, and timing."""

    results: list[dict] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # every sampled time (seen or not)
    video: dict = field(default_factory=dict)  # engine.video.VideoInfo.to_dict()
    failed: list[float] = field(default_factory=list)
    inferred: int = 0  # images that went through the engine
    cached: int = 0


def frame_name(time: float) -> str:
    """``engine.scenes.frame_name`` (not imported: the light side has no numpy)."""
    return f"{time:.3f}s"


def scene_frames(service: Any, cache: EmbeddingCache, scene: dict, source: str, headers: dict | None,
                 frames: int, screenshot: bytes | None) -> SceneFrames:
    """From the cache when this file was sampled with this many frames before, else decode + infer.

    Raises ``engine.video.VideoError`` when the video cannot be sampled.
    """
    key = file_key(scene)
    out = _cached(cache, key, frames, screenshot is not None) if key else None
    if out is not None:
        return out
    return _analyse(service, cache, key, scene, source, headers, frames, screenshot)


def _cached(cache: EmbeddingCache, key: str, frames: int, with_shot: bool) -> SceneFrames | None:
    sampling = cache.get_many([f"sampling:{key}:{frames}"]).get(f"sampling:{key}:{frames}")
    if sampling is None:
        return None
    keys = {f"frame:{key}@{t:.3f}": t for t in sampling["times"]}
    shot_key = f"shot:{key}"
    found = cache.get_many([*keys, shot_key] if with_shot else keys)
    if any(k not in found for k in keys) or (with_shot and shot_key not in found):
        return None
    results = [{**found[k], "image": frame_name(t)} for k, t in keys.items()]
    if with_shot:
        results.append({**found[shot_key], "image": SCREENSHOT})
    return SceneFrames(results, list(sampling["times"]), sampling["video"], sampling.get("failed") or [],
                       cached=len(results))


def _analyse(service: Any, cache: EmbeddingCache, key: str | None, scene: dict, source: str,
             headers: dict | None, frames: int, screenshot: bytes | None) -> SceneFrames:
    duration = (scene.get("files") or [{}])[0].get("duration")
    if getattr(service, "remote", False):  # the engine samples Stash's stream itself
        done = service.analyze_video(source, headers, frames, duration, screenshot)
        results, times, video, failed = done["results"], done["times"], done["video"], done["failed"]
    else:
        results, times, video, failed = _analyse_here(service, source, headers, frames, duration, screenshot)
    if key:
        entries = {f"frame:{key}@{t:.3f}": r for t, r in zip(times, results)}
        if screenshot:
            entries[f"shot:{key}"] = results[-1]
        entries[f"sampling:{key}:{frames}"] = {"times": [round(t, 3) for t in times], "video": video,
                                               "failed": failed}
        cache.put_many(entries)
    return SceneFrames(results, times, video, failed, inferred=len(results))


def _analyse_here(service: Any, source: str, headers: dict | None, frames: int, duration: float | None,
                  screenshot: bytes | None) -> tuple[list[dict], list[float], dict, list[float]]:
    """Decode the frames in this process and send them to the engine as lossless PNG."""
    import cv2

    from stash_sense.engine.video import sample_frames

    sampling = sample_frames(source, frames, headers=headers, duration=duration)
    by_name = {frame_name(f.time): f for f in sampling.frames}
    items = [(name, _png(cv2, f.image)) for name, f in by_name.items()]
    if screenshot:
        items.append((SCREENSHOT, screenshot))
    analysed = service.analyze(items, scene=True)
    results = [{**r, "image": name} for (name, _), r in zip(items, analysed)]
    return results, [f.time for f in by_name.values()], sampling.info.to_dict(), list(sampling.failed)


def _png(cv2: Any, rgb) -> bytes:
    """Lossless bytes of an RGB frame (fast compression: these live for one call)."""
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return data.tobytes()
