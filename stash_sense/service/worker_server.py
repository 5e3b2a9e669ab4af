"""The worker process: loads the engine once, answers requests on a Unix socket, exits when idle.

The engine and databases are loaded *before* the socket is bound, so a socket that accepts
always means a warm engine; starters wait on the start lock meanwhile (see ``launcher``).
Connections are served in threads (a ``ping`` is never stuck behind a long gallery), engine work
is serialised by one lock (the engine's own pool already uses the cores it was given).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from contextlib import suppress
from pathlib import Path

from stash_sense.service.backend import Backend, warm_backend
from stash_sense.service.errors import error_message
from stash_sense.service.items import join_items
from stash_sense.service.launcher import is_live
from stash_sense.service.location import WorkerPaths, prepare, worker_paths
from stash_sense.service.versions import build_id
from stash_sense.service.wire import (
    PROTOCOL_VERSION,
    ConnectionClosed,
    ProtocolError,
    recv_message,
    send_message,
)

log = logging.getLogger("stash_sense.service")
POLL_SECONDS = 0.25  # how often the accept loop looks at the idle clock and the stop flag
ENGINE_OPS = ("identify", "analyze", "identify_analyzed", "info")


class AlreadyRunning(RuntimeError):
    """A live worker already answers on the socket."""


class Server:
    def __init__(self, where: WorkerPaths, backend: Backend, idle_timeout: float) -> None:
        self.where = where
        self.backend = backend
        self.idle_timeout = idle_timeout
        self.build = build_id()
        self.stopping = threading.Event()
        self.engine_lock = threading.Lock()
        self._clock = threading.Lock()
        self._busy = 0
        self._last_active = time.monotonic()
        self._socket_inode: int | None = None

    def serve(self) -> None:
        listener = self._bind()
        log.info("worker %d serving %s on %s (idle timeout %ss)", os.getpid(), self.where.pack,
                 self.where.socket, self.idle_timeout)
        try:
            self._accept_loop(listener)
        finally:
            self._remove_socket()
            listener.close()
            while self._is_busy():  # answers in flight are delivered before we exit
                time.sleep(0.05)
            self.backend.close()
            log.info("worker %d stopped", os.getpid())

    def _bind(self) -> socket.socket:
        path = self.where.socket
        if is_live(path):
            raise AlreadyRunning(f"a worker already answers on {path}")
        with suppress(FileNotFoundError):
            path.unlink()  # stale: left by a worker that was killed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others can connect
        try:
            listener.bind(str(path))
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        self._socket_inode = os.stat(path).st_ino
        listener.listen(16)
        listener.settimeout(POLL_SECONDS)
        return listener

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if self._stop_if_idle():
                    log.info("idle for %.0fs, exiting", self.idle_timeout)
                    return
                continue
            conn.settimeout(None)
            threading.Thread(target=self._serve_connection, args=(conn,), daemon=True).start()

    def _serve_connection(self, conn: socket.socket) -> None:
        with conn:
            while not self.stopping.is_set():
                try:
                    header, blobs = recv_message(conn)
                except (ConnectionClosed, ProtocolError, OSError):
                    return
                if not self._begin():  # stopping: unanswered, the client resends to our successor
                    return
                try:
                    send_message(conn, self._dispatch(conn, header, blobs))
                except OSError:  # the client went away (and with it any wish for the answer)
                    return
                finally:
                    self._end()

    def _dispatch(self, conn: socket.socket, header: dict, blobs: list[bytes]) -> dict:
        op = header.get("op")
        try:
            if op == "ping":
                return {"ok": True, "result": self.ping()}
            if op == "shutdown":
                self.stop()
                return {"ok": True, "result": {"pid": os.getpid()}}
            if op in ENGINE_OPS:
                with self.engine_lock:
                    return {"ok": True, "result": self._engine_op(conn, op, header, blobs)}
            return {"ok": False, "error": f"unknown operation {op!r}"}
        except Exception as exc:  # the worker survives a bad request; the client raises ServiceError
            log.exception("%s failed", op)
            return {"ok": False, "error": error_message(exc)}

    def _engine_op(self, conn: socket.socket, op: str, header: dict, blobs: list[bytes]):
        progress = _progress_sender(conn) if header.get("progress") else None
        if op == "identify":
            return self.backend.identify(join_items(header["items"], blobs), progress)
        if op == "analyze":
            return self.backend.analyze(join_items(header["items"], blobs), progress, bool(header.get("scene")))
        if op == "identify_analyzed":
            return self.backend.identify_analyzed(header["analyzed"])
        return {**self.backend.info(), **self.ping(), "idle_timeout": self.idle_timeout}

    def ping(self) -> dict:
        return {"pid": os.getpid(), "build": self.build, "pack": self.where.pack,
                "protocol": PROTOCOL_VERSION, "data_dir": str(self.where.data_dir)}

    def stop(self) -> None:
        """Stop accepting; the socket goes at once so a successor can bind while we finish."""
        self.stopping.set()
        self._remove_socket()

    def _remove_socket(self) -> None:
        """Unlink the socket only if it is still ours (a successor may have bound the path)."""
        with suppress(FileNotFoundError):
            if os.stat(self.where.socket).st_ino == self._socket_inode:
                self.where.socket.unlink()

    def _begin(self) -> bool:
        """Count a request in, unless stopping (checked under the same lock as the idle exit)."""
        with self._clock:
            if self.stopping.is_set():
                return False
            self._busy += 1
            self._last_active = time.monotonic()
            return True

    def _end(self) -> None:
        with self._clock:
            self._busy -= 1
            self._last_active = time.monotonic()

    def _stop_if_idle(self) -> bool:
        with self._clock:
            if self._busy or time.monotonic() - self._last_active < self.idle_timeout:
                return False
            self.stopping.set()
            return True

    def _is_busy(self) -> bool:
        with self._clock:
            return self._busy > 0


def _progress_sender(conn: socket.socket):
    def send(done: int) -> None:
        send_message(conn, {"progress": done})
    return send


def run(pack: str, threads: int, idle_timeout: float, data_dir: str | None) -> int:
    """``python -m stash_sense.service serve``: exit 0 after an idle/asked stop, 3 if one already runs."""
    if data_dir:
        os.environ["STASH_SENSE_DATA_DIR"] = data_dir  # databases and models resolve from the same folder
    where = worker_paths(pack, Path(data_dir) if data_dir else None)
    prepare(where)
    if is_live(where.socket):
        log.info("a worker already answers on %s", where.socket)
        return 3
    backend = warm_backend(pack, threads)
    server = Server(where, backend, idle_timeout)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stopping.set())
    try:
        server.serve()
    except AlreadyRunning as exc:
        log.info("%s", exc)
        backend.close()
        return 3
    return 0
