"""A scene without a cover: Stash answers its screenshot URL with its default SVG placeholder
(HTTP 200, image/svg+xml). That is skipped quietly, not handed to the engine as an unreadable image."""

from __future__ import annotations

from conftest import LFW

from devtools.demo.seed import seed
from devtools.demo.server import DemoStash
from stash_sense.library.scene_source import is_raster_image, screenshot
from stash_sense.stash.client import StashClient

# The shape of Stash's default scene image (a vector placeholder, no pixels of anyone).
DEFAULT_SVG = (b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
               b'viewBox="0 0 640 360"><rect width="640" height="360" fill="#30404d"/></svg>\n')


def test_default_svg_screenshot_is_skipped_and_a_jpeg_is_kept(tmp_path, httpserver):
    photo = sorted((LFW / "Tony_Blair").glob("*.jpg"))[0].read_bytes()
    httpserver.expect_request("/scene/1/screenshot").respond_with_data(DEFAULT_SVG, content_type="image/svg+xml")
    httpserver.expect_request("/scene/2/screenshot").respond_with_data(photo, content_type="image/jpeg")
    seed(tmp_path / "stash.sqlite", galleries=[], performers=[])
    with DemoStash(tmp_path / "stash.sqlite", session="shot") as server:
        client = StashClient.from_plugin_input(server.server_connection())
        client.base_url = httpserver.url_for("").rstrip("/")  # Stash's media routes, answered as Stash does
        assert screenshot(client, {"id": "1"}) is None
        assert screenshot(client, {"id": "2"}) == photo
        assert screenshot(client, {"id": "3"}) is None  # an error answer: no screenshot, as before


def test_raster_check():
    photo = sorted((LFW / "Tony_Blair").glob("*.jpg"))[0].read_bytes()
    assert is_raster_image(photo)
    assert not is_raster_image(DEFAULT_SVG) and not is_raster_image(b"<html>login</html>") and not is_raster_image(b"")
