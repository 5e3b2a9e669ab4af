"""What both scene decoders (OpenCV in ``video.py``, PyAV in ``keyframes.py``) take and give.

Its own module so that the two decoders share these types without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

OPEN_TIMEOUT_MS = 30_000
READ_TIMEOUT_MS = 30_000

VideoSource = str | Path


@dataclass(frozen=True)
class VideoInfo:
    source: str  # path, or URL without its query (may hold an API key)
    width: int  # display size, after rotation
    height: int
    fps: float  # average frame rate
    frame_count: int
    duration: float  # seconds
    rotation: int  # degrees of display rotation applied

    def to_dict(self) -> dict:
        return {**asdict(self), "fps": round(self.fps, 3), "duration": round(self.duration, 3)}


@dataclass
class Frame:
    """One decoded frame: RGB in display orientation, possibly downscaled by ``scale``."""

    time: float  # actual presentation time, seconds
    target: float  # the time that was asked for
    image: np.ndarray
    scale: float  # analysed pixels per video pixel (<= 1)
