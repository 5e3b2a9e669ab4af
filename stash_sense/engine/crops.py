"""Small JPEG crops of faces (the picture the UI shows beside the candidates).

Made where the pixels are: the plugin with a local engine, the engine itself when it is remote
(the plugin's light side has neither numpy nor Pillow).
"""

from __future__ import annotations

import base64
import io

CROP_SIZE = 112
CROP_MARGIN = 0.25  # extra context around the detector box, per side


def face_crop(source, box: list[float] | None, size: int = CROP_SIZE) -> str | None:
    """A JPEG data URL of one face; decoded with the engine's loader so the box lines up (EXIF, size cap)."""
    if not box or source is None:
        return None
    try:
        from stash_sense.engine.imageio import load_rgb

        rgb = load_rgb(source)
    except Exception:
        return None
    return crop_rgb(rgb, box, size)


def crop_rgb(rgb, box: list[float], size: int = CROP_SIZE) -> str | None:
    """A square crop around ``box`` with margin, as a JPEG data URL."""
    from PIL import Image

    x1, y1, x2, y2 = box[:4]
    side = max(x2 - x1, y2 - y1) * (1 + 2 * CROP_MARGIN)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    height, width = rgb.shape[:2]
    left, top = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
    right, bottom = min(width, int(cx + side / 2)), min(height, int(cy + side / 2))
    if right <= left or bottom <= top:
        return None
    crop = Image.fromarray(rgb[top:bottom, left:right])
    crop.thumbnail((size, size))
    buffer = io.BytesIO()
    crop.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
