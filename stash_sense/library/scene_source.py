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
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashError


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
    """The request headers that let FFmpeg read a Stash URL as the plugin: its API key, or the
    newest session cookie (the one it started with expires after Stash's ``max_session_age``)."""
    return client.auth_headers()


def video_source(client: StashClient, scene: dict, remote: bool = False) -> tuple[str, dict[str, str] | None]:
    """(path or stream URL, headers for the URL); raises StashError for a scene without a file.

    ``remote``: the engine runs elsewhere and reads the stream itself (it sees none of our files).
    """
    if not remote:
        quiet_video_logs()
    file = primary_file(scene)
    if not file:
        raise StashError(f"Scene {scene['id']} has no video file")
    path = file.get("path")
    if not remote and path and os.path.isfile(path) and os.access(path, os.R_OK):
        return path, None
    stream = f"/scene/{scene['id']}/stream"
    seen_by_engine = os.environ.get("STASH_SENSE_ENGINE_STASH_URL", "").strip().rstrip("/") if remote else ""
    return (f"{seen_by_engine}{stream}" if seen_by_engine else client.url_for(stream)), auth_headers(client)


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


RASTER_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
ISO_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1")


def is_raster_image(data: bytes) -> bool:
    """The bytes start like a bitmap format (JPEG, PNG, GIF, BMP, TIFF, WebP, AVIF/HEIF); SVG and HTML do not.

    By file signature rather than by decoding: the plugin's light side (remote engine) has no Pillow,
    and the engine decodes (and reports) the picture anyway.
    """
    if data.startswith(RASTER_SIGNATURES):
        return True
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    return data[4:8] == b"ftyp" and data[8:12] in ISO_IMAGE_BRANDS


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
