"""Scene videos with a known truth, built from real face photos with OpenCV alone.

Used by tests/test_scenes.py and bench/scenes_bench.py. The OpenCV wheel here writes MPEG-4 Part 2
(``mp4v`` in .mp4), VP8 and VP9 (.webm), not H.264. What its writer cannot do is done by editing
the MP4 boxes afterwards (``moov`` comes after ``mdat`` in OpenCV's files, so growing or shrinking
``moov`` never moves the sample data and no chunk offset changes):

- rotation: the track header's display matrix (what phones write), frames stored sideways;
- variable frame rate: the time-to-sample table (``stts``) rewritten with per-frame durations,
  and the media/track/movie durations and edit list with it;
- long GOPs: OpenCV's encoder puts a keyframe every 12 frames, which makes seeking unrealistically
  cheap; listing only every k-th keyframe in the sync-sample table (``stss``) makes a player seek to
  those and decode forward from them, i.e. the seek cost of a 12*k-frame GOP (x264's default
  keyint is 250).
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}
BoxEdit = Callable[[bytes, bytes], bytes]  # (kind, whole box) -> new whole box


@dataclass
class Appearance:
    """One identity on screen from ``start`` to ``end`` seconds, in a horizontal slot."""

    identity: str
    start: float
    end: float
    photos: list[Path]  # shown in turn, one "shot" each
    slot: int = 0


@dataclass
class SceneSpec:
    size: tuple[int, int]  # display width, height
    duration: float
    fps: float
    appearances: list[Appearance]
    slots: int = 2
    shot_seconds: float = 2.0
    face_fraction: float = 0.5  # tile height as a fraction of the frame height
    rotation: int = 0  # display rotation written into the file (0 or 90)
    vfr: list[tuple[float, float]] = field(default_factory=list)  # (until_s, fps) segments
    sync_every: int = 1  # keep 1 of k keyframes in the sync table (long-GOP seeking)
    fourcc: str = "mp4v"
    seed: int = 0
    degrade: str = ""  # "", "motion_blur", "dark", "tilt" (faces turned 60 degrees); small faces: face_fraction


    def truth(self) -> dict[str, list[tuple[float, float]]]:
        ranges: dict[str, list[tuple[float, float]]] = {}
        for a in self.appearances:
            ranges.setdefault(a.identity, []).append((a.start, min(a.end, self.duration)))
        return ranges

    def frame_times(self) -> list[float]:
        """Presentation time of every frame (constant rate unless ``vfr`` segments are given)."""
        if not self.vfr:
            return [i / self.fps for i in range(int(round(self.duration * self.fps)))]
        times, start = [], 0.0
        for until, fps in self.vfr:
            times += [start + i / fps for i in range(int(round((until - start) * fps)))]
            start = until
        return times


def write_scene(spec: SceneSpec, path: Path) -> Path:
    """Render and write the scene, then apply the box edits the spec asks for."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    times = spec.frame_times()
    width, height = spec.size
    stored = (height, width) if spec.rotation in (90, 270) else (width, height)
    nominal = max([spec.fps] + [fps for _, fps in spec.vfr])
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*spec.fourcc), nominal, stored)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {spec.fourcc} to {path}")
    renderer = _Renderer(spec)
    for t in times:
        frame = renderer.frame(t)
        if spec.rotation == 90:  # displayed after a 90-degree clockwise turn: store it turned back
            frame = cv2.rotate(frame, cv2.ROTATE_90_COUNTERCLOCKWISE)
        writer.write(frame)
    writer.release()
    if spec.rotation:
        set_rotation(path, spec.rotation)
    if spec.vfr:
        retime(path, times, 1.0 / spec.vfr[-1][1])
    if spec.sync_every > 1:
        thin_sync_samples(path, spec.sync_every)
    return path


def render_frame(spec: SceneSpec, time: float) -> np.ndarray:
    """The BGR frame the scene shows at ``time`` (display orientation), e.g. as its screenshot."""
    return _Renderer(spec).frame(time)


class _Renderer:
    """Frames: a slowly panning textured background with feathered face photos composited on it."""

    def __init__(self, spec: SceneSpec):
        self.spec = spec
        width, height = spec.size
        rng = np.random.default_rng(spec.seed)
        noise = rng.integers(0, 255, (height // 8 + 2, width // 8 + 2, 3), np.uint8)
        big = cv2.resize(noise, ((width // 8 + 2) * 8, (height // 8 + 2) * 8), interpolation=cv2.INTER_CUBIC)
        self.background = cv2.GaussianBlur(big, (0, 0), 6)
        self.tile = int(height * spec.face_fraction)
        self.photos: dict[Path, np.ndarray] = {}
        yy, xx = np.mgrid[0:self.tile, 0:self.tile].astype(np.float32) / self.tile - 0.5
        mask = np.clip((0.5 - np.sqrt((xx / 0.95) ** 2 + (yy / 1.0) ** 2)) * 8, 0, 1)
        self.mask = cv2.GaussianBlur(mask, (0, 0), self.tile / 40)[..., None]

    def frame(self, t: float) -> np.ndarray:
        width, height = self.spec.size
        shift = int(t * 4) % 8
        frame = self.background[shift:shift + height, shift:shift + width].copy()
        for a in self.spec.appearances:
            if a.start <= t < a.end:
                photo = a.photos[int((t - a.start) / self.spec.shot_seconds) % len(a.photos)]
                self._paste(frame, self._photo(photo), a.slot, t - a.start)
        return degrade_frame(frame, self.spec.degrade, t) if self.spec.degrade else frame

    def _photo(self, path: Path) -> np.ndarray:
        if path not in self.photos:
            image = cv2.imread(str(path))
            if image is None:
                raise FileNotFoundError(path)
            side = min(image.shape[:2])
            y, x = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
            tile = cv2.resize(image[y:y + side, x:x + side], (self.tile, self.tile), interpolation=cv2.INTER_AREA)
            if self.spec.degrade == "tilt":  # beyond what SCRFD finds upright (~60 degrees), both ways
                angle = 60.0 if len(self.photos) % 2 else -60.0
                turn = cv2.getRotationMatrix2D((self.tile / 2, self.tile / 2), angle, 1.0)
                tile = cv2.warpAffine(tile, turn, (self.tile, self.tile), borderMode=cv2.BORDER_REFLECT)
            self.photos[path] = tile
        return self.photos[path]

    def _paste(self, frame: np.ndarray, photo: np.ndarray, slot: int, since: float) -> None:
        width, height = self.spec.size
        drift = int(6 * np.sin(since))  # a little motion, like a handheld camera
        cx = int(width * (slot + 0.5) / self.spec.slots) + drift
        x0 = int(np.clip(cx - self.tile // 2, 0, width - self.tile))
        y0 = int(np.clip((height - self.tile) // 2 + drift, 0, height - self.tile))
        region = frame[y0:y0 + self.tile, x0:x0 + self.tile].astype(np.float32)
        frame[y0:y0 + self.tile, x0:x0 + self.tile] = (photo * self.mask + region * (1 - self.mask)).astype(np.uint8)


def degrade_frame(frame: np.ndarray, kind: str, t: float) -> np.ndarray:
    """A frame as a hard scene shows it: camera motion blur (a streak of 1.5% of the width, 19 px
    at 1280, its direction changing over time) or club lighting (dark, low contrast, sensor noise).
    Deterministic in t."""
    if kind == "motion_blur":
        length = max(3, int(frame.shape[1] * 0.015)) | 1
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        turn = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), 40 * np.sin(t / 3), 1.0)
        kernel = cv2.warpAffine(kernel, turn, (length, length))
        return cv2.filter2D(frame, -1, kernel / max(kernel.sum(), 1e-6))
    if kind == "dark":
        rng = np.random.default_rng(int(t * 1000))
        dim = 255.0 * (frame.astype(np.float32) / 255.0) ** 2.2 * 0.45 + 6.0
        return np.clip(dim + rng.normal(0, 5, frame.shape), 0, 255).astype(np.uint8)
    if kind == "tilt":
        return frame
    raise ValueError(f"unknown degradation {kind!r}")


# --- MP4 box edits -------------------------------------------------------------------------------

def edit_boxes(path: Path, edit: BoxEdit) -> None:
    """Rewrite ``path`` with ``edit`` applied to every leaf box; container sizes are recomputed."""
    data = Path(path).read_bytes()
    order = [kind for kind, _, _ in _boxes(data, 0, len(data))]
    if b"moov" not in order or order.index(b"moov") < order.index(b"mdat"):
        raise ValueError(f"{path}: expected moov after mdat (OpenCV's layout)")
    Path(path).write_bytes(_rewrite(data, 0, len(data), edit))


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos < end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:  # 64-bit size follows
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        elif size == 0:  # runs to the end of the file
            size = end - pos
        if size < 8:
            raise ValueError(f"unsupported box size {size} for {kind!r}")
        yield kind, pos, size
        pos += size


def _rewrite(data: bytes, start: int, end: int, edit: BoxEdit) -> bytes:
    out = bytearray()
    for kind, pos, size in _boxes(data, start, end):
        if kind in CONTAINERS:
            body = _rewrite(data, pos + 8, pos + size, edit)
            out += struct.pack(">I4s", len(body) + 8, kind) + body
        else:
            out += edit(kind, data[pos:pos + size])
    return bytes(out)


def _version0(box: bytes) -> bytes:
    if box[8] != 0:
        raise ValueError(f"{box[4:8]!r} version {box[8]} not supported")
    return box


def set_rotation(path: Path, degrees: int) -> None:
    """Write the display matrix of a clockwise rotation into the track header."""
    matrices = {90: (0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30),
                180: (-65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30),
                270: (0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30)}
    matrix = struct.pack(">9i", *matrices[degrees])
    edit_boxes(path, lambda kind, box: _version0(box)[:48] + matrix + box[84:] if kind == b"tkhd" else box)


def retime(path: Path, times: Sequence[float], last_duration: float) -> None:
    """Give frame i the presentation time ``times[i]`` (a variable frame rate)."""
    state: dict = {}

    def media(kind: bytes, box: bytes) -> bytes:
        if kind == b"mvhd":
            state["movie_scale"] = struct.unpack(">I", _version0(box)[20:24])[0]
        if kind == b"mdhd":
            scale = struct.unpack(">I", _version0(box)[20:24])[0]
            ticks = [round(t * scale) for t in times] + [round((times[-1] + last_duration) * scale)]
            state["deltas"] = [b - a for a, b in zip(ticks, ticks[1:])]
            state["seconds"] = (ticks[-1] - ticks[0]) / scale
            return box[:24] + struct.pack(">I", ticks[-1] - ticks[0]) + box[28:]
        if kind == b"stts":
            runs: list[list[int]] = []
            for delta in state["deltas"]:
                if runs and runs[-1][1] == delta:
                    runs[-1][0] += 1
                else:
                    runs.append([1, delta])
            body = box[8:12] + struct.pack(">I", len(runs)) + b"".join(struct.pack(">II", *r) for r in runs)
            return struct.pack(">I4s", len(body) + 8, b"stts") + body
        return box

    def movie(kind: bytes, box: bytes) -> bytes:
        total = struct.pack(">I", round(state["seconds"] * state["movie_scale"]))
        if kind == b"mvhd":
            return box[:24] + total + box[28:]
        if kind == b"tkhd":
            return box[:28] + total + box[32:]
        if kind == b"elst" and struct.unpack(">I", box[12:16])[0] == 1:
            return box[:16] + total + box[20:]
        return box

    edit_boxes(path, media)
    edit_boxes(path, movie)


def thin_sync_samples(path: Path, keep_every: int) -> None:
    """Keep only every ``keep_every``-th entry of the sync-sample table (see module doc)."""
    def edit(kind: bytes, box: bytes) -> bytes:
        if kind != b"stss":
            return box
        count = struct.unpack(">I", box[12:16])[0]
        entries = struct.unpack(f">{count}I", box[16:16 + 4 * count])[::keep_every]
        body = box[8:12] + struct.pack(f">I{len(entries)}I", len(entries), *entries)
        return struct.pack(">I4s", len(body) + 8, b"stss") + body

    edit_boxes(path, edit)


# --- ranges ----------------------------------------------------------------------------------------

def range_iou(predicted: Sequence[Sequence[float]], truth: Sequence[Sequence[float]]) -> float:
    """Intersection over union of two sets of time ranges (each a union of intervals)."""
    def total(ranges):
        return sum(b - a for a, b in _union(ranges))

    inter = sum(max(0.0, min(b, d) - max(a, c)) for a, b in _union(predicted) for c, d in _union(truth))
    union = total(predicted) + total(truth) - inter
    return inter / union if union > 0 else 1.0


def _union(ranges: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for a, b in sorted((float(a), float(b)) for a, b in ranges):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


# --- long scenes encoded by Debian's ffmpeg (H.264 / HEVC) ---------------------------------------

PAN = 24  # pixels of slow camera pan each way, so every frame moves like filmed video (no skip-only P-frames)


@dataclass(frozen=True)
class Encoding:
    """How ``encode_scene`` asks ffmpeg to compress: codec, preset; the keyframe interval is the
    encoder's default (x264 and x265: keyint 250, scene-cut keyframes on)."""

    codec: str = "libx264"  # or "libx265"
    preset: str = "superfast"
    crf: int = 23

    def args(self) -> list[str]:
        quiet = ["-x265-params", "log-level=error"] if self.codec == "libx265" else []
        tag = ["-tag:v", "hvc1"] if self.codec == "libx265" else []
        return ["-c:v", self.codec, "-preset", self.preset, "-crf", str(self.crf), *quiet, *tag]


def encode_scene(spec: SceneSpec, path: Path, encoding: Encoding = Encoding(), threads: int = 2) -> Path:
    """Write a long scene with ffmpeg: the scene's distinct shots are rendered once as stills
    (one per change of who is on screen or which photo is shown) and ffmpeg turns them into
    ``spec.fps`` video with a slow pan, so encoding costs minutes, not hours, for 20-40 minutes.

    Needs the ``ffmpeg`` program (Debian's, with libx264/libx265). Constant frame rate only.
    """
    path = Path(path).resolve()  # the concat list names stills by absolute path
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = spec.size
    padded = replace(spec, size=(width + 2 * PAN, height + 2 * PAN))  # the crop pans over it
    renderer = _Renderer(padded)
    with tempfile.TemporaryDirectory(prefix="scene-stills-", dir=path.parent) as folder:
        lines = []
        for index, (start, end) in enumerate(_shots(spec)):
            still = Path(folder) / f"{index:05d}.png"
            cv2.imwrite(str(still), renderer.frame((start + end) / 2), [cv2.IMWRITE_PNG_COMPRESSION, 1])
            lines += [f"file '{still}'", f"duration {end - start:.6f}"]
        lines.append(lines[-2])  # the concat demuxer ignores the last entry's duration
        listing = Path(folder) / "shots.txt"
        listing.write_text("\n".join(lines) + "\n")
        pan = f"crop={width}:{height}:x='{PAN}+{PAN}*sin(2*PI*t/17)':y='{PAN}+{PAN}*cos(2*PI*t/23)'"
        command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                   "-f", "concat", "-safe", "0", "-i", str(listing),
                   "-vf", f"format=yuv420p,fps={spec.fps},{pan}", "-t", f"{spec.duration:.3f}",
                   *encoding.args(), "-threads", str(threads), "-an", "-movflags", "+faststart", str(path)]
        subprocess.run(command, check=True)
    return path


def _shots(spec: SceneSpec) -> list[tuple[float, float]]:
    """Stretches of the scene during which the picture (who is on screen, which photo) is fixed."""
    cuts = {0.0, spec.duration}
    for a in spec.appearances:
        start, end = a.start, min(a.end, spec.duration)
        cuts |= {start, end} | {start + k * spec.shot_seconds
                                for k in range(1, int((end - start) / spec.shot_seconds) + 1)}
    edges = sorted(c for c in cuts if 0.0 <= c <= spec.duration)
    return [(a, b) for a, b in zip(edges, edges[1:]) if b - a > 1e-6]


def concat_videos(parts: Sequence[Path], path: Path) -> Path:
    """Join encoded clips of the same size and encoding end to end without re-encoding (ffmpeg's
    concat demuxer, stream copy): a long scene assembled from a few encoded segments."""
    path = Path(path).resolve()
    listing = path.with_suffix(".parts.txt")
    listing.write_text("".join(f"file '{Path(p).resolve()}'\n" for p in parts))
    try:
        subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat",
                        "-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart", str(path)],
                       check=True)
    finally:
        listing.unlink(missing_ok=True)
    return path
