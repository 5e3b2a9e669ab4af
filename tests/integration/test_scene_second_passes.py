"""Scenes pay the detector's second passes only where they can find someone (issue 17.4).

The second passes (own-size canvas, photo turned +-45 degrees) run on images where the first pass
found no face and cost several first passes each; a scene's stretches with nobody on screen used to
pay them on every frame. Real LFW faces in videos written by bench/scene_videos.py: an MPEG-4 clip
with a long empty stretch, and an H.264 clip encoded by Debian's ffmpeg (x264, default keyint)
whose faces are too small for the first pass.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import LFW
from scene_env import lfw_identifier

from bench.scene_videos import Appearance, Encoding, SceneSpec, encode_scene, range_iou, write_scene
from stash_sense.engine.detector import ROTATIONS
from stash_sense.engine.scenes import PROBE_EVERY, PROBE_MIN, identify_scene
from stash_sense.engine.video import probe, read_frames

A, B = "Colin_Powell", "Tony_Blair"
DISTRACTORS = ["Donald_Rumsfeld", "Gerhard_Schroeder", "Hugo_Chavez", "Laura_Bush", "Serena_Williams"]
FRAMES = 20


def photos(name: str) -> list:
    return sorted((LFW / name).glob("*.jpg"))


@pytest.fixture(scope="module")
def identifier(engine, tmp_path_factory):
    """Database from photos 0-2 of A and B (the videos use photos 4-7) and of the distractors."""
    return lfw_identifier(engine, [A, B, *DISTRACTORS], tmp_path_factory.mktemp("scene-passes") / "db")


def turned_passes(engine, monkeypatch) -> list[float]:
    """Spy (not a stand-in: the real detector runs): the angles of the turned second passes."""
    angles: list[float] = []
    original = engine.detector._detect_rotated

    def spy(image, angle):
        angles.append(angle)
        return original(image, angle)

    monkeypatch.setattr(engine.detector, "_detect_rotated", spy)
    return angles


def named(result) -> dict[str, list]:
    return {p["identified"]["id"].removeprefix("local:"): p["time_ranges"] for p in result.to_dict()["persons"]
            if p["identified"] and p["identified"]["band"] != "low"}


def test_an_empty_stretch_pays_the_second_passes_only_on_a_probe(identifier, tmp_path, monkeypatch):
    """A 0-4 s, B 3-8 s, nobody 8-20 s: about 11 of 20 frames are faceless. The turned passes run on
    a probe of them (one in PROBE_EVERY, at least PROBE_MIN; before: on every one), and the persons
    are the same."""
    spec = SceneSpec(size=(640, 360), duration=20.0, fps=5, appearances=[
        Appearance(A, 0, 4, photos(A)[4:8], slot=0), Appearance(B, 3, 8, photos(B)[4:8], slot=1)])
    video = write_scene(spec, tmp_path / "empty_stretch.mp4")
    angles = turned_passes(identifier.engine, monkeypatch)
    result = identify_scene(identifier, video, frames=FRAMES)
    faceless = [r for r in result.group.images if not r.usable_faces]
    assert len(faceless) >= 8
    probe = max(PROBE_MIN, -(-len(faceless) // PROBE_EVERY))  # before: every faceless frame
    assert len([a for a in angles if a in ROTATIONS]) == len(ROTATIONS) * probe < len(ROTATIONS) * len(faceless)
    found = named(result)
    assert set(found) == {A, B}, found
    for name, ranges in spec.truth().items():
        assert range_iou(found[name], ranges) >= 0.8, (name, found[name], ranges)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs Debian's ffmpeg (.ci/run installs it)")
def test_small_faces_in_an_h264_scene_are_all_found_after_the_probe(identifier, tmp_path):
    """Faces ~25 px in a 1280x720 H.264 frame (12 px on the first pass's 640 canvas: not found
    there). The probe finds them at the frame's own size, so every faceless frame gets the second
    passes: the person is found over the whole stretch, and sampling an x264 file (keyframe every
    250 frames) lands each frame within half a sample spacing of its target."""
    spec = SceneSpec(size=(1280, 720), duration=12.0, fps=25, appearances=[
        Appearance(A, 0, 8, photos(A)[4:8], slot=1)], slots=3, shot_seconds=2.0, face_fraction=0.08)
    video = encode_scene(spec, tmp_path / "small_faces.mp4", Encoding("libx264", "superfast"))
    first_pass = next(identifier.engine.analyze_iter([_frame(video, 2.0)], search_faceless=False))
    assert not first_pass.usable_faces  # the first pass alone misses them
    result = identify_scene(identifier, video, frames=FRAMES)
    spacing = result.sampling.interval
    assert all(abs(f.time - f.target) <= spacing / 2 + 0.05 for f in result.sampling.frames)
    found = named(result)
    assert set(found) == {A}, found
    assert range_iou(found[A], spec.truth()[A]) >= 0.8, found[A]


def _frame(video, time: float):
    frames, _ = read_frames(video, [time], probe(video), snap=False)
    return frames[0].image
