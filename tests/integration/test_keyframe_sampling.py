"""Keyframe-only sampling of long scenes (engine/keyframes.py, PyAV) on a real x264 file.

The clip: 100 s of 640x360 H.264 from Debian's ffmpeg (x264 defaults: keyint 250 = 10 s at
25 fps, plus scene-cut keyframes), Colin Powell on screen for the first half, Tony Blair for the
second. 8 samples are 12.9 s apart, more than the GOP: each frame must be the keyframe nearest
its target (listed independently by ffprobe), show what the video shows there, and reach the
analysis the same way from a rotated file and from a stream URL behind a cookie. Without PyAV,
or when it fails, OpenCV samples the scene as before.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import av
import numpy as np
import pytest
from conftest import LFW
from scene_env import COOKIE, serve_behind_cookie

from bench.scene_videos import Appearance, Encoding, SceneSpec, encode_scene
from stash_sense.engine import keyframes
from stash_sense.engine.builder import build_database
from stash_sense.engine.database import load_database
from stash_sense.engine.identify import Identifier
from stash_sense.engine.scenes import identify_scene
from stash_sense.engine.video import VideoError, probe, read_frames, sample_frames

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs Debian's ffmpeg (.ci/run installs it)")

A, B = "Colin_Powell", "Tony_Blair"
DISTRACTORS = ["Donald_Rumsfeld", "Gerhard_Schroeder", "Hugo_Chavez", "Junichiro_Koizumi"]
FRAMES = 8
HALF = 50.0  # A before, B after


def photos(name: str) -> list:
    return sorted((LFW / name).glob("*.jpg"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    spec = SceneSpec(size=(640, 360), duration=2 * HALF, fps=25, shot_seconds=20.0, appearances=[
        Appearance(A, 0, HALF, photos(A)[4:8], slot=0), Appearance(B, HALF, 2 * HALF, photos(B)[4:8], slot=1)])
    return encode_scene(spec, tmp_path_factory.mktemp("keyframes") / "long.mp4", Encoding("libx264", "superfast"))


@pytest.fixture(scope="module")
def identifier(engine, tmp_path_factory):
    identities = {f"local:{name}": photos(name)[:3] for name in [A, B, *DISTRACTORS]}
    folder = tmp_path_factory.mktemp("keyframes-db") / "db"
    build_database(engine, identities, {}, folder)
    return Identifier(engine, [load_database(folder, engine.pack)])


def keyframe_times(path) -> list[float]:
    """Keyframe presentation times as ffprobe lists them, relative to the stream start."""
    def probe_csv(entries: str, *extra: str) -> list[float]:
        out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", *extra, "-show_entries",
                              entries, "-of", "csv=p=0", str(path)], check=True, capture_output=True, text=True)
        return [float(line.strip(",")) for line in out.stdout.split() if line.strip(",")]
    start = probe_csv("stream=start_time")[0]
    return [t - start for t in probe_csv("frame=pts_time", "-skip_frame", "nokey")]


def assert_keyframes_near_targets(sampling, keys: list[float]) -> None:
    spacing = (sampling.frames[-1].target - sampling.frames[0].target) / (len(sampling.frames) - 1)
    assert len(sampling.frames) == FRAMES and not sampling.failed
    for frame in sampling.frames:
        assert min(abs(frame.time - k) for k in keys) < 1e-3, (frame.time, keys)  # a keyframe, not 17 frames on
        assert abs(frame.time - frame.target) <= spacing / 2 + 1e-3
        nearest = min(keys, key=lambda k: abs(k - frame.target))
        assert abs(frame.time - nearest) < 1e-3 or frame.time > nearest  # nearest, or the next after a taken one


def assert_same_picture(sampling, path, max_side: int = 1280, tolerance: float = 2.0) -> None:
    """Each frame is the picture at its reported time, as OpenCV decodes (and scales) it there:
    a mean difference of ``tolerance`` levels (colour conversion, scaling filter); another
    picture differs by tens."""
    times = [f.time for f in sampling.frames]
    reference, _ = read_frames(path, times, probe(path), max_side=max_side, snap=False, workers=1)
    assert [round(f.time, 3) for f in reference] == [round(t, 3) for t in times]
    for got, want in zip(sampling.frames, reference):
        assert got.image.shape == want.image.shape and got.scale == want.scale
        assert np.abs(got.image.astype(int) - want.image.astype(int)).mean() < tolerance, got.time


def test_long_scene_frames_are_the_keyframes_nearest_the_targets(clip):
    keys = keyframe_times(clip)
    sampling = sample_frames(clip, FRAMES)
    assert_keyframes_near_targets(sampling, keys)
    assert_same_picture(sampling, clip)


def test_large_keyframes_are_downscaled_like_opencv_frames(clip):
    """``max_side`` as for 4K: the same size and scale (face boxes map back to video pixels), and
    the same picture up to the scaling filter (swscale's against OpenCV's INTER_AREA)."""
    sampling = sample_frames(clip, FRAMES, max_side=320)
    assert sampling.frames[0].image.shape == (180, 320, 3) and sampling.frames[0].scale == 0.5
    assert_same_picture(sampling, clip, max_side=320, tolerance=4.0)


def test_long_scene_from_keyframes_names_who_is_on_screen_when(identifier, clip):
    persons = identify_scene(identifier, clip, frames=FRAMES).to_dict()["persons"]
    named = {p["identified"]["id"].removeprefix("local:"): p["time_ranges"] for p in persons
             if p["identified"] and p["identified"]["band"] != "low"}
    assert set(named) == {A, B} and len(persons) == 2, persons
    assert all(end <= HALF + 1 for _, end in named[A]), named[A]
    assert all(start >= HALF - 1 for start, _ in named[B]), named[B]


def test_rotated_long_scene_keyframes_are_upright(clip, tmp_path):
    """A phone-style display matrix (ffmpeg 5's ``rotate`` tag, stream copy): frames come upright, as
    OpenCV turns them."""
    turned = tmp_path / "turned.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-c", "copy", "-metadata:s:v:0", "rotate=90",
                    str(turned)], check=True)
    sampling = sample_frames(turned, FRAMES)
    assert sampling.info.rotation in (90, 270) and sampling.frames[0].image.shape == (640, 360, 3)
    assert_keyframes_near_targets(sampling, keyframe_times(clip))
    assert_same_picture(sampling, turned)


def test_stream_url_with_cookie_samples_keyframes(clip, httpserver):
    url = serve_behind_cookie(httpserver, "/scene/9/stream", clip.read_bytes())
    assert_keyframes_near_targets(sample_frames(url, FRAMES, headers={"Cookie": COOKIE}), keyframe_times(clip))
    with pytest.raises(VideoError) as refused:
        sample_frames(url, FRAMES, headers={"Cookie": "session=wrong"})
    assert "SECRET" not in str(refused.value)


def test_without_pyav_or_when_it_fails_opencv_samples_the_scene(clip, monkeypatch, caplog):
    keys = keyframe_times(clip)

    def broken(*args, **kwargs):
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    for breakage in ("missing", "failing"):
        with monkeypatch.context() as patch:
            if breakage == "missing":
                patch.setitem(sys.modules, "stash_sense.engine.keyframes", None)  # import fails
            else:
                patch.setattr(keyframes, "read_keyframes", broken)
            sampling = sample_frames(clip, FRAMES)
        assert len(sampling.frames) == FRAMES and not sampling.failed, breakage
        assert any(min(abs(f.time - k) for k in keys) > 0.1 for f in sampling.frames), breakage  # OpenCV's landings
    assert "keyframe sampling failed" in caplog.text
