"""The remote engine (``stash-sense serve`` on 127.0.0.1) behind the plugin as Stash runs it, and its
faults: wrong token, unreachable, expired TLS certificate, older protocol, oversized request, slow
client, busy engine, engine restarted mid-run. The plugin's own data folder holds no database: every
answer comes from the engine's."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)
from remote_env import engine_data_dir, start_engine

from stash_sense.contracts import EngineUnreachable, ServiceError
from stash_sense.service import databases
from stash_sense.service.remote_client import RemoteService
from stash_sense.service.wire import PREFIX, PROTOCOL_VERSION, recv_message, send_message


def blair_photo() -> Path:
    import os

    folder = Path(os.environ.get("STASH_SENSE_SHARED", "../shared")) / "datasets" / "lfw_deepfunneled" / "Tony_Blair"
    return sorted(folder.glob("*.jpg"))[0]


@pytest.fixture
def remote(reference_db, tmp_path):
    process = start_engine(engine_data_dir(tmp_path / "engine-data", reference_db))
    yield process
    process.stop()


def top_names(output: dict) -> set[str]:
    return {p["candidates"][0]["name"] for p in output["persons"] if not p["unknown"]}


def test_click_and_bulk_task_use_the_remote_engine(empty_stash, remote):
    engine = remote
    assert not databases.database_paths()  # the plugin side has no database at all
    empty_stash.configure(engine.settings())
    run = empty_stash.run({"mode": "identify_gallery", "gallery_id": empty_stash.gallery("Rumsfeld and Chirac")})
    out = run.output
    assert top_names(out) == {"Donald Rumsfeld", "Jacques Chirac"}
    assert out["database"] == {"version": "demo", "performers": 6} and out["images"] == 6
    assert all(p["crop"].startswith("data:image/jpeg;base64,") for p in out["persons"])  # made by the engine
    assert any("(remote)" in line for line in run.logs("i"))
    assert out["engine"]["mode"] == "remote" and out["engine"]["provider"]["provider"] == "CPUExecutionProvider"
    before = empty_stash.links()
    bulk = empty_stash.run({"mode": "bulk_galleries"}).output
    assert bulk["added"] >= 3 and bulk["failed_galleries"] == [], bulk
    assert empty_stash.links() > before
    assert "Jacques Chirac" in empty_stash.gallery_performers("Rumsfeld and Chirac")
    refused = empty_stash.run({"mode": "download_db"}).error  # would fill the plugin's folder, not the engine's
    assert f"uses the engine at {engine.url}" in refused and "stash-sense db download" in refused
    assert not databases.database_paths()


def test_wrong_token_unreachable_engine_and_no_database_say_which_url_and_write_nothing(empty_stash, remote,
                                                                                         tmp_path):
    engine = remote
    before = empty_stash.links()
    empty_stash.configure({**engine.settings(), "engineToken": "not-the-token"})
    for args in ({"mode": "identify_gallery", "gallery_id": empty_stash.gallery("Rumsfeld and Chirac")},
                 {"mode": "bulk_galleries"}):
        error = empty_stash.run(args).error
        assert error.startswith(f"Stash Sense engine at {engine.url}: wrong engine token"), error
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    empty_stash.configure({"engineUrl": f"tcp://127.0.0.1:{port}", "engineToken": engine.token})
    error = empty_stash.run({"mode": "bulk_galleries"}).error
    assert error.startswith(f"Stash Sense engine at tcp://127.0.0.1:{port}: cannot connect"), error
    bare = start_engine(engine_data_dir(tmp_path / "bare-engine", None))
    try:
        empty_stash.configure(bare.settings())
        error = empty_stash.run({"mode": "identify_gallery",
                                 "gallery_id": empty_stash.gallery("Rumsfeld and Chirac")}).error
        assert error.startswith("No face database") and "on the engine" in error, error
    finally:
        bare.stop()
    assert empty_stash.links() == before


def test_protocol_versions_are_checked_both_ways(remote):
    engine = remote
    with socket.create_connection(("127.0.0.1", engine.port)) as sock:  # a plugin of another version
        send_message(sock, {"op": "hello", "token": engine.token, "protocol": PROTOCOL_VERSION - 1})
        reply, _ = recv_message(sock)
    assert reply["code"] == "protocol" and "same Stash Sense version" in reply["error"]
    old = _old_engine()  # an engine from before the remote protocol: it does not know "hello"
    try:
        with pytest.raises(EngineUnreachable, match=r"engine is older than this plugin .*pip install -U"):
            RemoteService(f"tcp://127.0.0.1:{old.getsockname()[1]}", "token")
    finally:
        old.close()


def _old_engine() -> socket.socket:
    """A listener answering every request as a protocol-1 worker answers an unknown operation."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            recv_message(conn)
            send_message(conn, {"ok": False, "error": "unknown operation 'hello'"})

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_oversized_request_is_refused_before_it_is_read(reference_db, tmp_path):
    small = start_engine(engine_data_dir(tmp_path / "engine", reference_db), "--max-request-mb", "1")
    try:
        with socket.create_connection(("127.0.0.1", small.port)) as sock:
            send_message(sock, {"op": "hello", "token": small.token, "protocol": PROTOCOL_VERSION})
            assert recv_message(sock)[0]["ok"]
            sock.sendall(PREFIX.pack(2, 1) + b"{}" + (8 * 1024 * 1024).to_bytes(8, "big"))  # announces 8 MB
            reply, _ = recv_message(sock)
        assert reply["code"] == "too_large" and "exceeds the 1048576 byte limit" in reply["error"]
        service = RemoteService(small.url, small.token)
        with pytest.raises(ServiceError, match=r"over the engine's limit of 1 MB"):
            service.identify([("big", b"\xff\xd8\xff" + bytes(2 * 1024 * 1024))])
        assert service.analyze([("blair", str(blair_photo()))])[0]["faces"]  # the connection still works
    finally:
        small.stop()


def test_slow_client_holds_a_thread_not_the_engine(reference_db, tmp_path):
    quick = start_engine(engine_data_dir(tmp_path / "engine", reference_db), "--client-timeout", "1")
    try:
        stalled = socket.create_connection(("127.0.0.1", quick.port))
        send_message(stalled, {"op": "hello", "token": quick.token, "protocol": PROTOCOL_VERSION})
        recv_message(stalled)
        stalled.sendall(PREFIX.pack(100, 0) + b'{"op":')  # then nothing more
        service = RemoteService(quick.url, quick.token)  # served meanwhile
        assert service.analyze([("blair", str(blair_photo()))])[0]["faces"]
        stalled.settimeout(30)
        assert stalled.recv(1) == b""  # the engine hung up on the stalled client
        stalled.close()
    finally:
        quick.stop()


def _certificate(folder: Path, expired: bool) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made with the openssl command (expired: 2020)."""
    folder.mkdir(parents=True)
    key, cert = folder / "key.pem", folder / "cert.pem"
    san = "subjectAltName=IP:127.0.0.1"
    if not expired:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-subj", "/CN=127.0.0.1", "-days", "2", "-addext", san], check=True, capture_output=True)
        return cert, key
    (folder / "ca").mkdir()
    (folder / "ca" / "index.txt").write_text("")
    (folder / "ca" / "serial").write_text("01\n")
    (folder / "ca.cnf").write_text(f"[ca]\ndefault_ca = d\n[d]\ndir = {folder}/ca\ndatabase = {folder}/ca/index.txt\n"
                                   f"new_certs_dir = {folder}/ca\nserial = {folder}/ca/serial\ndefault_md = sha256\n"
                                   "policy = p\ncopy_extensions = copy\n[p]\ncommonName = supplied\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                    folder / "req.csr", "-subj", "/CN=127.0.0.1", "-addext", san], check=True, capture_output=True)
    subprocess.run(["openssl", "ca", "-batch", "-config", folder / "ca.cnf", "-selfsign", "-keyfile", key,
                    "-in", folder / "req.csr", "-out", cert, "-startdate", "20200101000000Z",
                    "-enddate", "20200102000000Z", "-notext"], check=True, capture_output=True)
    return cert, key


def test_tls_with_a_valid_and_an_expired_certificate(reference_db, tmp_path):
    data = engine_data_dir(tmp_path / "engine", reference_db)
    for expired in (False, True):
        cert, key = _certificate(tmp_path / f"tls-{expired}", expired)
        tls = start_engine(data, "--tls-cert", str(cert), "--tls-key", str(key))
        try:
            assert tls.url.startswith("tls://")
            url = f"tls://127.0.0.1:{tls.port}?ca={cert}"
            if expired:
                with pytest.raises(EngineUnreachable, match=r"TLS certificate rejected: certificate has expired"):
                    RemoteService(url, tls.token)
            else:
                assert RemoteService(url, tls.token).database_version() == "demo"
                with pytest.raises(EngineUnreachable, match=r"TLS certificate rejected"):  # not trusted without ca
                    RemoteService(f"tls://127.0.0.1:{tls.port}", tls.token)
                with pytest.raises(EngineUnreachable, match=r"no answer to the hello"):  # plain client, TLS engine
                    RemoteService(f"tcp://127.0.0.1:{tls.port}", tls.token)
        finally:
            tls.stop()


def test_busy_engine_answers_busy_at_once(reference_db, tmp_path, monkeypatch):
    """With no waiting room (--queue 0) a second request during a long one is answered "busy"; the
    client waits and retries a bounded number of times, then says so."""
    engine = start_engine(engine_data_dir(tmp_path / "engine", reference_db), "--queue", "0")
    monkeypatch.setenv("STASH_SENSE_ENGINE_RETRIES", "1")
    monkeypatch.setenv("STASH_SENSE_ENGINE_RETRY_WAIT", "0")
    try:
        photos = [("p", str(blair_photo()))] * 150
        long_call = threading.Thread(target=lambda: RemoteService(engine.url, engine.token).analyze(photos))
        second = RemoteService(engine.url, engine.token)
        long_call.start()
        time.sleep(1.0)  # not a timing assertion: gives the long request time to take the engine
        try:
            with pytest.raises(EngineUnreachable, match=r"the engine is busy .* gave up after 2 attempts"):
                second.analyze([("blair", str(blair_photo()))])
        finally:
            long_call.join()
        assert second.analyze([("blair", str(blair_photo()))])[0]["faces"]
    finally:
        engine.stop()


def test_engine_restarted_mid_run_bulk_task_retries_then_stops_resumably(empty_stash, reference_db, tmp_path,
                                                                          monkeypatch):
    """The engine is killed after the first gallery: the bulk run retries a bounded number of times,
    stops with a message saying so (nothing written for the gallery it was on), and the next run,
    with the engine back, resumes where it stopped and finishes."""
    from stash_sense.jobs.galleries import run_bulk
    from stash_sense.jobs.options import BulkOptions
    from stash_sense.library.journal import Journal
    from stash_sense.stash.client import StashClient

    data = engine_data_dir(tmp_path / "engine", reference_db)
    engine = start_engine(data)
    monkeypatch.setenv("STASH_SENSE_ENGINE_RETRIES", "2")
    monkeypatch.setenv("STASH_SENSE_ENGINE_RETRY_WAIT", "0.2")
    client = StashClient.from_plugin_input(empty_stash.server.server_connection())
    service = RemoteService(engine.url, engine.token)
    calls = {"n": 0}
    identify_analyzed = service.identify_analyzed

    def then_kill(analyzed):  # the engine dies right after answering the first gallery
        result = identify_analyzed(analyzed)
        calls["n"] += 1
        if calls["n"] == 1:
            engine.stop()
        return result

    service.identify_analyzed = then_kill  # type: ignore[method-assign]
    options = BulkOptions(auto=0.6, review=0.5, pack="test-mbf128")
    journal = Journal()
    try:
        with pytest.raises(EngineUnreachable, match=r"gave up after 3 attempts.*run it again to resume"):
            run_bulk(client, journal, service, options)
        written = empty_stash.links()
        restarted = start_engine(data, port=engine.port)  # same data folder: same token, same port
        try:
            summary = run_bulk(client, journal, service, options)  # the same client reconnects by itself
        finally:
            restarted.stop()
    finally:
        engine.stop()
    assert summary["resumed"] and summary["errors"] == 0, summary
    assert empty_stash.links() >= written
