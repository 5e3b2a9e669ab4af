"""Stash serving HTTPS with its own (self-signed) certificate, as Stash does when given one.

Why: Stash then sends ``Scheme: https`` and the plugin connects to 127.0.0.1, a name the certificate
cannot carry; with full verification every call failed ("Cannot reach Stash") and the bootstrap's
settings read failed silently.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import LFW
from plugin_env import run_plugin

from devtools.demo.seed import seed
from devtools.demo.server import DemoStash
from stash_sense.hosts import is_loopback, verify_certificate
from stash_sense.library.images import image_source
from stash_sense.stash.client import StashClient


@pytest.fixture
def certificate(tmp_path) -> tuple[str, str]:
    """A self-signed certificate for a name that is not 127.0.0.1, as a user's Stash has."""
    cert, key = tmp_path / "stash.crt", tmp_path / "stash.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=stash.home.example", "-keyout", str(key), "-out", str(cert)], check=True,
                   capture_output=True)
    return str(cert), str(key)


@pytest.fixture
def https_stash(tmp_path, certificate):
    image = str(sorted((LFW / "Tony_Blair").glob("*.jpg"))[0])
    ids = seed(tmp_path / "stash.sqlite", galleries=[{"title": "G", "images": [image]}], performers=[])
    with DemoStash(tmp_path / "stash.sqlite", session="tls", tls=certificate) as server:
        yield server, ids, ids["images"][image]


def test_client_reaches_stash_with_its_own_certificate_on_loopback(https_stash):
    server, ids, image_id = https_stash
    conn = server.server_connection()
    assert conn["Scheme"] == "https" and server.url.startswith("https://127.0.0.1:")
    client = StashClient.from_plugin_input(conn)
    assert client.find_gallery(ids["galleries"]["G"])["title"] == "G"
    pixels = image_source(client, {"id": image_id, "visual_files": [{"path": "/not/mounted.jpg"}]})
    assert pixels[:3] == b"\xff\xd8\xff"


def test_plugin_run_reaches_https_stash(https_stash):
    """The whole plugin as Stash starts it: bootstrap settings read, then the client."""
    server, ids, _ = https_stash
    server.query('mutation { configurePlugin(plugin_id: "stash_sense", input: {pythonPath: ""}) }')
    run = run_plugin(server.server_connection(), {"mode": "identify_gallery", "gallery_id": ids["galleries"]["G"]})
    assert "Cannot reach Stash" not in run.stdout and "CERTIFICATE" not in run.stderr.upper(), run.stderr
    assert "No face database" in run.result["error"]  # it got as far as looking for one


def test_bootstrap_reads_its_settings_from_https_stash(https_stash, monkeypatch):
    import stash_sense_plugin as boot

    monkeypatch.delenv("STASH_SENSE_PYTHON", raising=False)
    server, _, _ = https_stash
    server.query('mutation { configurePlugin(plugin_id: "stash_sense", input: {pythonPath: "/opt/py/bin/python3"}) }')
    assert boot.python_override({"server_connection": server.server_connection()}) == "/opt/py/bin/python3"
    assert is_loopback("127.0.0.2") and is_loopback("[::1]") and not is_loopback("10.0.0.1")


def test_a_remote_https_stash_is_still_verified():
    assert verify_certificate("https", "stash.home.example") and verify_certificate("https", "192.168.1.20")
    assert not verify_certificate("https", "127.0.0.1") and not verify_certificate("https", "[::1]")
    assert not verify_certificate("https", "localhost", verify_ssl=True)
