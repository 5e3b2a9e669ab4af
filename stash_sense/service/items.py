"""Images as the services take them: ``(name, bytes or path)`` pairs, and how they cross the socket.

Standard library only: the client side of the worker must not import the engine (numpy,
onnxruntime and insightface take seconds to import, most of what the warm path saves).
"""

from __future__ import annotations

import os

from stash_sense.contracts import Item


def split_items(items: list[Item]) -> tuple[list[dict], list[bytes]]:
    """Items as JSON references plus the blobs they point to; paths are made absolute."""
    refs: list[dict] = []
    blobs: list[bytes] = []
    for name, source in items:
        if isinstance(source, (bytes, bytearray, memoryview)):
            refs.append({"name": str(name), "blob": len(blobs)})
            blobs.append(bytes(source))
        else:
            refs.append({"name": str(name), "path": os.path.abspath(os.fspath(source))})
    return refs, blobs


def join_items(refs: list[dict], blobs: list[bytes]) -> list[tuple[str, bytes | str]]:
    """The worker side of ``split_items``."""
    items: list[tuple[str, bytes | str]] = []
    for ref in refs:
        if "blob" in ref:
            items.append((str(ref["name"]), blobs[int(ref["blob"])]))
        else:
            items.append((str(ref["name"]), str(ref["path"])))
    return items
