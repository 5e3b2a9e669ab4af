"""Where the plugin reaches Stash: ``server_connection.Host`` as Stash sends it (``0.0.0.0``, ``::``, an
IPv6 literal), and performer images on the Stash we talk to, not on its external host."""

from __future__ import annotations

import socket
import socketserver
import threading

import pytest

from devtools.demo.seed import seed
from devtools.demo.server import DemoStash
from stash_sense.hosts import url_host
from stash_sense.jobs.enroll import performer_images
from stash_sense.stash.client import StashClient
from stash_sense.stash.connection import connection_from_plugin_input


@pytest.mark.parametrize(("host", "expected"), [("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("[::]", "[::1]"),
                                                ("::1", "[::1]"), ("fd00::5", "[fd00::5]"), ("[fd00::5]", "[fd00::5]"),
                                                ("127.0.0.1", "127.0.0.1"), ("stash.lan", "stash.lan"),
                                                ("", "localhost")])
def test_url_host(host, expected):
    assert url_host(host) == expected
    assert connection_from_plugin_input({"Host": host, "Port": 9999})["Host"] == expected


class _Forward(socketserver.BaseRequestHandler):
    """Bytes from [::1]:port to the demo Stash on 127.0.0.1 and back (the demo listens on IPv4 only)."""

    target: tuple[str, int]

    def handle(self):
        upstream = socket.create_connection(self.target)
        pumps = [threading.Thread(target=_pump, args=pair, daemon=True)
                 for pair in ((self.request, upstream), (upstream, self.request))]
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join()
        upstream.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class _V6Forwarder(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


@pytest.mark.parametrize("host", ["::", "::1"])
def test_stash_listening_on_ipv6(tmp_path, host):
    ids = seed(tmp_path / "stash.sqlite", galleries=[{"title": "G", "images": []}], performers=[])
    with DemoStash(tmp_path / "stash.sqlite", session="v6") as server:
        handler = type("Handler", (_Forward,), {"target": ("127.0.0.1", server.port)})
        forwarder = _V6Forwarder(("::1", 0), handler)
        threading.Thread(target=forwarder.serve_forever, daemon=True).start()
        try:
            conn = {**server.server_connection(), "Host": host, "Port": forwarder.server_address[1]}
            client = StashClient.from_plugin_input(conn)
            assert client.base_url == f"http://[::1]:{forwarder.server_address[1]}"
            assert client.find_gallery(ids["galleries"]["G"])["title"] == "G"
        finally:
            forwarder.shutdown()
            forwarder.server_close()


def test_performer_image_is_fetched_by_id_from_the_stash_we_talk_to():
    """``image_path`` carries Stash's external host and any reverse-proxy prefix; the route is rebuilt."""
    performer = {"id": "7", "image_path": "https://media.example.org/stash/performer/7/image?t=1700000000"}
    key, kind, path = next(performer_images(None, performer))
    assert (kind, path) == ("url", "/performer/7/image?t=1700000000")
    assert key == "performer:7:t=1700000000"
    plain = {"id": "8", "image_path": "http://localhost:9999/performer/8/image"}
    assert next(performer_images(None, plain))[2] == "/performer/8/image"
    no_image = performer_images(_NoImages(), {"id": "9", "image_path": "http://x/performer/9/image?default=true"})
    assert list(no_image) == []  # Stash's placeholder is no face


class _NoImages:
    """A library where the performer has no tagged images or galleries either."""

    def solo_images(self, performer_id, limit):
        return []

    def solo_galleries(self, performer_id, limit):
        return []
