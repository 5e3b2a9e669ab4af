"""Media bytes the demo Stash serves: image files (zip members too), thumbnails, scene streams and
screenshots, performer images.

Why: the plugin fetches media over HTTP like it does from Stash, so these routes must return the
same kinds of bytes (a JPEG thumbnail, a frame for a screenshot, 404 where Stash has nothing).
"""

from __future__ import annotations

import base64
import io
import mimetypes
import os
import zipfile
from pathlib import Path

from .seed import connect


def read_file_bytes(db_path: str, kind: str, obj_id: int, what: str) -> tuple[bytes | None, str]:
    """Bytes for /image/{id}/image|thumbnail and /scene/{id}/stream (zip members read from the zip)."""
    conn = connect(db_path)
    try:
        if kind == "image" and what in ("image", "thumbnail"):
            row = conn.execute(
                "SELECT f.*, z.path zpath FROM images i JOIN files f ON f.id = i.file_id"
                " LEFT JOIN files z ON z.id = f.zip_file_id WHERE i.id = ?",
                (obj_id,),
            ).fetchone()
        elif kind == "performer" and what == "image":
            performer = conn.execute("SELECT image FROM performers WHERE id = ?", (obj_id,)).fetchone()
            return performer_image(performer["image"]) if performer else (None, "")
        elif kind == "scene" and what in ("stream", "screenshot"):
            row = conn.execute(
                "SELECT f.*, NULL zpath FROM scenes s JOIN files f ON f.id = s.file_id WHERE s.id = ?", (obj_id,)
            ).fetchone()
            if row is not None and what == "screenshot":
                return screenshot(row["path"])
        else:
            row = None
    finally:
        conn.close()
    if row is None:
        return None, ""
    try:
        if row["zpath"]:
            member = os.path.relpath(row["path"], row["zpath"]).replace(os.sep, "/")
            with zipfile.ZipFile(row["zpath"]) as zf:
                data = zf.read(member)
        else:
            data = Path(row["path"]).read_bytes()
    except (OSError, KeyError):
        return None, ""
    ctype = mimetypes.guess_type(row["basename"])[0] or "application/octet-stream"
    if what == "thumbnail":
        data, ctype = thumbnail(data), "image/jpeg"
    return data, ctype


# Stash answers an image-less performer with a placeholder (its image_path then says &default=true).
DEFAULT_PERFORMER_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 300"><rect width="200" height="300" fill="#394b59"/>'
    b'<circle cx="100" cy="105" r="50" fill="#8a9ba8"/><path d="M20 300c0-70 40-110 80-110s80 40 80 110z" '
    b'fill="#8a9ba8"/></svg>'
)


def performer_image(image: str | None) -> tuple[bytes | None, str]:
    """A performer's image as stored by performerCreate/seed: a data URL or a local file path; Stash's
    placeholder when there is none. Remote URLs (stash-box images) are not fetched by the demo (no
    network): such a performer has no image, as if Stash had not kept one.
    """
    if not has_image(image):
        return DEFAULT_PERFORMER_SVG, "image/svg+xml"
    if image.startswith("data:"):
        header, _, payload = image.partition(",")
        return base64.b64decode(payload), header[5:].split(";")[0] or "image/jpeg"
    return Path(image).read_bytes(), mimetypes.guess_type(image)[0] or "image/jpeg"


def has_image(image: str | None) -> bool:
    """Whether the demo can serve this stored performer image (a data URL or an existing local file)."""
    return bool(image) and (image.startswith("data:") or (os.path.isabs(image) and os.path.isfile(image)))


def screenshot(path: str) -> tuple[bytes | None, str]:
    """Like Stash's generated screenshot: the frame at 20% of the video, as JPEG (404 if undecodable)."""
    import cv2

    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(count * 0.2))
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        return None, ""
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes(), "image/jpeg"


def thumbnail(data: bytes, size: int = 640) -> bytes:
    """Downscaled JPEG, as Stash serves for /thumbnail; original bytes if Pillow cannot decode."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=85)
            return buf.getvalue()
    except Exception:
        return data
