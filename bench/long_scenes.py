"""Long scenes (20-40 minutes, 1080p H.264 and 4K HEVC) with a known truth, at a sane encode cost.

A long scene is a timeline of equal segments; each segment shows one *state* (who is on screen,
each person in a fixed slot, their photos changing every ``SHOT_SECONDS``) over a slowly panning
background. Every distinct state is rendered from real LFW photos and encoded once by Debian's
``ffmpeg`` (``scene_videos.encode_scene``); the scene is the segments joined by stream copy
(``scene_videos.concat_videos``). So a 40-minute scene costs the encode of its 3-4 states, not of
40 minutes, while a player still seeks and decodes a 40-minute file: every segment starts with a
keyframe and lasts 250 frames at 24 fps, the encoders' default keyint (x264, x265: 250), so the
file has a keyframe every 250 frames (10.4 s) as an x264 file with default settings does.

What is *not* like a filmed scene: segments repeat (the same frames are decoded again where a
state recurs), and the picture is a pan over stills rather than filmed motion, so the bitrate is
lower than a real scene's (reported per file as ``bitrate_mbps``) and decoding somewhat cheaper.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.scene_videos import Appearance, Encoding, SceneSpec, concat_videos, encode_scene

SHOT_SECONDS = 4.0
FPS = 24
SEGMENT_SECONDS = 250 / FPS  # one segment = one GOP of the encoders' default keyint (250 frames)


@dataclass(frozen=True)
class LongScene:
    """A long scene's plan: ``timeline[i]`` is the set of people (indices) on screen in segment i."""

    tag: str  # e.g. "1920x1080-h264"
    size: tuple[int, int]
    segment_seconds: float
    encoding: Encoding
    people: tuple[str, ...]
    timeline: tuple[frozenset[int], ...]
    photos: tuple[tuple[Path, ...], ...]  # per person: photos shown in the video (not enrolled)
    seed: int = 0

    @property
    def duration(self) -> float:
        return self.segment_seconds * len(self.timeline)

    def truth(self) -> dict[str, list[tuple[float, float]]]:
        """Each person's on-screen ranges (consecutive segments joined)."""
        ranges: dict[str, list[tuple[float, float]]] = {}
        for index, on_screen in enumerate(self.timeline):
            start, end = index * self.segment_seconds, (index + 1) * self.segment_seconds
            for person in on_screen:
                spans = ranges.setdefault(self.people[person], [])
                if spans and abs(spans[-1][1] - start) < 1e-6:
                    spans[-1] = (spans[-1][0], end)
                else:
                    spans.append((start, end))
        return ranges

    def segment_spec(self, state: frozenset[int]) -> SceneSpec:
        appearances = [Appearance(self.people[p], 0.0, self.segment_seconds, list(self.photos[p]), slot=p)
                       for p in sorted(state)]
        return SceneSpec(size=self.size, duration=self.segment_seconds, fps=FPS, appearances=appearances,
                         slots=max(3, len(self.people)), shot_seconds=SHOT_SECONDS, face_fraction=0.35,
                         seed=self.seed)


def plan(index: int, tag: str, size: tuple[int, int], minutes: float, encoding: Encoding, pool: list[str],
         photos_of) -> LongScene:
    """2-3 people taking turns on screen, each in 1-2 stretches of 8-20% of the scene, with gaps
    of nobody between, and the last 10-15% with nobody (credits). Deterministic in ``index``.
    One person at a time keeps the distinct states (and so the encoding) to 3-4 per scene."""
    rng = np.random.default_rng(5000 + index)
    segments = int(round(minutes * 60 / SEGMENT_SECONDS))
    people = [pool[i] for i in rng.choice(len(pool), size=int(rng.integers(2, 4)), replace=False)]
    stretches = [p for p in range(len(people)) for _ in range(int(rng.integers(1, 3)))]
    stretches = [int(p) for p in rng.permutation(stretches)]
    timeline: list[frozenset[int]] = []
    end = int(segments * rng.uniform(0.85, 0.9))
    for person in stretches:
        gap = int(segments * rng.uniform(0.02, 0.08))
        length = max(2, int(segments * rng.uniform(0.08, 0.2)))
        timeline += [frozenset()] * gap + [frozenset({person})] * length
    timeline = timeline[:end] + [frozenset()] * (segments - min(end, len(timeline)))
    return LongScene(tag, size, SEGMENT_SECONDS, encoding, tuple(people), tuple(timeline[:segments]),
                     tuple(tuple(photos_of(name)) for name in people), seed=index)


def build(scene: LongScene, cache: Path) -> Path:
    """The scene's file under ``cache`` (encoded states and the joined scene are both cached)."""
    key = hashlib.sha1(repr(scene).encode()).hexdigest()[:12]
    path = cache / f"long-{scene.tag}-{key}.mp4"
    if path.exists():
        return path
    parts = {state: _segment(scene, state, cache) for state in sorted(set(scene.timeline), key=sorted)}
    tmp = path.with_suffix(f".{os.getpid()}.tmp.mp4")
    concat_videos([parts[state] for state in scene.timeline], tmp).rename(path)
    return path


def _segment(scene: LongScene, state: frozenset[int], cache: Path) -> Path:
    spec = scene.segment_spec(state)
    key = hashlib.sha1(repr((spec, scene.encoding)).encode()).hexdigest()[:12]
    path = cache / "segments" / f"{scene.tag}-{key}.mp4"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp.mp4")
        encode_scene(spec, tmp, scene.encoding).rename(path)
    return path


def file_facts(path: Path) -> dict:
    """Codec, size, frames, keyframe spacing and bitrate of an encoded scene (ffprobe)."""
    def probe(*args: str) -> str:
        return subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", *args, str(path)],
                              check=True, capture_output=True, text=True).stdout

    codec, width, height, rate, duration = probe(
        "-show_entries", "stream=codec_name,width,height,avg_frame_rate:format=duration",
        "-of", "default=nw=1:nk=1").split()
    flags = probe("-show_entries", "packet=flags", "-of", "csv=p=0").split()
    keys = [i for i, f in enumerate(flags) if f.startswith("K")]
    gaps = np.diff(keys) if len(keys) > 1 else np.array([len(flags)])
    num, den = map(int, rate.split("/"))
    return {"codec": codec, "width": int(width), "height": int(height), "fps": round(num / den, 3),
            "duration_s": round(float(duration), 1), "frames": len(flags), "keyframes": len(keys),
            "keyframe_interval_frames_median": int(np.median(gaps)), "keyframe_interval_frames_max": int(gaps.max()),
            "bitrate_mbps": round(path.stat().st_size * 8 / float(duration) / 1e6, 2)}
