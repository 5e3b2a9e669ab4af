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
# Second passes, only for photos where the first pass found no usable face (easy photos pay nothing):
# a big photo is looked at again on a canvas up to this size, so a face 20 px tall in a 1920x1080
# frame (7 px on the 640 canvas, below what SCRFD finds) is seen at its own size ...
LARGE_CANVAS = 1920
# ... and the photo turned by these angles (degrees), for faces tilted beyond what SCRFD tolerates
# (about 60 degrees); the landmarks are turned back, so alignment straightens the face.
ROTATIONS = (45.0, -45.0)
# A face found with its eye line tilted more than this (degrees) is detected again on the photo
# turned to level it: SCRFD's landmarks drift on strongly tilted faces (LFW faces turned 70 degrees
# gave embeddings as unlike the upright face as a stranger's), and alignment needs them right.
LEVEL_ABOVE = 35.0
# A usable face smaller than this (px) gets its landmarks again from a pass on the region around it
# blown up so the face is REFINE_TO px: on a 25 px face SCRFD's landmarks are a pixel or two off, a
# tenth of the face, and alignment carries that error into the embedding (hard set: face rank-1
# on faces pasted small into big frames 84.0% -> 86.3%, on poor 100-150 px web copies 82.4% -> 85.0%).
REFINE_BELOW = 64.0
REFINE_TO = 112.0
# The region is always this canvas (2.3 face sizes around the face): one input shape for the
# detector's session, whatever the face's size and box shape.
REFINE_CANVAS = 256


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
    sharpness: float = field(default=0.0)  # of the aligned crop (crop_sharpness); set by the pipeline
    rotated: float = 0.0  # degrees the photo was turned for the pass that found this face

    @property
    def size(self) -> float:
        """Shorter side of the box in pixels."""
        return float(min(self.bbox[2] - self.bbox[0], self.bbox[3] - self.bbox[1]))

    @property
    def roll(self) -> float:
        """Tilt of the eye line in degrees (image y down): turning the photo by it levels the eyes."""
        dx, dy = self.landmarks[1] - self.landmarks[0]
        return float(np.degrees(np.arctan2(dy, dx)))

    @property
    def frontal(self) -> float:
        """1 for a face looking at the camera, towards 0 as it turns away (nose off the eyes' middle)."""
        left_eye, right_eye, nose = self.landmarks[0], self.landmarks[1], self.landmarks[2]
        eye_distance = float(np.linalg.norm(right_eye - left_eye)) or 1.0
        # Measured along the eye line, so an in-plane tilt does not read as a turned head.
        axis = (right_eye - left_eye) / eye_distance
        offset = abs(float(np.dot(nose - (left_eye + right_eye) / 2, axis))) / eye_distance
        return max(0.0, 1.0 - offset)

    def to_dict(self) -> dict:
        return {
            "box": [round(float(v), 1) for v in self.bbox],
            "det_score": round(self.score, 4),
            "size": round(self.size, 1),
            "quality": round(self.quality, 4),
            "sharpness": round(self.sharpness, 3),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
            "skipped": self.skipped,
        }


class FaceDetector:
    """SCRFD through insightface, with our session options and explicit quality gates."""

    def __init__(self, model_path: str | Path, det_size: int = 640, threshold: float = 0.5,
                 min_face_size: int = 40, threads: int = 0, feed_rgb_as_bgr: bool = False,
                 second_passes: bool = True) -> None:
        self.model = SCRFD(model_file=str(model_path), session=create_session(model_path, threads))
        self.det_size = int(det_size)
        self.threshold = float(threshold)
        self.min_face_size = int(min_face_size)
        # Stash Sense passes RGB arrays to an API that expects BGR; its database was built that
        # way, so the stash-sense-v1 pack reproduces the quirk instead of "fixing" it.
        self.feed_rgb_as_bgr = feed_rgb_as_bgr
        self.second_passes = second_passes

    def detect(self, image_rgb: np.ndarray, search_faceless: bool = True) -> list[DetectedFace]:
        """All faces, best first; unusable ones carry a ``skipped`` reason.

        When the first pass finds no usable face, a big photo is searched again at (up to) its own
        size, then the photo is searched turned by ``ROTATIONS``: the first pass that finds a usable
        face wins. Photos with a face (nearly all of them) cost one pass, as before. On a photo with
        nobody in it those passes cost ~8 first passes, so a caller that sees many such images (a
        scene's frames) may skip them per call (``search_faceless=False``) and decide itself where
        they are worth it; tilted faces found are still levelled. Usable faces under
        ``REFINE_BELOW`` px cost one more small pass each, for their landmarks.
        """
        faces = self._search(image_rgb, search_faceless)
        if not self.second_passes:
            return faces
        return [self._refined(image_rgb, f) if f.skipped is None and f.size < REFINE_BELOW else f for f in faces]

    def _search(self, image_rgb: np.ndarray, search_faceless: bool) -> list[DetectedFace]:
        """The faces of ``detect`` before small faces are refined."""
        height, width = image_rgb.shape[:2]
        faces = self._gated(self._detect_on(image_rgb, self.canvas_size(height, width)))
        if not self.second_passes:
            return faces
        if any(f.skipped is None for f in faces):
            return [self._levelled(image_rgb, f) if f.skipped is None and abs(f.roll) > LEVEL_ABOVE else f
                    for f in faces]
        if not search_faceless:
            return faces
        if max(height, width) > max(self.canvas_size(height, width)):
            larger = self._gated(self._detect_on(image_rgb, self.large_canvas(height, width)))
            if any(f.skipped is None for f in larger):
                return larger
        # Both turns, and the one with the surest face: a face turned the wrong way is sometimes
        # still "found", with landmarks in the wrong places.
        turns = [self._gated(self._detect_rotated(image_rgb, angle)) for angle in ROTATIONS]
        best = max(turns, key=lambda found: max((f.score for f in found if f.skipped is None), default=0.0))
        return best if any(f.skipped is None for f in best) else faces

    def _levelled(self, image_rgb: np.ndarray, face: DetectedFace) -> DetectedFace:
        """The face detected again on the photo turned to level its eyes (kept if not found there)."""
        centre = (face.bbox[:2] + face.bbox[2:]) / 2
        again = [f for f in self._gated(self._detect_rotated(image_rgb, face.roll)) if f.skipped is None]
        near = [f for f in again if np.linalg.norm((f.bbox[:2] + f.bbox[2:]) / 2 - centre) < face.size / 2]
        return max(near, key=lambda f: f.score) if near else face

    def _refined(self, image_rgb: np.ndarray, face: DetectedFace) -> DetectedFace:
        """The small face with its landmarks measured on its region blown up to ``REFINE_TO`` px
        (box, score and size stay those of the photo as given; kept as is if not found there)."""
        scale = REFINE_TO / max(face.size, 1.0)
        centre = (face.bbox[:2] + face.bbox[2:]) / 2
        side = REFINE_CANVAS
        matrix = np.array([[scale, 0, side / 2 - centre[0] * scale], [0, scale, side / 2 - centre[1] * scale]])
        region = cv2.warpAffine(image_rgb, matrix, (side, side), flags=cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_REPLICATE)
        middle = np.array([side / 2, side / 2])
        near = [f for f in self._detect_on(region, (side, side))
                if np.linalg.norm((f.bbox[:2] + f.bbox[2:]) / 2 - middle) < REFINE_TO / 2]
        if not near:
            return face
        closest = min(near, key=lambda f: float(np.linalg.norm((f.bbox[:2] + f.bbox[2:]) / 2 - middle)))
        back = cv2.invertAffineTransform(matrix)
        face.landmarks = (np.c_[closest.landmarks, np.ones(5)] @ back.T).astype(np.float32)
        face.quality = face_quality(face)  # frontalness is read from the landmarks
        return face

    def _gated(self, faces: list[DetectedFace]) -> list[DetectedFace]:
        for face in faces:
            face.skipped = self._gate(face)
            face.quality = face_quality(face)
        return faces

    def _detect_on(self, image_rgb: np.ndarray, canvas: tuple[int, int]) -> list[DetectedFace]:
        floor = min(REPORT_FLOOR, self.threshold)
        placed, scale = letterbox(image_rgb, canvas)
        # Colour order is swapped on the small canvas, not on the full-size photo (~10 ms saved).
        pixels = placed if self.feed_rgb_as_bgr else np.ascontiguousarray(placed[..., ::-1])
        boxes, landmarks = self.model.detect(pixels, input_size=canvas, det_thresh=floor)
        return [DetectedFace(bbox=(box[:4] / scale).astype(np.float32), score=float(box[4]),
                             landmarks=np.asarray(kps / scale, np.float32))
                for box, kps in zip(boxes, landmarks)]

    def _detect_rotated(self, image_rgb: np.ndarray, angle: float) -> list[DetectedFace]:
        """Faces found in the photo turned by ``angle``, in the coordinates of the photo as given.

        The box is the upright face's box (same width and height) centred where the face is, so
        its size still means the face's size.
        """
        turned, matrix = rotate_expanded(image_rgb, angle)
        back = cv2.invertAffineTransform(matrix)
        faces = self._detect_on(turned, self.canvas_size(*turned.shape[:2]))
        for face in faces:
            face.landmarks = (np.c_[face.landmarks, np.ones(5)] @ back.T).astype(np.float32)
            x1, y1, x2, y2 = face.bbox
            centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2, 1.0]) @ back.T
            half = np.array([(x2 - x1) / 2, (y2 - y1) / 2])
            face.bbox = np.r_[centre - half, centre + half].astype(np.float32)
            face.rotated = angle
        return faces

    def large_canvas(self, height: int, width: int) -> tuple[int, int]:
        """(width, height) for the second look at a big photo: its own size up to LARGE_CANVAS."""
        scale = min(1.0, LARGE_CANVAS / max(height, width))
        return (math.ceil(width * scale / STRIDE) * STRIDE, math.ceil(height * scale / STRIDE) * STRIDE)

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


def rotate_expanded(image: np.ndarray, angle: float,
                    border: int = cv2.BORDER_CONSTANT) -> tuple[np.ndarray, np.ndarray]:
    """The image turned by ``angle`` degrees (counter-clockwise) on a canvas that holds all of it,
    and the 2x3 matrix from original to turned coordinates. ``border``: how the corners are filled
    (black for detection; the hard set reflects the photo so no straight edge marks the turn)."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width, new_height = int(height * sin + width * cos), int(height * cos + width * sin)
    matrix[0, 2] += new_width / 2 - width / 2
    matrix[1, 2] += new_height / 2 - height / 2
    return cv2.warpAffine(image, matrix, (new_width, new_height), borderMode=border), matrix


def crop_sharpness(crop_rgb: np.ndarray) -> float:
    """log10(1 + variance of the Laplacian) of an aligned crop: ~2-3 for a crisp face, below 1.5
    for a smeared one (motion blur, a thumbnail blown up to 112 px). A confidence feature."""
    gray = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)
    return float(np.log10(1.0 + cv2.Laplacian(gray, cv2.CV_64F).var()))


def face_quality(face: DetectedFace) -> float:
    """0..1 score from detector confidence, size and frontalness (nose between the eyes).

    Used to rank faces (best crop of a person, enrollment gates), not to decide identity.
    """
    size_factor = min(1.0, face.size / 112.0)
    return float(face.score * size_factor * face.frontal)
