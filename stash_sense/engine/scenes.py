"""A scene: sampled frames (and its screenshot) -> persons, when each appears, their best face.

Frames go through ``Identifier`` like a gallery's images, so clustering across frames, matching
and calibrated confidence are the gallery's. What a scene adds is time: each frame is named by
its actual timestamp, and a person's frames become time ranges.

A range joins sampled frames where the person was seen when they are at most ``GAP_TOLERANCE``
samples apart (so consecutive samples join; a missed sample splits), and is widened to the
midpoints towards the neighbouring samples: the person's real entry/exit lies somewhere between
the last sample without and the first sample with them, and the middle is the unbiased guess. For
a player, seeking to a range's start thus lands just before the first frame they were seen in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from stash_sense.engine.identify import GroupResult, Identifier
from stash_sense.engine.persons import Person, QueryFace
from stash_sense.engine.pipeline import Engine, ImageResult
from stash_sense.engine.timeline import GAP_TOLERANCE, time_ranges  # noqa: F401 (re-exported)
from stash_sense.engine.video import DEFAULT_FRAMES, DEFAULT_MAX_SIDE, Sampling, sample_frames
from stash_sense.engine.video_frames import Frame, VideoSource

SCREENSHOT = "screenshot"
# Second detector passes on faceless frames: first on one in PROBE_EVERY of them (at least
# PROBE_MIN), on the rest only when that sample found a face (see analyze_frames).
PROBE_EVERY = 4
PROBE_MIN = 3


@dataclass
class ScenePerson:
    person: Person
    time_ranges: list[tuple[float, float]]
    best_face: dict  # {"time": s or None (screenshot), "image": frame name, "box": video pixels}


@dataclass
class SceneResult:
    sampling: Sampling
    group: GroupResult
    persons: list[ScenePerson]  # same order as group.persons
    # wall seconds of "sampling" (seek + decode) and "inference" (detection, embedding, matching), and
    # the CPU seconds of this process meanwhile ("..._cpu": every thread, other work included)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def identified(self) -> list[ScenePerson]:
        """Persons whose performer reaches the auto-apply threshold."""
        auto = {id(p) for p in self.group.identified}
        return [p for p in self.persons if id(p.person) in auto]

    def to_dict(self) -> dict:
        """``GroupResult.to_dict()`` plus ``time_ranges`` and a timed ``best_face`` per person."""
        out = self.group.to_dict()
        for entry, scene_person in zip(out["persons"], self.persons):
            entry["time_ranges"] = [[round(a, 3), round(b, 3)] for a, b in scene_person.time_ranges]
            entry["best_face"] = scene_person.best_face
        sampling = self.sampling
        out["video"] = sampling.info.to_dict()
        out["sampling"] = {"requested": sampling.requested, "read": len(sampling.frames),
                           "failed": [round(t, 3) for t in sampling.failed],
                           "interval": round(sampling.interval, 3),
                           "times": [round(f.time, 3) for f in sampling.frames]}
        return out


def identify_scene(identifier: Identifier, video: VideoSource, frames: int = DEFAULT_FRAMES,
                   screenshot: bytes | None = None, headers: Mapping[str, str] | None = None,
                   max_side: int = DEFAULT_MAX_SIDE, duration: float | None = None,
                   progress: Callable[[int], None] | None = None) -> SceneResult:
    """Sample ``frames`` frames of the video and identify the persons in them (plus the screenshot).

    ``headers`` go with a stream URL (``{"Cookie": "session=..."}``); ``duration`` (Stash's
    ``file.duration``) is used when the container does not give one. Raises ``VideoError`` when
    the video cannot be sampled at all; a few undecodable frames are only listed in
    ``sampling.failed``.
    """
    started, started_cpu = time.perf_counter(), time.process_time()
    sampling = sample_frames(video, frames, headers=headers, max_side=max_side, workers=identifier.engine.threads,
                             duration=duration)
    sampled, sampled_cpu = time.perf_counter(), time.process_time()
    by_name: dict[str, Frame] = {}
    for frame in sampling.frames:
        by_name.setdefault(frame_name(frame.time), frame)  # names are unique, so images too
    sources: list = [f.image for f in by_name.values()]
    names = list(by_name)
    if screenshot:
        sources.append(screenshot)
        names.append(SCREENSHOT)
    group = identifier.identify_results(analyze_frames(identifier.engine, sources, names, progress))
    del sources
    sampling.frames = [_without_pixels(f) for f in sampling.frames]  # 60 frames of pixels: let go early
    samples = [f.time for f in by_name.values()]
    persons = [ScenePerson(p, time_ranges(samples, _times(p, by_name), sampling.info.duration),
                           _best_face(p, by_name)) for p in group.persons]
    seconds = {"sampling": round(sampled - started, 3), "inference": round(time.perf_counter() - sampled, 3),
               "sampling_cpu": round(sampled_cpu - started_cpu, 3),
               "inference_cpu": round(time.process_time() - sampled_cpu, 3)}
    return SceneResult(sampling, group, persons, seconds)


def analyze_frames(engine: Engine, sources: list, names: list[str],
                   progress: Callable[[int], None] | None = None) -> list[ImageResult]:
    """Detection and embedding of a scene's frames, with the detector's second passes (own-size
    canvas, turned photo) only where they can pay.

    Those passes run when a first pass finds no face and cost ~8 first passes, so the stretches
    of a scene with nobody on screen (intros, credits, close-ups of anything else) would cost
    more than the frames with people. Frames are analysed with the first pass only; then a spread
    sample of the faceless ones (one in ``PROBE_EVERY``, at least ``PROBE_MIN``) gets the second
    passes, and only when that sample finds a face (the scene has faces the first pass misses:
    small, tilted) do the other faceless frames get them too.
    """
    results = list(engine.analyze_iter(sources, names=names, progress=progress, search_faceless=False))
    if not engine.detector.second_passes:
        return results
    faceless = [i for i, r in enumerate(results) if r.error is None and not r.usable_faces]
    probe = set(spread(faceless, max(PROBE_MIN, -(-len(faceless) // PROBE_EVERY))))
    probe |= {i for i in faceless if names[i] == SCREENSHOT}  # a photo: always looked at fully
    if _second_look(engine, results, sources, names, sorted(probe)):
        _second_look(engine, results, sources, names, [i for i in faceless if i not in probe])
    return results


def spread(items: list[int], count: int) -> list[int]:
    """``count`` of the items evenly spread over the list (all of them when there are fewer)."""
    if len(items) <= count:
        return list(items)
    return [items[round(k * (len(items) - 1) / (count - 1))] for k in range(count)] if count > 1 else items[:1]


def _second_look(engine: Engine, results: list[ImageResult], sources: list, names: list[str],
                 indices: list[int]) -> bool:
    """Analyse these images again with the second passes; True when any of them now has a face."""
    if not indices:
        return False
    again = list(engine.analyze_iter([sources[i] for i in indices], names=[names[i] for i in indices],
                                     search_faceless=True))
    for index, result in zip(indices, again):
        results[index] = result
    return any(r.usable_faces for r in again)


def frame_name(time: float) -> str:
    """A frame's image name: its timestamp, unique within a scene and readable in results."""
    return f"{time:.3f}s"


def _times(person: Person, by_name: dict[str, Frame]) -> list[float]:
    return [by_name[face.image].time for face in person.faces if face.image in by_name]


def _best_face(person: Person, by_name: dict[str, Frame]) -> dict:
    """The sharpest face from a frame (the screenshot only when the person is nowhere else),
    with its box in video pixels so a caller can cut it from the full-resolution frame."""
    timed = [f for f in person.faces if f.image in by_name]
    face: QueryFace = max(timed or person.faces, key=lambda f: f.quality)
    frame = by_name.get(face.image)
    scale = frame.scale if frame else 1.0
    box = [round(v / scale, 1) for v in face.box] if face.box else None
    return {"time": round(frame.time, 3) if frame else None, "image": face.image, "box": box,
            "quality": round(float(face.quality), 3)}


def _without_pixels(frame: Frame) -> Frame:
    return Frame(frame.time, frame.target, np.zeros((0, 0, 3), np.uint8), frame.scale)
