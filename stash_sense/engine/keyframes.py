"""Keyframe-only sampling with PyAV: one decode per frame for long scenes.

Why: OpenCV's seek always decodes from 16 frames before the target, so even a target snapped
to just after a keyframe costs 17 decodes (6 s of a 1080p H.264 scene's 8.8 s for 60 frames).
When the sample spacing exceeds the GOP, a keyframe lies within half the spacing of every
target, and a keyframe decodes on its own: PyAV seeks to it and decodes exactly that frame.

For each (ascending) target:

1. demux only (no decoding) from the keyframe at or before the target to half a spacing after
   it, noting keyframe times;
2. pick the keyframe nearest to the target within half the spacing (later than the previous
   pick, so two targets never collapse onto one frame); none there -> the target is a *miss*,
   left to the caller (OpenCV, which decodes forward to it);
3. decode that keyframe's packet alone and drain the decoder, so the frame comes out at once
   (waiting for the B-frame delay would decode on to the next keyframe).

The reported time is the frame's own presentation time (relative to the stream's start, as
OpenCV reports it): right in VFR files too. Rotation is the display rotation that the OpenCV
probe read (``VideoInfo.rotation``), applied as OpenCV applies it; frames are downscaled as
``video.py`` does (same size, swscale's filter). URL sources get the same request headers and timeouts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

from stash_sense.engine.video_frames import OPEN_TIMEOUT_MS, READ_TIMEOUT_MS, Frame, VideoInfo, VideoSource

log = logging.getLogger(__name__)

MAX_PROBE_PACKETS = 4000  # video packets demuxed per target at most (a broken index must not read the file)
_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass
class KeyframeRead:
    """What the keyframe pass got: frames, and the targets it left to the caller."""

    frames: list[Frame]
    misses: list[float]  # no keyframe within the window, or that keyframe did not decode


def read_keyframes(video: VideoSource, times: Sequence[float], info: VideoInfo,
                   headers: Mapping[str, str] | None, max_side: int, workers: int,
                   window: float) -> KeyframeRead:
    """Keyframes nearest to ``times`` (sorted) within ``window`` seconds, in ``workers`` parallel
    runs (FFmpeg decodes without the GIL). Raises ``av.FFmpegError``/``OSError`` when the file
    cannot be opened or read at all: the caller falls back to OpenCV."""
    ordered = sorted(float(t) for t in times)
    runs = [list(map(float, r)) for r in np.array_split(np.array(ordered), max(1, min(workers, len(ordered))))]
    runs = [r for r in runs if r]
    reader = _Reader(video, headers, info, max_side, window)
    if len(runs) <= 1:
        parts = [reader.read(ordered)]
    else:
        with ThreadPoolExecutor(len(runs), thread_name_prefix="stash-sense-keyframes") as pool:
            parts = list(pool.map(reader.read, runs))
    return KeyframeRead([f for p in parts for f in p.frames], [t for p in parts for t in p.misses])


def open_container(video: VideoSource, headers: Mapping[str, str] | None = None) -> av.container.InputContainer:
    """Open a path or URL with request headers (CRLF-terminated lines) and network timeouts."""
    options = {"headers": "".join(f"{k}: {v}\r\n" for k, v in headers.items())} if headers else {}
    return av.open(str(video), options=options, timeout=(OPEN_TIMEOUT_MS / 1000, READ_TIMEOUT_MS / 1000))


@dataclass
class _Reader:
    video: VideoSource
    headers: Mapping[str, str] | None
    info: VideoInfo
    max_side: int
    window: float

    def read(self, times: list[float]) -> KeyframeRead:
        """One container reads an ascending run of targets."""
        with open_container(self.video, self.headers) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"  # one decoder thread: parallelism comes from the runs
            run = _Run(container, stream)
            frames, misses = [], []
            for target in times:
                picked = run.pick(target, self.window)
                decoded = run.decode(picked) if picked is not None else None
                if decoded is None:
                    misses.append(target)
                    continue
                frames.append(self._frame(decoded, run.last_time, target))
            return KeyframeRead(frames, misses)

    def _frame(self, decoded: av.VideoFrame, time: float, target: float) -> Frame:
        """RGB, downscaled in the same pass as the colour conversion (swscale's bilinear filter,
        widened to the ratio so it does not alias: 4 ms at 1080p where OpenCV's INTER_AREA takes
        12), then turned upright (rotation does not change the longest side, so the scale holds)."""
        longest, scale = max(decoded.width, decoded.height), 1.0
        if self.max_side and longest > self.max_side:
            scale = self.max_side / longest
            decoded = decoded.reformat(width=max(1, round(decoded.width * scale)),
                                       height=max(1, round(decoded.height * scale)),
                                       format="rgb24", interpolation="BILINEAR")
        rgb: np.ndarray = decoded.to_ndarray(format="rgb24")
        if self.info.rotation in _ROTATE:
            rgb = cv2.rotate(rgb, _ROTATE[self.info.rotation])
        return Frame(time, target, np.ascontiguousarray(rgb), scale)


class _Run:
    """Keyframe lookup and decoding on one open container, in stream time units."""

    def __init__(self, container: av.container.InputContainer, stream: av.VideoStream):
        self.container, self.stream = container, stream
        self.base: Fraction = stream.time_base or Fraction(1, 90000)
        self.start = stream.start_time or 0
        self.last_pts: int | None = None  # the last keyframe decoded
        self.last_time = -1.0

    def seconds(self, pts: int) -> float:
        return float((pts - self.start) * self.base)

    def pick(self, target: float, window: float) -> av.Packet | None:
        """The keyframe packet nearest ``target`` within ``window``, after the last one decoded."""
        packets = self._keyframes(target, window)
        keys = [k for k in packets
                if abs(self.seconds(k) - target) <= window and (self.last_pts is None or k > self.last_pts)]
        return packets[min(keys, key=lambda k: abs(self.seconds(k) - target))] if keys else None

    def _keyframes(self, target: float, window: float) -> dict[int, av.Packet]:
        """Keyframe packets by PTS, from the one at or before ``target`` to ``window`` after it
        (demux only, nothing decoded)."""
        self.container.seek(self._pts(target), stream=self.stream, backward=True, any_frame=False)
        end, found = self._pts(target + window), {}
        for count, packet in enumerate(self.container.demux(self.stream)):
            if packet.pts is None:
                if packet.size == 0 or count >= MAX_PROBE_PACKETS:
                    break
                continue
            if packet.is_keyframe:
                found[packet.pts] = packet
            if (packet.dts if packet.dts is not None else packet.pts) > end or count >= MAX_PROBE_PACKETS:
                break
        return found

    def decode(self, packet: av.Packet) -> av.VideoFrame | None:
        """The keyframe: decoded alone, then drained (no waiting for the B-frame delay,
        which would decode packets up to the next keyframe); the next flush resets the decoder."""
        codec = self.stream.codec_context
        codec.flush_buffers()
        frames = codec.decode(packet) or codec.decode(None)
        if not frames or frames[0].pts is None:
            return None
        self.last_pts, self.last_time = frames[0].pts, self.seconds(frames[0].pts)
        return frames[0]

    def _pts(self, seconds: float) -> int:
        return int(max(0.0, seconds) / self.base) + self.start
