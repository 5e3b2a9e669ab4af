"""The plugin side of a remote engine (``stash-sense serve``): a ``Service`` over TCP or TLS.

Standard library only: with a remote engine the plugin's environment has no numpy, OpenCV,
onnxruntime or Pillow. Images the plugin can read from disk are sent as bytes (the engine shares no
filesystem with Stash); a scene's video is sampled by the engine from Stash's stream with the
plugin's session headers (see ``remote_ops``).

Failures say which URL and what failed (``EngineUnreachable``). A connection lost mid-request
(the engine restarted) and a "busy" answer are retried a bounded number of times with a pause;
a wrong token or another protocol version is never retried.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from stash_sense.contracts import EngineUnreachable, Item, Progress, Service, ServiceError
from stash_sense.service.items import split_items
from stash_sense.service.wire import PROTOCOL_VERSION, ProtocolError, final_reply, recv_message, send_message

log = logging.getLogger("stash_sense.service")
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 900.0  # seconds without a byte from the engine (progress messages count) before giving up
UPDATE_HINT = "install the same Stash Sense version on the engine (pip install -U \"stash-sense[engine]\")"


@dataclass(frozen=True)
class Endpoint:
    url: str  # as the user typed it (shown in messages)
    host: str
    port: int
    tls: bool
    ca: str | None  # a CA/certificate file to trust (a self-signed engine), from ``?ca=``


def parse_engine_url(url: str) -> Endpoint:
    """``host:port``, ``tcp://host:port`` or ``tls://host:port[?ca=/path/cert.pem]``."""
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"tcp://{text}")
    if parts.scheme not in ("tcp", "tls") or not parts.hostname:
        raise EngineUnreachable(f"Engine URL {url!r} is not tcp://HOST:PORT or tls://HOST:PORT")
    try:
        port = parts.port or 7860
    except ValueError as exc:
        raise EngineUnreachable(f"Engine URL {url!r}: {exc}") from exc
    found = parse_qs(parts.query).get("ca")
    ca = found[0] if found else None
    return Endpoint(text, parts.hostname, port, parts.scheme == "tls", ca)


def retry_policy() -> tuple[int, float]:
    """(attempts, pause in seconds) after a lost connection or a busy engine."""
    attempts = int(os.environ.get("STASH_SENSE_ENGINE_RETRIES", "6"))
    pause = float(os.environ.get("STASH_SENSE_ENGINE_RETRY_WAIT", "5"))
    return max(0, attempts), max(0.0, pause)


class _Busy(Exception):
    pass


class RemoteService(Service):
    """Connected (and the token checked) on construction: a bad setting fails before any Stash read."""

    mode = "remote"
    remote = True

    def __init__(self, url: str, token: str) -> None:
        self.endpoint = parse_engine_url(url)
        self.token = token
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.engine: dict = {}
        self._info: dict | None = None
        if not token:
            raise EngineUnreachable(f"Stash Sense engine at {self.endpoint.url}: no \"Engine token\" set "
                                    "(the engine prints it when it starts)")
        self._connect()

    # --- Service -------------------------------------------------------------------------------

    def identify(self, items: list[Item], progress: Progress | None = None) -> dict:
        refs, blobs = self._as_bytes(items)
        return self._call({"op": "identify", "items": refs, "progress": progress is not None, "crops": True},
                          blobs, progress)

    def analyze(self, items: list[Item], progress: Progress | None = None, scene: bool = False) -> list[dict]:
        refs, blobs = self._as_bytes(items)
        return self._call({"op": "analyze", "items": refs, "progress": progress is not None, "scene": scene},
                          blobs, progress)

    def identify_analyzed(self, analyzed: list[dict]) -> dict:
        return self._call({"op": "identify_analyzed", "analyzed": analyzed}, [], None)

    def info(self) -> dict:
        if self._info is None:
            self._info = {**self._call({"op": "info"}, [], None), "mode": self.mode, "url": self.endpoint.url}
        return self._info

    def database_version(self) -> str:
        return " + ".join(self.info().get("database_versions") or [])

    def pack_description(self) -> dict | None:
        return self.info().get("pack_description")

    def close(self) -> None:
        with self._lock:
            self._disconnect()

    # --- what only a remote engine does ----------------------------------------------------------

    def analyze_video(self, source: str, headers: dict | None, frames: int, duration: float | None,
                      screenshot: bytes | None) -> dict:
        """The engine samples ``source`` (Stash's stream URL) itself and analyses the frames."""
        video = {"source": source, "headers": headers, "frames": frames, "duration": duration}
        return self._call({"op": "analyze_video", "video": video}, [screenshot] if screenshot else [], None)

    def frame_crops(self, source: str, headers: dict | None, video: dict, crops: list[dict]) -> list:
        return self._call({"op": "frame_crops", "video": {"source": source, "headers": headers, "video": video,
                                                           "crops": crops}}, [], None)

    def image_crops(self, items: list[Item], boxes: list) -> list:
        refs, blobs = self._as_bytes(items)
        return self._call({"op": "image_crops", "items": refs, "boxes": boxes}, blobs, None)

    # --- connection --------------------------------------------------------------------------------

    def _fail(self, what: str) -> EngineUnreachable:
        return EngineUnreachable(f"Stash Sense engine at {self.endpoint.url}: {what}")

    def _connect(self) -> None:
        end = self.endpoint
        try:
            raw = socket.create_connection((end.host, end.port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise self._fail(f"cannot connect ({exc.strerror or exc})") from exc
        try:
            sock = self._tls_context().wrap_socket(raw, server_hostname=end.host) if end.tls else raw
        except ssl.SSLCertVerificationError as exc:
            raw.close()
            raise self._fail(f"TLS certificate rejected: {exc.verify_message or exc}") from exc
        except (ssl.SSLError, OSError) as exc:
            raw.close()
            raise self._fail(f"TLS handshake failed ({exc})") from exc
        sock.settimeout(READ_TIMEOUT)
        try:
            send_message(sock, {"op": "hello", "token": self.token, "protocol": PROTOCOL_VERSION})
            reply, _ = recv_message(sock)
        except (OSError, ProtocolError) as exc:
            sock.close()
            raise self._fail(f"no answer to the hello ({exc}); is this a Stash Sense engine"
                             + ("" if end.tls else ", or does it expect tls://") + "?") from exc
        if not reply.get("ok"):
            sock.close()
            raise self._fail(self._refusal(reply))
        self._sock, self.engine = sock, reply["result"]

    def _refusal(self, reply: dict) -> str:
        code, error = reply.get("code"), str(reply.get("error") or "")
        if code == "token":
            return "wrong engine token (compare the plugin setting \"Engine token\" with what the engine printed)"
        if code == "protocol" or "unknown operation 'hello'" in error:
            theirs = reply.get("protocol", "1 or older")
            age = "older" if isinstance(theirs, str) or theirs < PROTOCOL_VERSION else "newer"
            return (f"the engine is {age} than this plugin (engine protocol {theirs}, plugin {PROTOCOL_VERSION}): "
                    f"{UPDATE_HINT}")
        return f"refused the connection: {error}"

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.endpoint.ca:
            try:
                context.load_verify_locations(self.endpoint.ca)
            except (OSError, ssl.SSLError) as exc:
                raise self._fail(f"cannot read the certificate file {self.endpoint.ca} ({exc})") from exc
        return context

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _call(self, header: dict, blobs: list[bytes], progress: Progress | None):
        attempts, pause = retry_policy()
        with self._lock:
            for attempt in range(attempts + 1):
                try:
                    if self._sock is None:
                        self._connect()
                    return self._round_trip(header, blobs, progress)
                except _Busy as exc:
                    problem = str(exc)
                except (OSError, ProtocolError) as exc:
                    problem = f"connection lost ({exc})"
                    self._disconnect()
                except EngineUnreachable as exc:
                    if "cannot connect" not in str(exc) and "no answer" not in str(exc):
                        raise  # wrong token, other protocol, certificate: waiting changes nothing
                    problem = str(exc)
                if attempt < attempts:
                    log.warning("Stash Sense engine at %s: %s; retrying in %.0fs (%d of %d)", self.endpoint.url,
                                problem, pause, attempt + 1, attempts)
                    time.sleep(pause)
            raise self._fail(f"{problem}; gave up after {attempts + 1} attempts")

    def _round_trip(self, header: dict, blobs: list[bytes], progress: Progress | None):
        assert self._sock is not None
        limit = int(self.engine.get("max_request") or 0)
        size = sum(len(b) for b in blobs)
        if limit and size > limit:
            raise ServiceError(f"Stash Sense engine at {self.endpoint.url}: this request holds {size >> 20} MB of "
                               f"images, over the engine's limit of {limit >> 20} MB (its --max-request-mb); "
                               "lower \"Max images per gallery\" or raise the limit")
        send_message(self._sock, header, blobs)
        reply = final_reply(self._sock, progress)
        if reply.get("ok"):
            return reply["result"]
        if reply.get("code") == "busy":
                raise _Busy(reply.get("error") or "busy")
        raise ServiceError(f"Stash Sense engine at {self.endpoint.url}: "
                           f"{reply.get('error') or 'failed without a message'}")

    @staticmethod
    def _as_bytes(items: list[Item]) -> tuple[list[dict], list[bytes]]:
        """Paths are read here: the engine does not see this machine's files."""
        loaded: list[Item] = []
        for name, source in items:
            if isinstance(source, (bytes, bytearray, memoryview)):
                loaded.append((name, bytes(source)))
            else:
                try:
                    loaded.append((name, Path(source).read_bytes()))
                except OSError:
                    loaded.append((name, b""))  # the engine reports it as an unreadable image
        return split_items(loaded)
