"""Stash's sessions as real Stash runs them: a cookie stamped when the plugin starts, refreshed on
every answer, refused after ``max_session_age``; an API key that never expires.

Why: ``requests`` kept the first (host-less) cookie next to the refreshed one and sent it first;
Stash reads the first, so an hour into a bulk run every request was refused and image downloads
got the login page instead of pixels.
"""

from __future__ import annotations

import time

import pytest
import requests
from conftest import LFW
from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)

from devtools.demo.seed import seed
from devtools.demo.server import DemoStash
from stash_sense.library.images import image_source
from stash_sense.stash.client import StashClient

MAX_AGE = 2.0  # seconds: the demo's max_session_age, so a test outlives a cookie in seconds


@pytest.fixture
def sample_jpeg() -> str:
    return str(sorted((LFW / "Tony_Blair").glob("*.jpg"))[0])


def _one_gallery(tmp_path, image: str) -> dict:
    ids = seed(tmp_path / "stash.sqlite", galleries=[{"title": "G", "images": [image]}], performers=[])
    ids["image"] = ids["images"][image]
    return ids


def test_demo_refreshes_and_expires_sessions_like_stash(tmp_path, sample_jpeg):
    ids = _one_gallery(tmp_path, sample_jpeg)
    with DemoStash(tmp_path / "stash.sqlite", session=None, max_session_age=MAX_AGE) as server:
        first = server.server_connection()["SessionCookie"]["Value"]
        query = {"query": "{ version { version } }"}
        answer = requests.post(server.url + "/graphql", json=query, cookies={"session": first}, timeout=10)
        assert answer.status_code == 200
        fresh = answer.cookies.get("session")
        assert fresh and fresh != first  # refreshed on every answer
        time.sleep(MAX_AGE + 0.5)
        late = requests.post(server.url + "/graphql", json=query, cookies={"session": first}, timeout=10)
        assert late.status_code == 401
        image = f"{server.url}/image/{ids['image']}/image"
        login = requests.get(image, cookies={"session": first}, timeout=10, allow_redirects=False)
        assert login.status_code == 302 and "/login?returnURL=" in login.headers["Location"]
        followed = requests.get(image, cookies={"session": first}, timeout=10)
        assert followed.status_code == 200 and followed.headers["Content-Type"] == "text/html"  # the login page
        # Go reads the first session cookie of the header: a stale one in front is what counts
        both = {"Cookie": f"session={first}; session={server.sessions.issue()}"}
        assert requests.post(server.url + "/graphql", json=query, headers=both, timeout=10).status_code == 401


def test_client_outlives_its_first_cookie(tmp_path, sample_jpeg):
    """Requests spread over more than the max age, each within it: all pass, images stay images."""
    ids = _one_gallery(tmp_path, sample_jpeg)
    with DemoStash(tmp_path / "stash.sqlite", session=None, max_session_age=MAX_AGE) as server:
        client = StashClient.from_plugin_input(server.server_connection())
        first = client.conn["SessionCookie"]["Value"]
        started = time.monotonic()
        while time.monotonic() - started < 2.5 * MAX_AGE:
            assert client.find_gallery(ids["galleries"]["G"])["title"] == "G"
            time.sleep(MAX_AGE / 5)
        image = {"id": ids["image"], "visual_files": [{"path": "/not/mounted.jpg"}]}
        assert image_source(client, image)[:3] == b"\xff\xd8\xff"  # a JPEG, not the login page
        headers = client.auth_headers()  # what FFmpeg sends for a stream
        assert headers["Cookie"].startswith("session=") and first not in headers["Cookie"]
        assert server.sessions.valid(headers["Cookie"].split("=", 1)[1])


def test_api_key_is_used_when_stash_has_one(tmp_path, sample_jpeg):
    """With an API key set in Stash the plugin never depends on the cookie (which here expires at once)."""
    ids = _one_gallery(tmp_path, sample_jpeg)
    with DemoStash(tmp_path / "stash.sqlite", session=None, api_key="k3y", max_session_age=3) as server:
        client = StashClient.from_plugin_input(server.server_connection())
        server.sessions.max_age = 0.0  # every cookie from now on is too old
        assert client.find_gallery(ids["galleries"]["G"])["title"] == "G"
        assert client.auth_headers() == {"ApiKey": "k3y"}


def test_bulk_run_finishes_after_its_first_cookie_expired(stash):
    """Once a bulk task is under way every cookie is refused: it finishes on Stash's API key."""
    stash.server.api_key = "bulk-key"
    job_id = stash.server.start_plugin_task("stash_sense", None, None, {"mode": "bulk_galleries"})
    job = stash.server.jobs[job_id]
    while not job["progress"] and job["status"] in ("READY", "RUNNING"):
        time.sleep(0.02)
    assert job["status"] == "RUNNING", job  # the first gallery is done, the others are to come
    stash.server.sessions.max_age = 0.0  # from here on the plugin's cookie (or any) is too old
    job = stash.server.wait_job(job_id, timeout=600)
    assert job["status"] == "FINISHED", "\n".join(stash.server.logs())
    assert "Tony Blair" in stash.gallery_performers("Blair solo")
    assert {"Hugo Chavez", "Colin Powell"} <= stash.gallery_performers("Chavez, Powell and a stranger")


def test_an_expired_session_is_an_auth_error_not_a_login_page_as_image(tmp_path, sample_jpeg):
    from stash_sense.stash.errors import StashAuthError

    ids = _one_gallery(tmp_path, sample_jpeg)
    with DemoStash(tmp_path / "stash.sqlite", session=None, max_session_age=MAX_AGE) as server:
        client = StashClient.from_plugin_input(server.server_connection())
        server.sessions.max_age = 0.0  # the session has expired (no API key to fall back on)
        image = {"id": ids["image"], "visual_files": [{"path": "/not/mounted.jpg"}]}
        with pytest.raises(StashAuthError, match="expired"):
            image_source(client, image)
