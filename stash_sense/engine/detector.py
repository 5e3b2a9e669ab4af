"""Face detection with InsightFace's SCRFD (boxes, scores, five landmarks)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from insightface.model_zoo.scrfd import SCRFD

from stash_sense.engine.onnx_session import create_session

# Candidates down to this score are kept so that faces below the acceptance threshold are
# reported as skipped ("low_score") instead of silently vanishing.
REPORT_FLOOR = 0.3
# Square detector canvases used for images smaller than det_size. Small images are not blown up
# to det_size: SCRFD misses faces that fill an upscaled thumbnail (3 of 1,549 LFW DevTest images
# at 640, none at 256) and a small canvas is several times faster. A fixed set of sizes keeps the
# number of onnxruntime sessions (one per input shape) bounded.
CANVAS_SIZES = (128, 160, 192, 256, 320, 384, 480, 512, 640, 800, 960, 1280)
STRIDE = 32  # SCRFD's coarsest feature stride: canvas sides must be multiples of it


class UnusableImageError(ValueError):
    """An image the detector cannot look at; the message says why in user terms (a per-image error)."""


@dataclass
class DetectedFace:
    """One detection in original-image pixel coordinates."""

    bbox: np.ndarray  # x1, y1, x2, y2
    score: float
    landmarks: np.ndarray  # 5x2: image-left eye, image-right eye, nose, left mouth, right mouth
    skipped: str | None = None  # None = usable; else "low_score" / "too_small"
    quality: float = field(default=0.0)

    @property
    def size(self) -> float:
        """Shorter side of the box in pixels."""
        return float(min(self.bbox[2] - self.bbox[0], self.bbox[3] - self.bbox[1]))

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 1) for v in self.bbox],
            "det_score": round(self.score, 4),
            "size": round(self.size, 1),
            "quality": round(self.quality, 4),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            "skipped": self.skipped,
        }


class FaceDetector:
    """SCRFD through insightface, with our session options and explicit quality gates."""

    def __init__(self, model_path: str | Path, det_size: int = 640, threshold: float = 0.5,
                 min_face_size: int = 40, threads: int = 0, feed_rgb_as_bgr: bool = False) -> None:
        self.model = SCRFD(model_file=str(model_path), session=create_session(model_path, threads))
        self.det_size = int(det_size)
        self.threshold = float(threshold)
        self.min_face_size = int(min_face_size)
        # Stash Sense passes RGB arrays to an API that expects BGR; its database was built that
        # way, so the stash-sense-v1 pack reproduces the quirk instead of "fixing" it.
        self.feed_rgb_as_bgr = feed_rgb_as_bgr

    def detect(self, image_rgb: np.ndarray) -> list[DetectedFace]:
        """All faces, best first; unusable ones carry a ``skipped`` reason."""
        floor = min(REPORT_FLOOR, self.threshold)
        canvas = self.canvas_size(*image_rgb.shape[:2])
        placed, scale = letterbox(image_rgb, canvas)
        # Colour order is swapped on the small canvas, not on the full-size photo (~10 ms saved).
        pixels = placed if self.feed_rgb_as_bgr else np.ascontiguousarray(placed[..., ::-1])
        boxes, landmarks = self.model.detect(pixels, input_size=canvas, det_thresh=floor)
        faces = [DetectedFace(bbox=(box[:4] / scale).astype(np.float32), score=float(box[4]),
                              landmarks=np.asarray(kps / scale, np.float32))
                 for box, kps in zip(boxes, landmarks)]
        for face in faces:
            face.skipped = self._gate(face)
            face.quality = face_quality(face)
        return faces

    def canvas_size(self, height: int, width: int) -> tuple[int, int]:
        """(width, height) of the detector canvas.

        The longer side is the smallest bucket that holds the image unscaled, at most det_size; the
        shorter side only as long as the scaled image needs, rounded up to SCRFD's largest stride.
        SCRFD is fully convolutional, so a 16:9 video frame runs on 640x384 instead of 640x640 and
        finds the same faces in ~40% less time.
        """
        longest = max(height, width)
        fitting = [c for c in CANVAS_SIZES if longest <= c < self.det_size]
        side = fitting[0] if fitting else self.det_size
        short = min(side, math.ceil(min(height, width) * side / longest / STRIDE) * STRIDE)
        return (side, short) if width >= height else (short, side)

    def _gate(self, face: DetectedFace) -> str | None:
        if face.score < self.threshold:
            return "low_score"
        if face.size < self.min_face_size:
            return "too_small"
        return None


def letterbox(image: np.ndarray, canvas: tuple[int, int]) -> tuple[np.ndarray, float]:
    """The image resized into the top-left of a black (width, height) canvas, and the scale used.

    What SCRFD.detect does inside (same sizes, same cv2.resize), done before the RGB->BGR copy so
    that copy is of the canvas; SCRFD then sees an image of its input size and leaves it as is.
    """
    height, width = image.shape[:2]
    scale = min(canvas[0] / width, canvas[1] / height)
    if min(width, height) * scale < 1:
        # A 3000x1 strip scaled onto a 640-wide canvas is under a pixel high: cv2.resize would abort
        # the whole batch (0 px) or get a sliver, and no face can be in it anyway.
        raise UnusableImageError(f"image too thin to hold a face (analysed at {width}x{height} pixels)")
    new_width, new_height = min(canvas[0], round(width * scale)), min(canvas[1], round(height * scale))
    placed = np.zeros((canvas[1], canvas[0], 3), dtype=np.uint8)
    placed[:new_height, :new_width] = cv2.resize(image, (new_width, new_height))
    return placed, new_height / height


def face_quality(face: DetectedFace) -> float:
    """0..1 score from detector confidence, size and frontalness (nose between the eyes).

    Used to rank faces (best crop of a person, enrollment gates), not to decide identity.
    """
    left_eye, right_eye, nose = face.landmarks[0], face.landmarks[1], face.landmarks[2]
    eye_distance = float(np.linalg.norm(right_eye - left_eye)) or 1.0
    yaw_offset = abs(float(nose[0] - (left_eye[0] + right_eye[0]) / 2)) / eye_distance
    frontal = max(0.0, 1.0 - yaw_offset)
    size_factor = min(1.0, face.size / 112.0)
    return float(face.score * size_factor * frontal)
