"""Turning image bytes into an upright 8-bit RGB array, or a clear per-image error.

Pillow is used (not cv2.imdecode) because it honours EXIF orientation, decodes CMYK, 16-bit,
palette and animated files, can decode large JPEGs at reduced size (draft mode) and guards
against decompression bombs.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from stash_sense.engine.memory import low_memory

# Refuse images with more pixels than this (Pillow's own guard raises beyond 2x its limit;
# we make the limit explicit and raise at 1x with our own message).
MAX_PIXELS = 120_000_000
# Large images are decoded (JPEG draft) and then downscaled so the longest side is at most this;
# faces that matter for identification are far larger than the detector's minimum at this size.
DEFAULT_MAX_SIDE = 2048
# Full-size pixels decoded at once (see DecodeBudget): four 100 MP photos normally, one in low memory.
DECODE_BYTES = 1600 << 20
LOW_MEMORY_DECODE_BYTES = 400 << 20


class ImageDecodeError(ValueError):
    """An image that cannot be turned into pixels; the message says why in user terms."""


def load_rgb(source: str | Path | bytes, max_side: int = DEFAULT_MAX_SIDE) -> np.ndarray:
    """Decode a file path or bytes into an upright HxWx3 uint8 RGB array.

    Animated images yield their first frame; alpha is composited onto black; 16-bit and CMYK
    images are converted; images larger than ``max_side`` are downscaled (aspect kept).
    """
    data = _read_bytes(source)
    if not data:
        raise ImageDecodeError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89.5 MP, before our own limit: a 96 MP camera photo is no bomb.
            # Its hard error (twice that) and _refuse_bombs still stop declared sizes past MAX_PIXELS.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            _refuse_bombs(img)
            if img.format == "JPEG" and max_side:
                img.draft("RGB", _draft_size(img.size, max_side))  # decoded at 1/2, 1/4 or 1/8 size
            with _decoding().hold(_decoded_bytes(img)):
                img.seek(0)
                img.load()
                img = _reduce(img, max_side)  # full-size pixels dropped before any conversion copies them
            rgb = _to_rgb(ImageOps.exif_transpose(img))
    except ImageDecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageDecodeError(f"image too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(f"corrupt or truncated image ({exc})") from exc
    return _limit_side(rgb, max_side)


class DecodeBudget:
    """Bytes of full-size pixels being decoded at once, across the engine's threads.

    A PNG (unlike a JPEG) can only be decoded at full size: four 88 MP photos decoded side by side
    hold ~1.4 GB of pixels. Decodes wait until their pixels fit the budget; one image larger than
    the whole budget decodes alone (its declared size is already bounded by MAX_PIXELS).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._room = threading.Condition()

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        size = min(size, self.limit)
        with self._room:
            self._room.wait_for(lambda: self.used + size <= self.limit)
            self.used += size
        try:
            yield
        finally:
            with self._room:
                self.used -= size
                self._room.notify_all()


def decode_budget_bytes() -> int:
    """``STASH_SENSE_MEMORY=low`` (the plugin's "Low memory" setting) gets the small budget."""
    return LOW_MEMORY_DECODE_BYTES if low_memory() else DECODE_BYTES


_BUDGETS: dict[int, DecodeBudget] = {}


def _decoding() -> DecodeBudget:
    """The budget for the memory mode now (the plugin sets it after this module may be imported)."""
    limit = decode_budget_bytes()
    return _BUDGETS.setdefault(limit, DecodeBudget(limit))


def _decoded_bytes(img: Image.Image) -> int:
    """Memory the decoded pixels take (after JPEG draft); Pillow keeps RGB in 4 bytes a pixel."""
    bands = 4 if img.mode in ("RGB", "RGBA", "CMYK", "YCbCr", "I", "F") else 2 if img.mode.startswith("I;16") else 1
    return img.size[0] * img.size[1] * bands


def _reduce(img: Image.Image, max_side: int) -> Image.Image:
    """Box-reduce a large decoded image by a whole factor, its longest side staying >= max_side."""
    factor = max(img.size) // max_side if max_side else 1
    if factor < 2:
        return img
    try:
        return img.reduce(factor)
    except ValueError:  # modes reduce does not support (1-bit, palette): converted later
        return img


def _draft_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The JPEG draft request: the image scaled so its longest side is ``max_side``.

    Pillow reduces by 1/2, 1/4 or 1/8 only while *both* sides stay at least the requested ones, so
    a square (max_side, max_side) request never reduced a photo whose short side is under max_side
    (a 4352x2903 photo was decoded at full size, then downscaled). Rounding up keeps the decoded
    longest side >= max_side, so ``_limit_side`` still yields max_side (the short side may differ by
    a pixel of rounding).
    """
    width, height = size
    scale = max_side / max(width, height)
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def _read_bytes(source: str | Path | bytes) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ImageDecodeError(f"cannot read file: {exc.strerror or exc}") from exc


def _refuse_bombs(img: Image.Image) -> None:
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(
            f"image too large to decode safely: {width}x{height} pixels "
            f"(limit {MAX_PIXELS:,})"
        )


def _to_rgb(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = arr.max() if arr.size else 0
        scale = 255.0 / (65535.0 if peak > 255 else max(peak, 1.0))
        gray = np.clip(arr * scale, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        gray = np.clip(arr if arr.max() > 1.0 else arr * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def _limit_side(rgb: np.ndarray, max_side: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return rgb
    import cv2

    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
