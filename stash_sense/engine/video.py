"""Frames from a scene's video: a few dozen timestamps, decoded by seeking, never the whole file.

Why this shape:

- Sampling spreads N frames evenly over 5%..95% of the duration: intros, credits and black
  leaders sit at the ends, and a person who is in the scene for a while is hit several times.
- Each frame is reached by a seek (OpenCV's FFmpeg backend: jump to the keyframe 16+ frames
  before the target, decode forward to it), never by decoding the file from the start. A seek
  costs 16 + GOP/2 decodes on average (~140 with x264's keyint 250), so a demux-only capture
  first finds the keyframes around each target: a target may move by up to half the sample
  spacing to 17 frames after a keyframe (17 decodes), and a target inside the GOP already being
  decoded is reached by decoding forward. Long scenes (spacing > GOP) thus cost ~17 decodes per
  frame; short ones at most one decode of the stretch they span.
- Long scenes (samples ``KEYFRAME_SPACING_S`` or more apart, so more than a default GOP): when
  PyAV is installed, each target takes the keyframe nearest to it within half the spacing, and
  only that frame is decoded (``keyframes.py``: one decode per frame instead of 17). Targets
  with no keyframe that near, and whole scenes where PyAV is missing or fails (logged), go
  through the OpenCV path below.
- The sorted timestamps are split into contiguous blocks, one ``VideoCapture`` per block, over a
  thread pool (FFmpeg decoding releases the GIL); one decoder thread per capture.
- Variable frame rate: OpenCV converts a time into a frame count with the *average* rate and then
  counts decoded frames, so in VFR files it can land far from the target. Every frame's *actual*
  presentation time is read back (``CAP_PROP_POS_MSEC``); a landing too far off is corrected by
  seeking earlier and decoding forward, and the actual time is what is reported.
- Rotation: phone videos store sideways frames plus a display matrix; ``CAP_PROP_ORIENTATION_AUTO``
  makes OpenCV apply it, so frames (and face boxes) are in display orientation.
- 4K and up is downscaled (``max_side``, area interpolation): the detector works at 640 px and the
  aligned crops at 112 px, so more pixels only cost memory (60 frames x 1280x720 RGB = 166 MB).

Sources: a local path, or an ``http(s)`` URL (Stash's ``/scene/<id>/stream``). For URLs, FFmpeg's
HTTP client needs the server to honour ``Range`` requests to seek (Stash does); extra request
headers (``Cookie: session=...`` or ``ApiKey: ...``) are passed through the process-wide
``OPENCV_FFMPEG_CAPTURE_OPTIONS`` variable, which OpenCV reads when a capture is opened, so
openings with headers are serialised by a lock. Stash also accepts ``?apikey=`` in the URL.

Every failure that concerns the whole scene (missing file, not a video, audio only, unreadable,
unreachable URL) raises ``VideoError`` with a message naming the source (URL query redacted).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from stash_sense.engine.video_frames import OPEN_TIMEOUT_MS, READ_TIMEOUT_MS, Frame, VideoInfo, VideoSource

DEFAULT_FRAMES = 60
DEFAULT_MAX_SIDE = 1280
SPAN = (0.05, 0.95)  # fraction of the duration the samples are spread over
FORWARD_DECODE_LIMIT = 48  # frames: decoding forward up to this far is cheaper than a seek
OPENCV_SEEK_LEAD = 16  # frames: OpenCV's seek goes to the keyframe before target - 16 frames
SNAP_FRAMES = 17  # a snapped target: this many frames after a keyframe (OpenCV decodes 16 + 1)
MAX_PROBE_PACKETS = 2000  # packets read per keyframe probe at most
MAX_FORWARD_STEPS = 600  # frames decoded forward at most per target (bad timestamps must not read the file)
_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_PARAMS = [cv2.CAP_PROP_N_THREADS, 1, cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS,
           cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
KEYFRAME_SPACING_S = 10.0  # samples this far apart: keyframe-only sampling (x264/x265 default GOP: 250 frames)
_OPEN_LOCK = threading.Lock()
log = logging.getLogger(__name__)

class VideoError(Exception):
    """The scene's video cannot be sampled; the message says which video and why."""


@dataclass
class Sampling:
    """What ``sample_frames`` asked for and got."""

    info: VideoInfo
    frames: list[Frame]
    requested: int
    failed: list[float]  # targets that could not be decoded (a damaged stretch of the file)

    @property
    def interval(self) -> float:
        """Typical spacing of the frames actually read (the median gap), in seconds."""
        times = [f.time for f in self.frames]
        if len(times) < 2:
            return self.info.duration
        return float(np.median(np.diff(times)))


def sample_times(duration: float, count: int, frame_count: int | None = None,
                 span: tuple[float, float] = SPAN) -> list[float]:
    """``count`` times evenly over ``span`` of the duration; fewer when the clip has fewer frames."""
    if frame_count is not None:
        count = min(count, max(frame_count, 1))
    if count <= 0 or duration <= 0:
        return [0.0] if count > 0 else []
    if count == 1:
        return [duration * (span[0] + span[1]) / 2]
    start, end = duration * span[0], duration * span[1]
    step = (end - start) / (count - 1)
    return [start + i * step for i in range(count)]


def sample_frames(video: VideoSource, count: int = DEFAULT_FRAMES, headers: Mapping[str, str] | None = None,
                  max_side: int = DEFAULT_MAX_SIDE, workers: int = 2, snap: bool = True,
                  duration: float | None = None) -> Sampling:
    """Probe the video and decode ``count`` evenly spread frames in parallel.

    ``duration`` (e.g. Stash's ``file.duration``) stands in when the container does not say.
    """
    info = probe(video, headers)
    if info.duration <= 0 and duration:
        info = replace(info, duration=float(duration))
    times = sample_times(info.duration, count, info.frame_count)
    frames, failed = read_frames(video, times, info, headers, max_side, workers, snap)
    return Sampling(info, frames, len(times), failed)


def probe(video: VideoSource, headers: Mapping[str, str] | None = None) -> VideoInfo:
    """Size, rate, length and rotation, checked by decoding the first frame."""
    capture = open_capture(video, headers)
    try:
        ok, first = capture.read()
        if not ok or first is None:
            raise VideoError(f"{display_name(video)}: no decodable video frame (broken file or audio only)")
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        duration = frame_count / fps if fps > 0 and frame_count > 0 else 0.0
        rotation = int(capture.get(cv2.CAP_PROP_ORIENTATION_META) or 0) % 360
        height, width = first.shape[:2]
        return VideoInfo(display_name(video), int(width), int(height), fps, frame_count, duration, rotation)
    finally:
        capture.release()


def read_frames(video: VideoSource, times: Sequence[float], info: VideoInfo,
                headers: Mapping[str, str] | None = None, max_side: int = DEFAULT_MAX_SIDE,
                workers: int = 2, snap: bool = True) -> tuple[list[Frame], list[float]]:
    """Frames at ``times`` (sorted, duplicates of one decoded frame dropped) and the failed targets.

    ``snap``: a target that needs a seek may move by up to half the spacing of the targets to
    land just after a keyframe (see ``_Seeker``); ``False`` lands on the targets themselves.
    """
    ordered = sorted(float(t) for t in times)
    spacing = float(np.median(np.diff(ordered))) if len(ordered) > 1 else info.duration
    keyframes: list[Frame] = []
    if snap and spacing >= KEYFRAME_SPACING_S and len(ordered) > 1:
        keyframes, ordered = _read_keyframes(video, ordered, info, headers, max_side, workers, spacing / 2)
    if not ordered:
        return _unique(keyframes), []
    block = _Block(video, headers, info, max_side, spacing / 2 if snap else 0.0)
    runs = [list(map(float, b)) for b in np.array_split(np.array(ordered), max(1, min(workers, len(ordered))))]
    runs = [r for r in runs if r]
    if len(runs) <= 1:
        parts = [block.read(ordered)]
    else:
        with ThreadPoolExecutor(len(runs), thread_name_prefix="stash-sense-video") as pool:
            parts = list(pool.map(block.read, runs))
    failed = [t for _, missing in parts for t in missing]
    unique = _unique([*keyframes, *(f for got, _ in parts for f in got)])
    if not unique:
        raise VideoError(f"{display_name(video)}: none of {len(ordered)} frames could be decoded")
    return unique, failed


def _unique(frames: list[Frame]) -> list[Frame]:
    """Frames by time, one per decoded frame (two targets may land on the same one)."""
    frames = sorted(frames, key=lambda f: f.time)
    return [f for i, f in enumerate(frames) if i == 0 or abs(f.time - frames[i - 1].time) > 1e-6]


def _read_keyframes(video: VideoSource, times: list[float], info: VideoInfo, headers: Mapping[str, str] | None,
                    max_side: int, workers: int, window: float) -> tuple[list[Frame], list[float]]:
    """Long scenes: the keyframe nearest each target, one decode per frame (``keyframes.py``,
    PyAV). Returns those frames and the targets left to OpenCV: the ones with no keyframe within
    ``window``, or all of them when PyAV is missing or fails on this file."""
    try:
        from stash_sense.engine.keyframes import read_keyframes
    except ImportError:  # PyAV is optional: OpenCV does it all, slower
        return [], times
    try:
        got = read_keyframes(video, times, info, headers, max_side, workers, window)
    except Exception as error:  # noqa: BLE001 - any PyAV failure: OpenCV reads the whole scene
        reason = getattr(error, "strerror", None) or type(error).__name__  # str() may carry the URL's query
        log.warning("%s: keyframe sampling failed (%s); decoding with OpenCV", display_name(video), reason)
        return [], times
    if got.misses:
        log.info("%s: %d of %d targets have no keyframe within %.1f s; OpenCV decodes them",
                 display_name(video), len(got.misses), len(times), window)
    return got.frames, got.misses


@dataclass
class _Block:
    """What every worker needs to read its run of targets."""

    video: VideoSource
    headers: Mapping[str, str] | None
    info: VideoInfo
    max_side: int
    snap_window: float  # seconds a target may move to land after a keyframe (0: never)

    def read(self, times: list[float]) -> tuple[list[Frame], list[float]]:
        """One capture reads an ascending run of targets; a failed target is skipped, not fatal."""
        seeker = _Seeker(self)
        frames, failed = [], []
        try:
            for target in times:
                image = seeker.read_at(target)
                if image is None:
                    failed.append(target)
                    continue
                small, scale = downscale(image, self.max_side)
                frames.append(Frame(seeker.position, target, cv2.cvtColor(small, cv2.COLOR_BGR2RGB), scale))
        finally:
            seeker.close()
        return frames, failed


class _Seeker:
    """Lands one capture on successive (ascending) target times and reports where it landed.

    OpenCV's seek jumps to the keyframe 16+ frames before the target and decodes every frame up
    to it: on average 16 + GOP/2 decodes (~140 for x264's keyint 250). A demux-only capture (no
    decoding) finds the keyframes around each target first, which allows two savings:

    - snapping: when a target may move (``snap_window``), it becomes "17 frames after the nearest
      keyframe", which OpenCV reaches by decoding 17 frames;
    - walking: when the next target lies in the GOP already being decoded, decoding forward to it
      is cheaper than seeking back to its keyframe.
    """

    def __init__(self, block: _Block):
        self.block = block
        self.capture = open_capture(block.video, block.headers)
        # demux-only capture, opened on the first seek; False: this file gives no packet access
        self.keyframes: cv2.VideoCapture | Literal[False] | None = None
        self.frame_time = 1.0 / block.info.fps if block.info.fps > 0 else 0.04
        self.position: float = -math.inf  # time of the last decoded frame
        self.step = self.frame_time  # spacing of the last two consecutive frames (VFR: varies)

    def close(self) -> None:
        self.capture.release()
        if self.keyframes:
            self.keyframes.release()

    def read_at(self, target: float) -> np.ndarray | None:
        """The decoded BGR frame nearest to ``target`` (the last one at the end of the stream);
        ``None`` when the file gives none there."""
        ahead = target - self.position
        if not (0 < ahead <= FORWARD_DECODE_LIMIT * self.frame_time):
            target, seek_cost = self._plan(target)
            walk_cost = (target - self.position) / self.frame_time
            if not (0 < walk_cost <= min(seek_cost, MAX_FORWARD_STEPS)) and not self._seek_near(target):
                return None
        steps = 0
        # Short of the target (a forward step, or VFR undershoot): decode forward to the frame
        # nearest to it, judged by the spacing of the frames just decoded (VFR), bounded.
        last_frame = self.block.info.duration - self.frame_time  # do not decode into the end
        while self.position + self.step / 2 <= min(target, last_frame) and steps < MAX_FORWARD_STEPS:
            last = self.position
            if not self._grab(sequential=True):
                return self._retrieve() if self._seek(last) else None
            steps += 1
        return self._retrieve()

    def _seek_near(self, target: float) -> bool:
        """Seek; when OpenCV overshoots (VFR: it counts frames at the average rate), seek earlier."""
        if not self._seek(target):
            return False
        back = 2 * (self.position - target)
        for _ in range(3):
            if self.position <= target + 1.5 * self.frame_time:
                break
            if not self._seek(max(0.0, target - back)):
                return False
            back *= 2
        return True

    def _plan(self, target: float) -> tuple[float, float]:
        """Where to go for ``target`` (moved just after a keyframe within the snap window, if
        one is there) and what a seek there costs, in decoded frames."""
        window, lead = self.block.snap_window, OPENCV_SEEK_LEAD * self.frame_time
        keys = self._keyframes_around(target - lead, window + lead)
        offset = SNAP_FRAMES * self.frame_time
        landings = [k + offset for k in keys if abs(k + offset - target) <= window and k + offset > self.position]
        if window > offset and landings:
            return min(landings, key=lambda t: abs(t - target)), SNAP_FRAMES
        before = [k for k in keys if k <= target - lead + 1e-6]
        return target, (target - before[-1]) / self.frame_time if before else FORWARD_DECODE_LIMIT

    def _keyframes_around(self, target: float, window: float) -> list[float]:
        """Keyframe times from the one before ``target`` to ``window`` after it (packets only)."""
        if self.keyframes is None:
            try:
                self.keyframes = open_capture(self.block.video, self.block.headers, demux_only=True)
            except VideoError:  # no packet access: plain seeks still work
                self.keyframes = False
        demux = self.keyframes
        if not demux or not demux.set(cv2.CAP_PROP_POS_MSEC, target * 1000.0):
            return []
        found: list[float] = []
        for _ in range(MAX_PROBE_PACKETS):
            time = float(demux.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
            if time > target + window:
                break
            if demux.get(cv2.CAP_PROP_LRF_HAS_KEY_FRAME) and (not found or time > found[-1]):
                found.append(time)
            if not demux.grab():
                break
        return found

    def _seek(self, time: float) -> bool:
        last_frame = self.block.info.duration - self.frame_time  # OpenCV cannot seek past it
        self.capture.set(cv2.CAP_PROP_POS_MSEC, max(0.0, min(time, last_frame)) * 1000.0)
        return self._grab()

    def _grab(self, sequential: bool = False) -> bool:
        if not self.capture.grab():
            return False
        previous, self.position = self.position, float(self.capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        if sequential and self.position > previous:
            self.step = self.position - previous
        return True

    def _retrieve(self) -> np.ndarray | None:
        ok, image = self.capture.retrieve()
        return image if ok and image is not None and image.size else None


def open_capture(video: VideoSource, headers: Mapping[str, str] | None = None,
                 demux_only: bool = False) -> cv2.VideoCapture:
    """An FFmpeg capture with auto-rotation, single-threaded decoding and network timeouts.

    One decoder thread per capture: parallelism comes from several captures, and FFmpeg's frame
    threading would add a pipeline refill after every seek. ``demux_only`` yields packets, not
    frames (``CAP_PROP_FORMAT`` -1): a seek lands on a keyframe and reading costs no decoding.
    """
    name, is_url = str(video), "://" in str(video)
    if not is_url:
        _check_file(video)
    params = _PARAMS + ([cv2.CAP_PROP_FORMAT, -1] if demux_only else [])
    capture = _open_url(name, headers or {}, params) if is_url else cv2.VideoCapture(name, cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        capture.release()
        what = "cannot open the stream (unreachable, refused or not a video)" if is_url else \
            "not a readable video (broken, empty or audio only)"
        raise VideoError(f"{display_name(video)}: {what}")
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # the default in OpenCV >= 4.5; not an open() parameter
    return capture


def _check_file(video: VideoSource) -> None:
    path = Path(video)
    if not path.is_file():
        raise VideoError(f"{display_name(video)}: file not found")
    if path.stat().st_size == 0:
        raise VideoError(f"{display_name(video)}: empty file")


def _open_url(url: str, headers: Mapping[str, str], params: list[int]) -> cv2.VideoCapture:
    """Open with the headers in OpenCV's process-wide options variable, which only this lock
    sets, and only for the duration of one open (so no other URL is sent these headers)."""
    with _OPEN_LOCK:
        if not headers:
            return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        previous = os.environ.get(_OPTIONS_ENV)
        os.environ[_OPTIONS_ENV] = capture_options(headers)
        try:
            return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        finally:
            if previous is None:
                del os.environ[_OPTIONS_ENV]
            else:
                os.environ[_OPTIONS_ENV] = previous


def capture_options(headers: Mapping[str, str]) -> str:
    """FFmpeg demuxer options (``key;value|key;value``) carrying HTTP request headers.

    FFmpeg tokenises the value with backslash escapes and single quotes, so those and the pair
    separator are escaped; header lines are joined with CRLF (FFmpeg adds the final one).
    """
    lines = "\r\n".join(f"{key}: {value}" for key, value in headers.items())
    escaped = "".join("\\" + c if c in "\\'|" else c for c in lines)
    return f"headers;{escaped}"


def display_name(video: VideoSource) -> str:
    """The source as shown in errors and results: URLs lose their query (it may carry an API key)."""
    name = str(video)
    if "://" not in name:
        return name
    parts = urlsplit(name)
    return urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname
                       else parts.netloc, parts.path, "", ""))


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    height, width = image.shape[:2]
    longest = max(height, width)
    if not max_side or longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale
