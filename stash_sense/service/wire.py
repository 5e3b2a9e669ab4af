"""Wire format between plugin invocations and the worker: length-prefixed JSON plus binary frames.

A message is ``u32 header length, u32 blob count`` (big-endian), the UTF-8 JSON header, then each
blob as ``u64 length`` + bytes. Images travel as blobs so megabytes of JPEG never pass through
JSON or base64; everything else (requests, results) is plain JSON.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable

PROTOCOL_VERSION = 2  # 2: the remote engine (hello with token; analyze_video, crops)
PREFIX = struct.Struct(">II")
BLOB_LENGTH = struct.Struct(">Q")
MAX_HEADER = 256 * 1024 * 1024  # a gallery's analysed faces as JSON stays far below this
MAX_BLOB = 1024 * 1024 * 1024  # one image; decoding refuses anything near this anyway
MAX_BLOBS = 100_000


class ProtocolError(RuntimeError):
    """The peer sent something that is not a message (or closed the connection mid-message)."""


class ConnectionClosed(ProtocolError):
    """The peer closed the connection between messages (normal end, or the worker died)."""


def send_message(sock: socket.socket, header: dict, blobs: list[bytes] | tuple[bytes, ...] = ()) -> None:
    """One message; ``sendall`` per part so big blobs are not copied into one buffer."""
    payload = json.dumps(header, separators=(",", ":"), default=_json_default).encode()
    sock.sendall(PREFIX.pack(len(payload), len(blobs)) + payload)
    for blob in blobs:
        sock.sendall(BLOB_LENGTH.pack(len(blob)))
        sock.sendall(blob)


class MessageTooLarge(ProtocolError):
    """A message over the receiver's limits (the rest of it is never read)."""


def recv_message(sock: socket.socket, max_bytes: int | None = None) -> tuple[dict, list[bytes]]:
    """The next message; ``ConnectionClosed`` when the peer closed cleanly before it started.

    ``max_bytes``: the most header + blob bytes accepted (the remote engine's request limit);
    ``MessageTooLarge`` as soon as the announced sizes exceed it, before reading them.
    """
    first = _recv_exact(sock, PREFIX.size, at_boundary=True)
    header_length, blob_count = PREFIX.unpack(first)
    if header_length > MAX_HEADER or blob_count > MAX_BLOBS:
        raise MessageTooLarge(f"message too large ({header_length} header bytes, {blob_count} blobs)")
    total = header_length
    if max_bytes is not None and total > max_bytes:
        raise MessageTooLarge(f"request of over {total} bytes exceeds the {max_bytes} byte limit")
    try:
        header = json.loads(_recv_exact(sock, header_length))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    blobs = []
    for _ in range(blob_count):
        (length,) = BLOB_LENGTH.unpack(_recv_exact(sock, BLOB_LENGTH.size))
        if length > MAX_BLOB:
            raise MessageTooLarge(f"blob of {length} bytes exceeds the {MAX_BLOB} byte limit")
        total += length
        if max_bytes is not None and total > max_bytes:
            raise MessageTooLarge(f"request of over {total} bytes exceeds the {max_bytes} byte limit")
        blobs.append(_recv_exact(sock, length))
    return header, blobs


def _recv_exact(sock: socket.socket, length: int, at_boundary: bool = False) -> bytes:
    buffer = bytearray(length)
    view = memoryview(buffer)
    got = 0
    while got < length:
        count = sock.recv_into(view[got:])
        if count == 0:
            if at_boundary and got == 0:
                raise ConnectionClosed("connection closed by peer")
            raise ProtocolError(f"connection closed after {got} of {length} bytes")
        got += count
    return bytes(buffer)


def _json_default(value):
    """numpy scalars/arrays that reach a result (e.g. ``round(np.float32)``) as plain numbers."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_plain(value):
    """The value exactly as it comes out of a JSON round trip (what a worker client receives).

    The in-process service returns this too, so both services give identical results.
    """
    return json.loads(json.dumps(value, default=_json_default))


def final_reply(sock: socket.socket, progress: Callable[[int], None] | None) -> dict:
    """The engine's answer to the request just sent, passing its progress messages to ``progress``."""
    while True:
        reply, _ = recv_message(sock)
        if "progress" not in reply:
            return reply
        if progress:
            progress(int(reply["progress"]))
