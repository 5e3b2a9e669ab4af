"""Where a scene's pixels come from: its video file, Stash's stream, its screenshot, one frame.

Stash runs the plugin on its own machine, so the scene's file path is normally readable and the
video is sampled straight from disk (seeks are local reads). When it is not (another container,
permissions, a file moved since the scan) the same sampling goes over Stash's
``/scene/{id}/stream`` with the plugin's session cookie (or API key): OpenCV's FFmpeg seeks with
Range requests, so only the sampled stretches are transferred.
"""

from __future__ import annotations

import os

from stash_sense.library.images import crop_rgb
from stash_sense.stash.client import StashClient, StashError


def quiet_video_logs() -> None:
    """Keep FFmpeg's and OpenCV's own stderr lines out of Stash's log.

    The plugin's stderr *is* Stash's log, in a line protocol; FFmpeg writes bare C-level lines there
    (``[mov @ 0x...] partial file``), which Stash would show as errors for every odd file. The
    failures that matter come back as ``VideoError`` messages instead. Both variables are read when
    OpenCV's FFmpeg backend starts, i.e. before the first capture of the process.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    try:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except (ImportError, AttributeError):
        pass


def primary_file(scene: dict) -> dict:
    files = scene.get("files") or []
    return files[0] if files else {}


def auth_headers(client: StashClient) -> dict[str, str]:
    """The request headers that let FFmpeg read a Stash URL as the plugin (cookie and/or API key)."""
    headers: dict[str, str] = {}
    cookie = client.conn.get("SessionCookie") or {}
    if cookie.get("Value"):
        headers["Cookie"] = f"{cookie.get('Name') or 'session'}={cookie['Value']}"
    if client.conn.get("ApiKey"):
        headers["ApiKey"] = str(client.conn["ApiKey"])
    return headers


def video_source(client: StashClient, scene: dict) -> tuple[str, dict[str, str] | None]:
    """(path or stream URL, headers for the URL); raises StashError for a scene without a file."""
    quiet_video_logs()
    file = primary_file(scene)
    if not file:
        raise StashError(f"Scene {scene['id']} has no video file")
    path = file.get("path")
    if path and os.path.isfile(path) and os.access(path, os.R_OK):
        return path, None
    return client.url_for(f"/scene/{scene['id']}/stream"), auth_headers(client)


def screenshot(client: StashClient, scene: dict) -> bytes | None:
    """Stash's screenshot (a generated frame, often the cover); None when there is none.

    A scene without a cover gets Stash's default SVG placeholder (HTTP 200), which is no picture
    of anyone: anything that is not a raster image is skipped quietly, not reported as unreadable.
    """
    try:
        data = client.fetch(f"/scene/{scene['id']}/screenshot", what=f"the screenshot of scene {scene['id']}")
    except StashError:
        return None
    return data if is_raster_image(data) else None


def is_raster_image(data: bytes) -> bool:
    """Pillow recognises the bytes as a bitmap format (JPEG, PNG, WebP, ...); SVG and HTML are not."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return bool(image.format)
    except (UnidentifiedImageError, OSError, ValueError):
        return False


def frame_crop(video: str, headers: dict | None, info, time: float, box: list[float] | None) -> str | None:
    """The face at ``box`` (video pixels) in the frame at ``time``, as a small JPEG data URL.

    The scene analysis lets go of its frames' pixels early (60 frames are ~170 MB), so the one
    frame a crop needs is decoded again: one seek per person.
    """
    if not box or time is None:
        return None
    from stash_sense.engine.video import VideoError, read_frames

    try:
        frames, _ = read_frames(video, [time], info, headers, workers=1, snap=False)
    except VideoError:
        return None
    frame = frames[0]
    return crop_rgb(frame.image, [v * frame.scale for v in box[:4]])
