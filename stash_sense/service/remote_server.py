"""The remote engine: the local worker's protocol (``wire``) over TCP, for Stash in Docker or on
another machine than the one with the CPU cores or the GPU.

What a network adds to the local worker, and why:
- a shared token, checked in a ``hello`` before anything else (anyone on the network can connect);
  generated on first start into ``<data dir>/engine/token`` (0600) and printed with the plugin
  settings to paste;
- optional TLS (certificate + key files) so the token and the images do not cross a network in clear;
- a request size limit, checked against the sizes a message announces before its bytes are read;
- one request queue: engine work is serialised (the engine uses its cores itself); at most
  ``queue`` requests wait, beyond that a request is answered ``busy`` at once instead of piling up
  images in memory;
- a read timeout per message, so a slow or stalled client holds a thread, never the engine;
- the protocol version in ``hello``: an engine and a plugin of different protocol versions refuse
  each other with a message saying which to update.

Databases are loaded and reloaded exactly as by the local worker: ``Backend.refresh`` before every
request (the engine's own data folder, ``--data-dir``).
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from stash_sense import __version__
from stash_sense.service.backend import Backend, warm_backend
from stash_sense.service.errors import error_message
from stash_sense.service.items import join_items
from stash_sense.service.location import open_private
from stash_sense.service.versions import build_id
from stash_sense.service.wire import (
    PROTOCOL_VERSION,
    ConnectionClosed,
    MessageTooLarge,
    ProtocolError,
    recv_message,
    send_message,
)

log = logging.getLogger("stash_sense.service")
DEFAULT_PORT = 7860
DEFAULT_MAX_REQUEST_MB = 512
HELLO_LIMIT = 64 * 1024  # bytes: a hello is a token and a few numbers
POLL_SECONDS = 0.25
ENGINE_OPS = ("identify", "analyze", "identify_analyzed", "info", "analyze_video", "frame_crops", "image_crops")


@dataclass(frozen=True)
class Limits:
    max_request: int = DEFAULT_MAX_REQUEST_MB * 1024 * 1024  # bytes of one request (header + images)
    queue: int = 4  # requests that may wait while one runs; more are answered "busy"
    client_timeout: float = 60.0  # seconds a client may take to send one message


def token_file(data_dir: Path) -> Path:
    return data_dir / "engine" / "token"


def load_or_create_token(data_dir: Path) -> tuple[str, bool]:
    """(token, created now): the token the plugin must send; made on first start, kept 0600."""
    path = token_file(data_dir)
    if path.is_file():
        token = path.read_text().strip()
        if token:
            return token, False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    fd = open_private(path, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token, True


def tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A server context for the given PEM files; a clear error when they do not load."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load the TLS certificate {certfile} / key {keyfile}: {exc}") from exc
    return context


class RemoteServer:
    """Accepts connections on ``listener``; one thread per connection, one engine lock."""

    def __init__(self, backend: Backend, listener: socket.socket, token: str, limits: Limits = Limits(),
                 tls: ssl.SSLContext | None = None) -> None:
        self.backend = backend
        self.listener = listener
        self.token = token
        self.limits = limits
        self.tls = tls
        self.build = build_id()
        self.stopping = threading.Event()
        self.engine_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limits.queue + 1)

    def serve(self) -> None:
        self.listener.settimeout(POLL_SECONDS)
        while not self.stopping.is_set():
            try:
                conn, peer = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve_connection, args=(conn, peer), daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()

    def _serve_connection(self, raw: socket.socket, peer) -> None:
        raw.settimeout(self.limits.client_timeout)
        try:
            conn = self.tls.wrap_socket(raw, server_side=True) if self.tls else raw
        except (OSError, ssl.SSLError) as exc:
            log.info("TLS handshake with %s failed: %s", peer, exc)
            raw.close()
            return
        with conn:
            try:
                if not self._hello(conn, peer):
                    return
                self._requests(conn)
            except (ConnectionClosed, OSError):
                return
            except MessageTooLarge as exc:
                log.warning("refused a request from %s: %s", peer, exc)
                self._answer(conn, {"ok": False, "code": "too_large", "error": f"request refused: {exc}"})
            except ProtocolError as exc:
                log.info("dropped %s: %s", peer, exc)

    def _hello(self, conn: socket.socket, peer) -> bool:
        header, _ = recv_message(conn, HELLO_LIMIT)
        if header.get("op") != "hello":
            self._answer(conn, {"ok": False, "code": "hello", "error": "expected a hello with the engine token"})
            return False
        if not hmac.compare_digest(str(header.get("token", "")).encode(), self.token.encode()):
            log.warning("wrong engine token from %s", peer)
            self._answer(conn, {"ok": False, "code": "token", "error": "wrong engine token"})
            return False
        if header.get("protocol") != PROTOCOL_VERSION:
            self._answer(conn, {"ok": False, "code": "protocol", "protocol": PROTOCOL_VERSION,
                                "error": f"this engine speaks protocol {PROTOCOL_VERSION}, the plugin "
                                         f"{header.get('protocol')}: install the same Stash Sense version on both"})
            return False
        self._answer(conn, {"ok": True, "result": self.hello_info()})
        return True

    def hello_info(self) -> dict:
        return {"protocol": PROTOCOL_VERSION, "version": __version__, "build": self.build,
                "pack": self.backend.engine.pack.name, "max_request": self.limits.max_request}

    def _requests(self, conn: socket.socket) -> None:
        while not self.stopping.is_set():
            header, blobs = recv_message(conn, self.limits.max_request)
            self._answer(conn, self._dispatch(conn, header, blobs))

    def _answer(self, conn: socket.socket, reply: dict) -> None:
        try:
            send_message(conn, reply)
        except OSError:
            pass  # the client went away, and with it any wish for the answer

    def _dispatch(self, conn: socket.socket, header: dict, blobs: list[bytes]) -> dict:
        op = header.get("op")
        if op == "ping":
            return {"ok": True, "result": self.hello_info()}
        if op not in ENGINE_OPS:
            return {"ok": False, "error": f"unknown operation {op!r}"}
        if not self._slots.acquire(blocking=False):
            return {"ok": False, "code": "busy",
                    "error": f"the engine is busy ({self.limits.queue} requests already waiting); try again"}
        try:
            with self.engine_lock:
                return {"ok": True, "result": self._engine_op(conn, op, header, blobs)}
        except Exception as exc:  # the engine survives a bad request; the client raises ServiceError
            log.exception("%s failed", op)
            return {"ok": False, "error": error_message(exc)}
        finally:
            self._slots.release()

    def _engine_op(self, conn: socket.socket, op: str, header: dict, blobs: list[bytes]):
        from stash_sense.service import remote_ops

        progress = _progress_sender(conn) if header.get("progress") else None
        if op == "identify":
            items = join_items(header["items"], blobs)
            group = self.backend.identify(items, progress)
            return remote_ops.add_crops(group, items) if header.get("crops") else group
        if op == "analyze":
            return self.backend.analyze(join_items(header["items"], blobs), progress, bool(header.get("scene")))
        if op == "identify_analyzed":
            return self.backend.identify_analyzed(header["analyzed"])
        if op == "analyze_video":
            return remote_ops.analyze_video(self.backend, header["video"], blobs[0] if blobs else None)
        if op == "frame_crops":
            return remote_ops.frame_crops(header["video"])
        if op == "image_crops":
            return remote_ops.image_crops(join_items(header["items"], blobs), header["boxes"])
        return {**self.backend.info(), **self.hello_info(), **remote_ops.engine_facts(self.backend)}


def _progress_sender(conn: socket.socket):
    def send(done: int) -> None:
        send_message(conn, {"progress": done})
    return send


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep:
        host, port = listen, str(DEFAULT_PORT)
    try:
        return host.strip("[]") or "0.0.0.0", int(port)
    except ValueError as exc:
        raise ValueError(f"--listen wants HOST:PORT, not {listen!r}") from exc


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(32)
    return listener


def paste_text(url: str, token: str, created: bool) -> str:
    """What the person starting the engine copies into Stash (printed on stdout at start)."""
    return (f"Stash Sense engine listening ({'new' if created else 'existing'} token).\n"
            "In Stash: Settings > Plugins > Stash Sense, set\n"
            f"  Engine URL:   {url}\n"
            f"  Engine token: {token}\n")


def advertised_url(host: str, port: int, tls: bool) -> str:
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    return f"{'tls' if tls else 'tcp'}://{shown}:{port}"


def run(listen: str, pack: str, threads: int, data_dir: str | None, certfile: str | None = None,
        keyfile: str | None = None, limits: Limits = Limits()) -> int:
    """``stash-sense serve``: load the engine and databases, then answer until SIGTERM/SIGINT."""
    import signal
    import sys

    from stash_sense import paths

    if data_dir:
        os.environ["STASH_SENSE_DATA_DIR"] = data_dir  # databases and models resolve from the same folder
    if bool(certfile) != bool(keyfile):
        raise ValueError("TLS needs both --tls-cert and --tls-key")
    tls = tls_context(certfile, keyfile) if certfile and keyfile else None
    host, port = parse_listen(listen)
    token, created = load_or_create_token(Path(data_dir) if data_dir else paths.data_dir())
    backend = warm_backend(pack, threads)
    listener = bind(host, port)
    server = RemoteServer(backend, listener, token, limits, tls)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stop())
    sys.stdout.write(paste_text(advertised_url(host, listener.getsockname()[1], tls is not None), token, created))
    sys.stdout.flush()
    try:
        server.serve()
    finally:
        listener.close()
        backend.close()
    return 0
