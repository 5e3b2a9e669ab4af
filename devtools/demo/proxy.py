"""A reverse proxy that puts the demo Stash under a sub-path, as users run Stash behind nginx/Traefik.

Why: Stash's UI and the plugin must work at ``https://host/stash/``: Stash learns the sub-path from
``X-Forwarded-Prefix`` and writes it into ``<base href>`` and every media URL. This proxy strips the
prefix, adds that header, keeps ``Host``, tunnels WebSocket upgrades, and, standing in for a browser
that logged in once, adds the demo's session cookie. Requests outside the prefix are answered 404
and recorded in ``stray_requests`` (a UI that ignores its base path shows up there).
"""

from __future__ import annotations

import socket
import threading
from typing import Any

HEAD_END = b"\r\n\r\n"


def read_head(sock: socket.socket, buffer: bytes) -> tuple[bytes, bytes] | None:
    """(request head without the blank line, bytes after it), or None when the client hung up."""
    while HEAD_END not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    head, _, rest = buffer.partition(HEAD_END)
    return head, rest


def pipe(src: socket.socket, dst: socket.socket, half_close: bool = True) -> None:
    """Copy bytes until ``src`` ends, then (``half_close``) close ``dst``'s sending side."""
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    if not half_close:
        return
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class SubPathProxy:
    """``http://127.0.0.1:<port>{prefix}/`` in front of the demo Stash at ``upstream`` (host, port)."""

    def __init__(self, upstream: tuple[str, int], prefix: str = "/stash", session: str | None = None, port: int = 0):
        self.upstream, self.prefix, self.session = upstream, prefix.rstrip("/"), session
        self.stray_requests: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", port))
        self._running = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}{self.prefix}/"

    def start(self) -> str:
        self._running = True
        threading.Thread(target=self._accept, name="demo-proxy", daemon=True).start()
        return self.url

    def stop(self) -> None:
        self._running = False
        self._listener.close()

    def __enter__(self) -> SubPathProxy:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        """Relay one keep-alive client connection, one request at a time (each on a fresh upstream)."""
        buffer = b""
        with client:
            while self._running:
                try:
                    got = read_head(client, buffer)
                except OSError:
                    return
                if got is None:
                    return
                head, buffer = got
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                if target != self.prefix and not target.startswith(self.prefix + "/"):
                    self.stray_requests.append(f"{method} {target}")
                    client.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
                    continue
                headers = self._headers(lines[1:])
                upgrade = any(h.lower().startswith("upgrade:") for h in headers)
                length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
                while len(buffer) < length:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                body, buffer = buffer[:length], buffer[length:]
                rewritten = f"{method} {target[len(self.prefix):] or '/'} {version}\r\n" + "\r\n".join(headers)
                upstream = socket.create_connection(self.upstream)
                with upstream:
                    upstream.sendall(rewritten.encode("latin-1") + HEAD_END + body + (buffer if upgrade else b""))
                    if upgrade:  # a WebSocket: both ways until either side closes
                        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
                        pipe(upstream, client)
                        return
                    pipe(upstream, client, half_close=False)  # the upstream closes after its answer (Connection: close)

    def _headers(self, lines: list[str]) -> list[str]:
        """The client's headers, with the proxy's: prefix, session cookie, one request per upstream."""
        upgrade = any(h.lower().startswith("upgrade:") for h in lines)
        out = [h for h in lines if h and not h.lower().startswith(("x-forwarded-prefix:", "connection:"))]
        out.append(f"X-Forwarded-Prefix: {self.prefix}")
        out.append("Connection: Upgrade" if upgrade else "Connection: close")
        if self.session:
            cookies = [h for h in out if h.lower().startswith("cookie:")]
            out = [h for h in out if not h.lower().startswith("cookie:")]
            jar = "; ".join([c.split(":", 1)[1].strip() for c in cookies] + [f"session={self.session}"])
            out.append(f"Cookie: {jar}")
        return out
