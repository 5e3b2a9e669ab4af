"""Preprocessing recipes: how an aligned face crop becomes a model's input tensor.

A face database is only usable with the exact recipe that built it, so the recipe is data: it
is stored in pack and database manifests and compared by fingerprint, never re-derived from
code branches. The seed project's defects (no alignment, ArcFace fed x/255, stretched faces,
no flip) are each a field here, with the correct value as default.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass

import cv2
import numpy as np

# insightface's estimate_norm calls SimilarityTransform.estimate, deprecated in scikit-image 0.26;
# the result is unchanged, the warning would only clutter Stash's log.
warnings.filterwarnings("ignore", message="`estimate` is deprecated", category=FutureWarning)

ALIGNMENTS = ("norm_crop", "bbox")  # "bbox" exists only to measure what alignment is worth


@dataclass(frozen=True)
class Recipe:
    """Everything between a detected face and the numbers an embedder sees."""

    input_size: tuple[int, int] = (112, 112)  # model input (height, width)
    alignment: str = "norm_crop"  # insightface 5-point similarity warp to the ArcFace template
    crop_size: int = 112  # norm_crop output size (the ArcFace template is defined for 112)
    color: str = "RGB"  # channel order the model expects
    mean: float = 127.5
    std: float = 128.0  # (x - 127.5) / 128 for ArcFace-family models
    flip_average: bool = True  # embed crop and mirror, average raw outputs, then L2-normalise

    def __post_init__(self) -> None:
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"unknown alignment {self.alignment!r}")
        if self.color not in ("RGB", "BGR"):
            raise ValueError(f"unknown colour order {self.color!r}")
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))

    @classmethod
    def from_dict(cls, data: dict) -> Recipe:
        return cls(**data)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["input_size"] = list(self.input_size)
        return data

    def fingerprint(self) -> str:
        """Stable short hash; databases record it and refuse to load with another recipe."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def align_face(image_rgb: np.ndarray, landmarks: np.ndarray, bbox: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Cut one face out of an RGB image as the recipe says (uint8 RGB, crop_size square)."""
    if recipe.alignment == "norm_crop":
        from insightface.utils import face_align  # here: importing insightface costs ~1 s

        return face_align.norm_crop(image_rgb, np.asarray(landmarks, np.float32), recipe.crop_size)
    return _bbox_crop(image_rgb, bbox, recipe.crop_size)


def _bbox_crop(image_rgb: np.ndarray, bbox: np.ndarray, size: int) -> np.ndarray:
    """Unaligned baseline: the detector box, letterboxed (the seed's approach, minus stretching)."""
    height, width = image_rgb.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in bbox[:4])
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    crop = image_rgb[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
    return letterbox(crop, (size, size))


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Aspect-preserving INTER_AREA resize centred on a black canvas (never stretch).

    Integer arithmetic follows Stash Sense's ``_preprocess_face`` exactly, so a 112 crop fed to a
    160 model is a plain resize and a 112 crop fed to a 112 model is untouched.
    """
    target_h, target_w = size
    face_h, face_w = image.shape[:2]
    if (face_h, face_w) == (target_h, target_w):
        return image
    factor = min(target_h / face_h, target_w / face_w)
    new_h, new_w = max(1, int(face_h * factor)), max(1, int(face_w * factor))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((target_h, target_w, 3), dtype=np.uint8)
    y_off, x_off = (target_h - new_h) // 2, (target_w - new_w) // 2
    canvas[y_off:y_off + new_h, x_off:x_off + new_w] = resized
    return canvas


def to_tensor(crops: list[np.ndarray], recipe: Recipe, layout: str) -> np.ndarray:
    """Stack RGB uint8 crops into a float32 batch in the model's layout ("NCHW" or "NHWC")."""
    batch = np.stack([letterbox(c, recipe.input_size) for c in crops]).astype(np.float32)
    if recipe.color == "BGR":
        batch = batch[..., ::-1]
    batch = (batch - recipe.mean) / recipe.std
    if layout == "NCHW":
        batch = batch.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32)
