"""The demo Stash where it used to differ from Stash: its version is set per test, it listens where
Stash's ``host`` says (IPv6 too, ``::`` taking IPv4 as well)."""

from __future__ import annotations

import socket

import pytest
import requests

from devtools.demo.seed import seed
from devtools.demo.server import DemoStash
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashTooOld


def test_version_is_settable(tmp_path):
    seed(tmp_path / "stash.sqlite", galleries=[], performers=[])
    with DemoStash(tmp_path / "stash.sqlite", session="v", version="v0.29.3") as server:
        assert server.query("{ version { version } }")["version"]["version"] == "v0.29.3"
        assert str(StashClient.from_plugin_input(server.server_connection()).stash.version).startswith("v0.29.3")
    with DemoStash(tmp_path / "stash.sqlite", session="v", version="v0.20.0") as server:
        with pytest.raises(StashTooOld, match="v0.20.0"):
            StashClient.from_plugin_input(server.server_connection())


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
@pytest.mark.parametrize("host, reachable", [("::1", ["[::1]"]), ("::", ["[::1]", "127.0.0.1"])])
def test_listens_on_ipv6(tmp_path, host, reachable):
    ids = seed(tmp_path / "stash.sqlite", galleries=[{"title": "G", "images": []}], performers=[])
    with DemoStash(tmp_path / "stash.sqlite", session="v6", host=host) as server:
        for address in reachable:
            answer = requests.post(f"http://{address}:{server.port}/graphql", cookies={"session": "v6"},
                                   json={"query": "{ version { version } }"}, timeout=10)
            assert answer.status_code == 200
        client = StashClient.from_plugin_input(server.server_connection(host=host))  # Host "::" / "::1"
        assert client.find_gallery(ids["galleries"]["G"])["title"] == "G"
