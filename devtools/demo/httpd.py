"""The demo Stash's HTTP layer: POST /graphql, subscriptions, media routes and the web UI, with Stash's
authentication.

Why: the plugin talks to Stash over HTTP with a session cookie or an API key; answering the same
routes with the same status codes (401, 404, 206 ranges) is what makes the demo a faithful stand-in.
"""

from __future__ import annotations

import json
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from wsproto.utilities import generate_accept_token

from . import webui
from .sessions import first_cookie
from .websocket import SUBPROTOCOL, SubscriptionSession
from .webui import Reply

if TYPE_CHECKING:
    from .server import DemoStash


LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Login</title></head><body><form method=post>" \
    b"<input name=username><input name=password type=password></form></body></html>"


class Handler(BaseHTTPRequestHandler):
    server: HTTPServer
    protocol_version = "HTTP/1.1"
    # headers and body go out as two writes: with Nagle on, a kept-alive connection waits for the
    # client's delayed ACK (~40 ms) on every answer. Stash (Go) turns Nagle off too.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode())

    def _authorized(self) -> bool:
        """ApiKey header or ``apikey`` parameter, else the *first* session cookie (as Go reads it).

        A valid cookie is answered with a refreshed one (``Set-Cookie``), as Stash's session store
        re-saves the session on every authenticated request.
        """
        stash = self.server.stash
        self._set_cookie = None
        if stash.api_key:
            if self.headers.get("ApiKey") == stash.api_key:
                return True
            if parse_qs(urlsplit(self.path).query).get("apikey", [None])[0] == stash.api_key:
                return True
        if not stash.sessions.valid(first_cookie(self.headers.get("Cookie"))):
            return False
        self._set_cookie = stash.sessions.set_cookie_header()
        return True

    def end_headers(self) -> None:
        if getattr(self, "_set_cookie", None):
            self.send_header("Set-Cookie", self._set_cookie)
            self._set_cookie = None
        super().end_headers()

    def _to_login(self) -> None:
        """Stash redirects an unauthenticated page or media request to its login page (302)."""
        target = self._prefix() + "/login?" + urlencode({"returnURL": self._prefix() + self.path})
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _reply(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for key, value in {**reply.headers, "Content-Length": str(len(reply.body))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _prefix(self) -> str:
        """The reverse proxy's sub-path (``X-Forwarded-Prefix``), without a trailing slash."""
        return (self.headers.get("X-Forwarded-Prefix") or "").rstrip("/")

    def _base_url(self) -> str:
        """Where the client reaches Stash: media URLs in responses are absolute under it, like Stash's."""
        scheme = self.headers.get("X-Forwarded-Proto") or "http"
        return f"{scheme}://{self.headers.get('Host')}{self._prefix()}"

    def _websocket(self) -> None:
        """Upgrade ``GET /graphql`` to the graphql-transport-ws subscription protocol."""
        if not self._authorized():
            return self._send(401, b"401 Unauthorized", "text/plain")
        key = self.headers.get("Sec-WebSocket-Key") or ""
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", generate_accept_token(key.encode()).decode())
        if SUBPROTOCOL in (self.headers.get("Sec-WebSocket-Protocol") or ""):
            self.send_header("Sec-WebSocket-Protocol", SUBPROTOCOL)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        SubscriptionSession(self.connection, self.server.stash).run()

    def do_POST(self) -> None:
        if urlsplit(self.path).path.rstrip("/") != "/graphql":
            return self._send(404, b"404 page not found", "text/plain")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self._authorized():
            return self._json(401, {"errors": [{"message": "unauthorized"}]})
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            return self._json(400, {"errors": [{"message": "invalid JSON body"}]})
        status, result = self.server.stash.execute(
            req.get("query") or "", req.get("variables"), req.get("operationName"), self._base_url()
        )
        self._json(status, result)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/login":
            return self._send(200, LOGIN_PAGE, "text/html")
        if path.rstrip("/") == "/graphql" and (self.headers.get("Upgrade") or "").lower() == "websocket":
            return self._websocket()
        m = re.fullmatch(r"/(image|scene|performer)/(\d+)/(image|thumbnail|stream|screenshot)", path)
        marker = re.fullmatch(r"/scene/(\d+)/scene_marker/\d+/(stream|preview|screenshot)", path)
        if marker:  # Stash's generated marker clips/previews; here the scene's own video and a frame
            what = "stream" if marker.group(2) == "stream" else "screenshot"
            m = re.fullmatch(r"/(scene)/(\d+)/(\w+)", f"/scene/{marker.group(1)}/{what}")
        if not m:
            stash = self.server.stash
            accepts_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "")
            return self._reply(webui.serve(path, self._prefix(), accepts_gzip, stash.plugin_dir, stash.plugin_id))
        if not self._authorized():
            return self._to_login()
        data, ctype = self.server.stash.read_file_bytes(m.group(1), int(m.group(2)), m.group(3))
        if data is None:
            return self._send(404, b"404 page not found", "text/plain")
        span = _byte_range(self.headers.get("Range"), len(data))
        if span is None:
            return self._send(200, data, ctype)
        start, end = span  # a video player (or FFmpeg) seeking: only the asked-for bytes, like Stash
        self.send_response(206)
        self.send_header("Content-Type", ctype)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Connection", "close")  # FFmpeg reuses a connection unless told otherwise
        self.close_connection = True
        self.end_headers()
        self.wfile.write(data[start : end + 1])


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> inclusive (start, end); None for no/odd ranges."""
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if not m or size == 0 or not (m.group(1) or m.group(2)):
        return None
    if m.group(1):
        start, end = int(m.group(1)), int(m.group(2)) if m.group(2) else size - 1
    else:
        start, end = max(0, size - int(m.group(2))), size - 1
    if start >= size:
        return None
    return start, min(end, size - 1)


class HTTPServer(ThreadingHTTPServer):
    """Tracks open (keep-alive) connections so stop() really cuts clients off, like a dead Stash."""

    daemon_threads = True
    stash: DemoStash

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.open_sockets: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        for sock in list(self.open_sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
