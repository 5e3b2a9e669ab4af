"""Scenes for the plugin tests: short low-res videos of real faces (bench.scene_videos) seeded into
the demo Stash, with the truth of who is on screen when.

The two people are demo identities whose reference photos (0-3) are in the reference database; the
videos use photos 12-15, which no gallery and no reference uses.
"""

from __future__ import annotations

from pathlib import Path

from bench.scene_videos import Appearance, SceneSpec, range_iou, write_scene
from devtools.demo.scenario import lfw_dir
from devtools.demo.seed import seed
from stash_sense.engine.builder import build_database
from stash_sense.engine.database import load_database
from stash_sense.engine.identify import Identifier

__all__ = ["BLAIR", "COOKIE", "POWELL", "TRUTH", "lfw_identifier", "range_iou", "seed_scenes",
           "serve_behind_cookie", "two_people_video", "webm_two_people_video"]

BLAIR, POWELL = "Tony Blair", "Colin Powell"
COOKIE = "session=abc|1; theme='dark'"  # separators and quotes must survive FFmpeg's options string
TRUTH = {BLAIR: [(0.0, 4.0)], POWELL: [(3.0, 8.0)]}  # seconds on screen in the 10 s video


def serve_behind_cookie(httpserver, path: str, data: bytes, ranges: list | None = None) -> str:
    """Serve a video the way Stash's stream endpoint does: 401 without the session ``COOKIE``,
    Range requests answered (each request's Range header appended to ``ranges``). Returns the
    URL with an ``apikey`` query that must never appear in an error message."""
    from werkzeug import Response

    def stream(request):
        if ranges is not None:
            ranges.append(request.headers.get("Range"))
        if request.headers.get("Cookie") != COOKIE:
            return Response("login required", status=401)
        return Response(data, mimetype="video/mp4").make_conditional(
            request, accept_ranges=True, complete_length=len(data))

    httpserver.expect_request(path).respond_with_handler(stream)
    return httpserver.url_for(path) + "?apikey=SECRET"


def lfw_identifier(engine, names: list[str], folder: Path) -> Identifier:
    """An identifier over a local database of photos 0-2 of each LFW identity (scene videos use later ones)."""
    identities = {f"local:{name}": sorted((lfw_dir() / name).glob("*.jpg"))[:3] for name in names}
    build_database(engine, identities, {}, folder)
    return Identifier(engine, [load_database(folder, engine.pack)])


def _photos(folder: str) -> list[Path]:
    return sorted((lfw_dir() / folder).glob("*.jpg"))[12:16]


def two_people_video(path: Path) -> Path:
    """Blair 0-4 s (left), Powell 3-8 s (right), nobody 8-10 s; 480x270, 5 fps."""
    spec = SceneSpec(size=(480, 270), duration=10.0, fps=5, appearances=[
        Appearance("Tony_Blair", 0, 4, _photos("Tony_Blair"), slot=0),
        Appearance("Colin_Powell", 3, 8, _photos("Colin_Powell"), slot=1)])
    return write_scene(spec, path)


def seed_scenes(db_path: Path, scenes: list[dict]) -> dict[str, str]:
    """Add scenes (``{"title", "path", "performers"?}``) to a seeded demo Stash; title -> id."""
    return seed(db_path, [], [], scenes=scenes)["scenes"]


def webm_two_people_video(path: Path) -> Path:
    """``two_people_video`` as VP8 WebM, which a browser's <video> can play (MPEG-4 Part 2 it cannot)."""
    spec = SceneSpec(size=(480, 270), duration=10.0, fps=5, fourcc="VP80", appearances=[
        Appearance("Tony_Blair", 0, 4, _photos("Tony_Blair"), slot=0),
        Appearance("Colin_Powell", 3, 8, _photos("Colin_Powell"), slot=1)])
    return write_scene(spec, path)
