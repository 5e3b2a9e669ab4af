"""The plugin side of the worker: a ``Service`` whose engine lives in the warm worker process.

A lost connection (worker killed, or gone idle between two calls of a long task) is repaired
once: reconnect, starting a new worker if needed, and resend. If no worker can be started the
client loads the engine itself and carries on in-process, so a task never dies because the worker
did. If the new worker dies on the resent request too, that request crashes the engine (a damaged
index does that natively): it is reported as a damaged database and never run in this process.
"""

from __future__ import annotations

import logging
import socket
import threading

from stash_sense.contracts import DAMAGED_DATABASE, Progress, Service, ServiceError
from stash_sense.service.items import Item, split_items
from stash_sense.service.launcher import WorkerUnavailable, connect_or_start
from stash_sense.service.wire import ProtocolError, final_reply, send_message

log = logging.getLogger("stash_sense.service")


class WorkerClient(Service):
    """Connects to (or starts) this install's worker; ``WorkerUnavailable`` when it cannot."""

    mode = "worker"

    def __init__(self, pack: str, threads: int = 2) -> None:
        self.pack = pack
        self.threads = threads
        self._lock = threading.Lock()
        self._fallback: Service | None = None
        self._sock: socket.socket | None = None
        self.worker: dict = {}
        self._connect()

    def identify(self, items: list[Item], progress: Progress | None = None) -> dict:
        refs, blobs = split_items(items)
        return self._call({"op": "identify", "items": refs, "progress": progress is not None}, blobs, progress,
                          lambda service: service.identify(items, progress))

    def analyze(self, items: list[Item], progress: Progress | None = None, scene: bool = False) -> list[dict]:
        refs, blobs = split_items(items)
        return self._call({"op": "analyze", "items": refs, "progress": progress is not None, "scene": scene},
                          blobs, progress, lambda service: service.analyze(items, progress, scene))

    def identify_analyzed(self, analyzed: list[dict]) -> dict:
        return self._call({"op": "identify_analyzed", "analyzed": analyzed}, [], None,
                          lambda service: service.identify_analyzed(analyzed))

    def info(self) -> dict:
        return {**self._call({"op": "info"}, [], None, lambda service: service.info()), "mode": self.mode}

    def close(self) -> None:
        with self._lock:
            self._disconnect()
            if self._fallback:
                self._fallback.close()

    def _connect(self) -> None:
        self._sock, self.worker = connect_or_start(self.pack, self.threads)

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _call(self, header: dict, blobs: list[bytes], progress: Progress | None, in_process):
        with self._lock:
            if self._fallback is None:
                try:
                    return self._round_trip(header, blobs, progress)
                except (OSError, ProtocolError) as exc:
                    log.info("lost the engine worker (%s); reconnecting", exc)
                try:
                    self._disconnect()
                    self._connect()
                except (OSError, ProtocolError, WorkerUnavailable) as exc:
                    self._fall_back(exc)
                    return in_process(self._fallback)
                try:
                    return self._round_trip(header, blobs, progress)
                except (OSError, ProtocolError) as exc:
                    # A fresh worker died on the same request: a native crash on these databases
                    # (a damaged index). Loading them here would take this process down with it.
                    self._disconnect()
                    raise ServiceError(f"the engine worker crashed twice on this request ({exc}); "
                                       f"{DAMAGED_DATABASE}") from exc
            return in_process(self._fallback)

    def _round_trip(self, header: dict, blobs: list[bytes], progress: Progress | None):
        if self._sock is None:
            raise ProtocolError("not connected")
        send_message(self._sock, header, blobs)
        reply = final_reply(self._sock, progress)
        if reply.get("ok"):
            return reply["result"]
        raise ServiceError(reply.get("error") or "the worker failed without a message")

    def _fall_back(self, reason: Exception) -> None:
        from stash_sense.service.inprocess import InProcessService

        log.warning("engine worker unavailable (%s); running the engine in this process", reason)
        self._disconnect()
        self._fallback = InProcessService(self.pack, self.threads)
        self.mode = InProcessService.mode
