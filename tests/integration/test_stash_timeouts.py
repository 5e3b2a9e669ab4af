"""Every GraphQL request is bounded in time; reads are retried, writes are sent once."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from plugin_env import *  # noqa: F403  (fixtures: empty_stash)

from stash_sense.stash import session as session_mod
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashServerError, StashTimeout

TAG_CREATE = "mutation($n: String!) { tagCreate(input: {name: $n}) { id } }"


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setenv("STASH_SENSE_STASH_TIMEOUT", "1")
    monkeypatch.setattr(session_mod, "RETRY_PAUSE_S", 0.0)


def test_a_hung_stash_is_given_up_on_with_a_clear_error(quick):
    """A server that accepts the connection and never answers (a hung Stash)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        done: list[BaseException] = []
        caller = threading.Thread(target=lambda: _connect(listener.getsockname()[1], done), daemon=True)
        caller.start()
        caller.join(60)  # without a timeout the call would never return
        assert not caller.is_alive(), "the request to a hung Stash never returned"
        assert isinstance(done[0], StashTimeout) and "did not answer within 1s" in str(done[0])
    finally:
        stop.set()
        thread.join()
        listener.close()
        for sock in accepted:
            sock.close()


def _connect(port: int, out: list) -> None:
    try:
        StashClient({"Scheme": "http", "Host": "127.0.0.1", "Port": port})
    except BaseException as exc:  # noqa: BLE001  (handed to the test thread)
        out.append(exc)


class Flaky:
    """The demo Stash failing the next ``n`` requests of a kind: hanging past the timeout or HTTP 500."""

    def __init__(self, server, monkeypatch):
        self.original, self.fail, self.calls = server.execute, {}, []
        monkeypatch.setattr(server, "execute", self.execute)

    def execute(self, query, variables=None, *args, **kwargs):
        kind = "write" if query.lstrip().startswith("mutation") else "read"
        self.calls.append(kind)
        how = self.fail.get(kind)
        if how and how[1] > 0:
            self.fail[kind] = (how[0], how[1] - 1)
            if how[0] == "hang":
                time.sleep(5)
            else:
                return 500, {"data": None}
        return self.original(query, variables, *args, **kwargs)


def test_reads_are_retried_and_writes_are_not(empty_stash, monkeypatch):
    client = StashClient.from_plugin_input(empty_stash.server.server_connection())
    monkeypatch.setenv("STASH_SENSE_STASH_TIMEOUT", "2")  # after the client's start-up queries
    monkeypatch.setattr(session_mod, "RETRY_PAUSE_S", 0.0)
    flaky = Flaky(empty_stash.server, monkeypatch)

    flaky.fail = {"read": ("hang", 1)}
    assert client.find_gallery(empty_stash.gallery("Blair solo"))["title"] == "Blair solo"
    assert flaky.calls == ["read", "read"]  # timed out once, answered the second time

    flaky.calls, flaky.fail = [], {"read": ("500", 2)}
    assert client.find_tag_by_name("nothing") is None
    assert flaky.calls == ["read"] * 3

    flaky.calls, flaky.fail = [], {"read": ("500", 3)}
    with pytest.raises(StashServerError):
        client.find_tag_by_name("nothing")
    assert flaky.calls == ["read"] * 3  # bounded: three attempts, then the error

    flaky.calls, flaky.fail = [], {"write": ("hang", 1)}
    with pytest.raises(StashTimeout):
        client.call(TAG_CREATE, {"n": "once"})
    flaky.calls, flaky.fail = [], {"write": ("500", 1)}
    with pytest.raises(StashServerError):
        client.call(TAG_CREATE, {"n": "twice"})
    assert flaky.calls == ["write"]  # never resent: a retried write could apply twice
