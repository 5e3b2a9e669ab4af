"""Checks on a saved Voyager index before it reaches native code, and an isolated trial load.

Voyager's loader trusts its file: one flipped byte in the header (e.g. offset 19, hnswlib's
``offsetLevel0``) makes it read or allocate wildly and the process dies with SIGSEGV, taking the
plugin and its result with it. ``check_index_file`` parses every header field the loader reads and
refuses any value the writer cannot have produced (layout sizes, M, levels, entry point, the link
lists' sizes and the exact file length). What the header cannot show (a damaged link inside the
graph, which crashes a search, not the load) is caught by ``probe_load``: the indices are loaded
and searched once in a child process, whose death is reported as a damaged database.

Layout: docs/stash-sense-db-format.md A7 (voyager ``Metadata.h`` + hnswlib ``saveIndex``).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import struct
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from voyager import Space

from stash_sense.engine.disk_vectors import DECODERS, HEADER_BYTES, METADATA_VERSION
from stash_sense.engine.fetch import checksum_matches

DAMAGED = "the face database is damaged: run Verify / download again"
HNSW_FIELDS = struct.Struct("<QQQQQQiIQQQdQ")  # offsetLevel0 .. ef_construction, at byte 19
MAX_DIMS = 65536
MAX_M = 4096
MAX_EF_CONSTRUCTION = 1 << 20
MAX_SPARE_ELEMENTS = 1 << 16  # capacity a writer may have reserved beyond its elements
MAX_LEVEL = 64  # hnswlib levels are ~log_M(count): 64 is beyond any real index
LINK_COUNT_BYTES = 4  # uint32 size of an element's upper-level link lists, after the level-0 block
PROBE_SECONDS = 300.0
STAMP = ".loads-ok.json"  # files that passed probe_load, by size/mtime/inode (no probe next time)


class IndexFileError(ValueError):
    """A Voyager file that would be misread or crash the loader; the message names the field."""


def check_index_file(file: Path, links: bool = True) -> int:
    """Refuse a damaged or foreign index file; returns its element count. ``links=False`` skips the
    walk over every element's link-list size (~0.1 s per 277k faces) for files already checked."""
    file = Path(file)
    size = file.stat().st_size
    with open(file, "rb") as handle:
        head = handle.read(HEADER_BYTES)
        if len(head) < HEADER_BYTES or head[:4] != b"VOYA":
            raise IndexFileError(f"{file} is not a Voyager index ({size} bytes, no complete header)")
        count, record, maxlevel, entry, link_bytes = _check_fields(file, head)
        if count == 0 or not links:
            return count
        tail_at = HEADER_BYTES + count * record
        if size < tail_at + count * LINK_COUNT_BYTES:
            raise IndexFileError(f"{file} is truncated: {size} bytes, its header needs at least "
                                 f"{tail_at + count * LINK_COUNT_BYTES}")
        handle.seek(tail_at)
        tail = handle.read(size - tail_at)
    _check_links(file, tail, count, link_bytes, maxlevel, entry)
    return count


def _check_fields(file: Path, head: bytes) -> tuple[int, int, int, int, int]:
    """(count, record bytes, max level, entry point, bytes per upper-level link list)."""
    version, dims, space, storage = struct.unpack_from("<iiBB", head, 4)
    order_preserving = head[18]
    (offset_level0, max_elements, count, record, label_offset, data_offset, maxlevel, entry,
     max_m, max_m0, m, mult, ef_construction) = HNSW_FIELDS.unpack_from(head, 19)

    def refuse(what: str) -> IndexFileError:
        return IndexFileError(f"{file}: {what} (damaged index header)")

    if version != METADATA_VERSION:
        raise refuse(f"metadata version {version}, expected {METADATA_VERSION}")
    if not 0 < dims <= MAX_DIMS:
        raise refuse(f"{dims} dimensions")
    if space != Space.Cosine.value or order_preserving != 0:
        raise refuse(f"space {space} with order-preserving flag {order_preserving}: "
                     f"not Cosine ({Space.Cosine.value}) without it")
    if storage not in DECODERS:
        raise refuse(f"unknown storage type {storage:#x}")
    if offset_level0 != 0 or not count <= max_elements <= 4 * count + MAX_SPARE_ELEMENTS:
        # the loader allocates max_elements records up front
        raise refuse(f"level-0 offset {offset_level0}, {count} elements of at most {max_elements}")
    if not (2 <= m <= MAX_M and max_m == m and max_m0 == 2 * m):
        raise refuse(f"M={m}, maxM={max_m}, maxM0={max_m0}")
    if not (m <= ef_construction <= MAX_EF_CONSTRUCTION and math.isclose(mult, 1 / math.log(m), rel_tol=1e-9)):
        raise refuse(f"ef_construction={ef_construction}, mult={mult}")
    links0 = max_m0 * 4 + 4
    vector_bytes = DECODERS[storage][0] * dims
    if (data_offset, label_offset, record) != (links0, links0 + vector_bytes, links0 + vector_bytes + 8):
        raise refuse(f"records of {record} bytes with data at {data_offset} and label at {label_offset} "
                     f"cannot hold {dims} dimensions with M={m}")
    if count and not (0 <= maxlevel <= MAX_LEVEL and entry < count):
        raise refuse(f"entry point {entry} of {count} elements at level {maxlevel}")
    return count, record, maxlevel, entry, max_m * 4 + 4


def _check_links(file: Path, tail: bytes, count: int, link_bytes: int, maxlevel: int, entry: int) -> None:
    """Every element's upper-level link-list size, as the loader will read them, ending at EOF.

    Sizes and link lists are whole 4-byte words, so the walk runs over a list of ints (~0.1 s for
    a 277k-face index, instead of ~0.3 s unpacking bytes).
    """
    if len(tail) % LINK_COUNT_BYTES:
        raise IndexFileError(f"{file}: {len(tail)} bytes of link lists is not a whole number of words "
                             "(damaged or truncated index)")
    words = np.frombuffer(tail, "<u4").tolist()
    at, levels_of_entry, end = 0, -1, len(words)
    for element in range(count):
        if at >= end:
            raise IndexFileError(f"{file} is truncated (link lists of {count} elements expected)")
        size = words[at]
        at += 1
        if size:
            if size % link_bytes or size // link_bytes > maxlevel:
                raise IndexFileError(f"{file}: element {element} has {size} bytes of links "
                                     f"(damaged index; at most {maxlevel} x {link_bytes})")
            at += size // LINK_COUNT_BYTES
        if element == entry:
            levels_of_entry = size // link_bytes
    if at != end:
        raise IndexFileError(f"{file}: {(end - at) * LINK_COUNT_BYTES:+d} bytes after the last link list "
                             "(damaged or truncated index)")
    if levels_of_entry != maxlevel:
        raise IndexFileError(f"{file}: entry point {entry} has {levels_of_entry} levels, header says {maxlevel}")


# --- isolated trial load ---------------------------------------------------------------------------

def probe_load(files: list[Path], stamp_folder: Path, checksums: Mapping[str, str],
               loaded: list[Path] | None = None) -> None:
    """Compare ``files`` with their manifest ``checksums`` (where listed), then load and search the
    ones the caller will load natively (``loaded``, default all) once in a child process; a mismatch
    or a crash raises IndexFileError.

    Skipped for files already checked unchanged (a stamp in ``stamp_folder``, written best effort:
    a read-only folder just means checking every time); a download or an edit changes size or mtime.
    """
    loaded = files if loaded is None else loaded
    if not files or is_stamped(files, stamp_folder, loaded):
        return
    for file in files:
        check_index_file(file)  # the full walk, when the caller skipped it
    altered = [f.name for f in files if f.name in checksums and not checksum_matches(f, checksums[f.name])]
    if altered:
        raise IndexFileError(f"sha256 of {', '.join(altered)} does not match the manifest")
    if loaded:
        _load_in_child(loaded)
    _write_stamp(stamp_folder, _stamp_state(files, loaded))


def is_stamped(files: list[Path], stamp_folder: Path, loaded: list[Path]) -> bool:
    """Whether ``probe_load`` passed for exactly these files, unchanged since, loading ``loaded``."""
    return _read_stamp(stamp_folder) == _stamp_state(files, loaded)


def _stamp_state(files: list[Path], loaded: list[Path]) -> dict:
    return {"files": _file_state(files), "loaded": sorted(f.name for f in loaded)}


def _load_in_child(files: list[Path]) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, *map(str, files)], env=env, capture_output=True,
                              timeout=PROBE_SECONDS, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise IndexFileError(f"loading {', '.join(f.name for f in files)} did not finish within "
                             f"{PROBE_SECONDS:.0f}s") from exc
    if done.returncode != 0:
        raise IndexFileError(_probe_failure(done, files))


# Imports only voyager and numpy: the child starts in well under a second.
_PROBE = """
import sys
import numpy as np
from voyager import Index
for path in sys.argv[1:]:
    index = Index.load(path)
    if len(index):
        ids = list(index.ids)[:8]
        index.query(np.asarray(index.get_vectors(ids), np.float32), k=min(4, len(index)))
"""


def _probe_failure(done: subprocess.CompletedProcess, files: list[Path]) -> str:
    names = ", ".join(f.name for f in files)
    if done.returncode < 0:
        return f"loading {names} crashed a test process (signal {-done.returncode})"
    last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
    return f"loading {names} failed: {last}"


def _file_state(files: list[Path]) -> dict[str, list[int]]:
    state = {}
    for file in files:
        info = Path(file).stat()
        state[str(Path(file).name)] = [info.st_size, info.st_mtime_ns, info.st_ino]
    return state


def _read_stamp(folder: Path) -> dict | None:
    try:
        return json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return None


def _write_stamp(folder: Path, state: dict) -> None:
    tmp = folder / f".{STAMP}.{secrets.token_hex(4)}.tmp"
    try:
        tmp.write_text(json.dumps(state))
        os.replace(tmp, folder / STAMP)
    except OSError:
        tmp.unlink(missing_ok=True)
