"""Scenes on real faces: videos written with OpenCV from LFW photos, two people at known times.

The reference database holds *other* photos of the same two identities plus distractors. Videos:
constant rate (.mp4 and .webm), rotated by display matrix, variable frame rate, 4K, a 3-frame
clip, a stream URL behind a cookie, and files that are not videos at all.
"""

from __future__ import annotations

import json
import wave

import cv2
import numpy as np
import pytest
from conftest import LFW
from scene_env import COOKIE, lfw_identifier, serve_behind_cookie

from bench.scene_videos import Appearance, SceneSpec, range_iou, render_frame, write_scene
from stash_sense.engine.scenes import SCREENSHOT, identify_scene, time_ranges
from stash_sense.engine.video import VideoError, capture_options, display_name, sample_frames, sample_times

A, B = "Colin_Powell", "Tony_Blair"
DISTRACTORS = ["Donald_Rumsfeld", "Gerhard_Schroeder", "Hugo_Chavez", "Junichiro_Koizumi", "John_Ashcroft",
               "Laura_Bush", "Vladimir_Putin", "Serena_Williams"]
FRAMES = 20  # sampled per scene: keeps the suite quick on a 2-core CI box
MIN_IOU = 0.8


def photos(name: str) -> list:
    return sorted((LFW / name).glob("*.jpg"))


def two_people(**overrides) -> SceneSpec:
    """A from 0-4 s on the left, B from 3-8 s on the right, nobody from 8 to 10 s."""
    appearances = [Appearance(A, 0, 4, photos(A)[4:8], slot=0), Appearance(B, 3, 8, photos(B)[4:8], slot=1)]
    return SceneSpec(**{"size": (640, 360), "duration": 10.0, "fps": 5, "appearances": appearances,
                        **overrides})


@pytest.fixture(scope="module")
def identifier(engine, tmp_path_factory):
    """Database from photos 0-2 of A and B (the videos use photos 4-7) and of the distractors."""
    return lfw_identifier(engine, [A, B, *DISTRACTORS], tmp_path_factory.mktemp("scenes") / "db")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    specs = {"cfr.mp4": two_people(),
             "vp8.webm": two_people(size=(480, 270), fourcc="VP80"),
             "rotated.mp4": two_people(rotation=90),
             # 2 fps for 5 s, then 10 fps: 10 + 50 frames; OpenCV's frame counting would misplace them
             "vfr.mp4": two_people(vfr=[(5.0, 2), (10.0, 10)])}
    return {name: (write_scene(spec, folder / name), spec) for name, spec in specs.items()}


def check_against_truth(result, spec: SceneSpec) -> dict:
    """Each true identity is one person with the right performer and time ranges; no one else."""
    out = result.to_dict()
    truth = spec.truth()
    named = {p["identified"]["id"].removeprefix("local:"): p for p in out["persons"]
             if p["identified"] and p["identified"]["band"] != "low"}
    assert set(named) == set(truth), [(p["identified"], p["time_ranges"]) for p in out["persons"]]
    assert len(out["persons"]) == len(truth)
    for identity, person in named.items():
        iou = range_iou(person["time_ranges"], truth[identity])
        assert iou >= MIN_IOU, (identity, person["time_ranges"], truth[identity])
        assert all(not (8.0 < t < 10.0) for t in [person["best_face"]["time"]])
    return out


def test_sample_times_spread_over_the_middle_90_percent():
    times = sample_times(100.0, 60)
    assert len(times) == 60 and times[0] == pytest.approx(5.0) and times[-1] == pytest.approx(95.0)
    assert np.allclose(np.diff(times), 90 / 59)
    assert len(sample_times(0.12, 60, frame_count=3)) == 3  # a very short clip: fewer frames
    assert sample_times(5.0, 1) == [2.5]


def test_time_ranges_merge_consecutive_samples_and_split_on_a_missed_one():
    samples = [0.5 + i for i in range(10)]  # 0.5, 1.5, ... 9.5
    assert time_ranges(samples, [1.5, 2.5, 3.5, 5.5, 8.5], duration=10) == [(1.0, 4.0), (5.0, 6.0), (8.0, 9.0)]
    assert time_ranges(samples, [0.5, 9.5], duration=9.8) == [(0.0, 1.0), (9.0, 9.8)]  # clipped
    assert time_ranges(samples, [], 10) == []
    # snapped (uneven) samples: consecutive ones join however far apart, edges at the midpoints
    assert time_ranges([1.0, 2.9, 3.1, 5.0], [1.0, 2.9], duration=6) == [(pytest.approx(0.05), 3.0)]


def test_webm_persons_and_time_ranges_match_the_truth(identifier, videos):
    path, spec = videos["vp8.webm"]
    out = check_against_truth(identify_scene(identifier, path, frames=FRAMES), spec)
    assert out["video"]["duration"] == pytest.approx(10.0, abs=0.2)
    assert out["sampling"]["read"] >= FRAMES - 1 and not out["sampling"]["failed"]
    assert json.loads(json.dumps(out)) == out


def test_mp4_persons_time_ranges_and_result_shape(identifier, videos):
    """The gallery's result shape plus time; the screenshot joins the persons of the frames."""
    path, spec = videos["cfr.mp4"]
    screenshot = cv2.imencode(".jpg", render_frame(spec, 1.0))[1].tobytes()  # Stash's: a frame, as JPEG
    result = identify_scene(identifier, path, frames=FRAMES, screenshot=screenshot)
    out = check_against_truth(result, spec)
    gallery_keys = set(result.group.to_dict()["persons"][0])
    for person in out["persons"]:
        assert set(person) == gallery_keys | {"time_ranges"}
        assert {"time", "box"} <= set(person["best_face"])
        assert person["best_face"]["time"] is not None  # a frame is preferred to the screenshot
    person_a = next(p for p in out["persons"] if p["identified"]["id"] == f"local:{A}")
    assert SCREENSHOT in person_a["images"]  # the screenshot's face joined A's frames
    assert set(out) >= {"persons", "images", "faces", "errors", "thresholds", "video", "sampling"}


def test_rotated_video_is_analysed_upright(identifier, videos):
    path, spec = videos["rotated.mp4"]
    stored = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    stored.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    assert stored.read()[1].shape[:2] == (640, 360)  # frames really are stored sideways
    result = identify_scene(identifier, path, frames=FRAMES)
    assert result.sampling.info.rotation == 90
    assert (result.sampling.info.width, result.sampling.info.height) == (640, 360)
    check_against_truth(result, spec)
    faces = [f for image in result.group.images for f in image.usable_faces]
    eyes_above_nose = [f.detection.landmarks[:2, 1].max() < f.detection.landmarks[2, 1] for f in faces]
    assert faces and all(eyes_above_nose)


def test_variable_frame_rate_uses_real_timestamps(identifier, videos):
    path, spec = videos["vfr.mp4"]
    result = identify_scene(identifier, path, frames=FRAMES)
    info = result.sampling.info
    assert info.frame_count == 60 and info.duration == pytest.approx(10.0, abs=0.2)
    real = np.array(spec.frame_times())
    for frame in result.sampling.frames:
        assert np.min(np.abs(real - frame.time)) < 1e-3  # a real presentation time
        gap = 0.5 if frame.target < 5 else 0.1  # the local frame spacing
        assert abs(frame.time - frame.target) <= gap + 1e-6
    check_against_truth(result, spec)


def test_4k_frames_are_downscaled_and_boxes_reported_in_video_pixels(identifier, tmp_path):
    spec = SceneSpec(size=(3840, 2160), duration=2.0, fps=1, appearances=[Appearance(A, 0, 2, photos(A)[4:6])],
                     slots=1)
    path = write_scene(spec, tmp_path / "uhd.mp4")
    result = identify_scene(identifier, path, frames=2, max_side=1280)
    assert [f.scale for f in result.sampling.frames] == [pytest.approx(1 / 3)] * 2
    assert [image.size for image in result.group.images] == [(1280, 720)] * 2
    out = result.to_dict()
    person = out["persons"][0]
    assert person["identified"]["id"] == f"local:{A}"
    x1, y1, x2, y2 = person["best_face"]["box"]
    assert 1400 < (x1 + x2) / 2 < 2440 and x2 - x1 > 300  # in 3840x2160 pixels, around the centre


def test_very_short_clip_gives_fewer_frames(identifier, tmp_path):
    spec = SceneSpec(size=(320, 240), duration=0.3, fps=10, appearances=[Appearance(A, 0, 1, photos(A)[4:5])],
                     slots=1, face_fraction=0.8)
    path = write_scene(spec, tmp_path / "short.mp4")
    result = identify_scene(identifier, path, frames=60)
    assert 1 <= len(result.sampling.frames) <= 3
    assert result.to_dict()["persons"][0]["identified"]["id"] == f"local:{A}"


def test_stream_url_with_session_cookie(videos, httpserver):
    """Stash's stream URL: FFmpeg sends our headers and seeks with Range requests."""
    seen: list = []
    url = serve_behind_cookie(httpserver, "/scene/7/stream", videos["cfr.mp4"][0].read_bytes(), seen)
    sampling = sample_frames(url, 8, headers={"Cookie": COOKIE})
    assert len(sampling.frames) == 8 and sampling.info.duration == pytest.approx(10.0, abs=0.2)
    assert any(r and r != "bytes=0-" for r in seen)  # it seeked instead of downloading everything
    with pytest.raises(VideoError) as refused:
        sample_frames(url, 8, headers={"Cookie": "session=wrong"})
    assert "SECRET" not in str(refused.value) and "/scene/7/stream" in str(refused.value)
    assert capture_options({"Cookie": "a|b", "ApiKey": "k"}) == "headers;Cookie: a\\|b\r\nApiKey: k"
    assert display_name("http://u:p@host:9999/scene/1/stream?apikey=x") == "http://host:9999/scene/1/stream"


def _unusable_file(kind: str, folder, video: bytes):
    """A file that is not a usable video, of the given kind."""
    if kind == "missing":
        return folder / "gone.mp4"
    if kind == "audio":
        path = folder / "sound.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes((np.sin(np.arange(8000) / 5) * 3000).astype("<i2").tobytes())
        return path
    content = {"empty": b"", "truncated": video[:len(video) // 2],  # the index (moov) is at the end
               "noise": np.random.default_rng(1).bytes(50_000)}[kind]
    path = folder / f"{kind}.mp4"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("kind,reason", [("missing", "not found"), ("empty", "empty file"),
                                         ("truncated", "not a readable video"), ("noise", "not a readable video"),
                                         ("audio", "audio only")])
def test_unusable_files_raise_a_clear_video_error(identifier, videos, tmp_path, kind, reason):
    path = _unusable_file(kind, tmp_path, videos["cfr.mp4"][0].read_bytes())
    with pytest.raises(VideoError, match=reason) as error:
        identify_scene(identifier, path, frames=FRAMES)
    assert str(path) in str(error.value)


def test_seeks_snap_to_just_after_a_keyframe_when_allowed(tmp_path):
    """Long GOPs: a target may move by half the sample spacing to a cheap spot (17 frames after a
    keyframe, where OpenCV's seek decodes 17 frames instead of up to a whole GOP)."""
    spec = SceneSpec(size=(160, 96), duration=30.0, fps=10, appearances=[], sync_every=5)  # keyframe / 6 s
    path = write_scene(spec, tmp_path / "long_gop.mp4")
    exact = sample_frames(path, 4, snap=False)
    assert [round(f.time, 1) for f in exact.frames] == [1.5, 10.5, 19.5, 28.5]
    snapped = sample_frames(path, 4, snap=True)
    spacing = 9.0
    for frame in snapped.frames:
        assert abs(frame.time - frame.target) <= spacing / 2
        assert round(frame.time - 1.7, 1) % 6 == 0  # 17 frames after a keyframe (0, 6, 12, ... s)
