"""The vectors stored in a Voyager index file, read from disk when asked for; no graph in memory.

Low-memory mode searches one embedder's Voyager index and scores the candidates exactly in every
embedder. The other indices are only ever asked for the stored vectors of those candidates, so
their search graphs need not be resident: this reads those vectors straight from the saved file
(``pread``, through the page cache, which the kernel can reclaim), keeping 24 bytes per face
(its id table) in memory instead of Voyager's ~620 B (E4M3) or ~2,160 B (float32).

Layout (voyager ``Metadata.h`` + hnswlib ``saveIndex``, see docs/stash-sense-db-format.md A7): a
19-byte Voyager header, the hnswlib header, then one fixed-size level-0 record per element holding
its links, its vector at ``offsetData`` and its label (the face id) at ``label_offset``.
"""

from __future__ import annotations

import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from voyager import Space, StorageDataType

VOYAGER_METADATA = 19  # "VOYA", version, dims, space, storage, max norm, order-preserving flag
HNSW_HEADER = 96  # offsetLevel0 .. ef_construction, before the level-0 records
HEADER_BYTES = VOYAGER_METADATA + HNSW_HEADER
METADATA_VERSION = 1  # the layout this reader knows
LABEL_CHUNK_BYTES = 8 << 20


@dataclass(frozen=True)
class VoyagerHeader:
    """What a saved index says about itself before its records."""

    version: int
    dims: int
    space: int
    storage: int
    count: int
    record: int  # bytes per level-0 record
    label_offset: int
    data_offset: int


def read_header(file: Path) -> VoyagerHeader:
    with open(file, "rb") as handle:
        raw = handle.read(HEADER_BYTES)
    if len(raw) < HEADER_BYTES or raw[:4] != b"VOYA":
        raise ValueError(f"{file} is not a Voyager index")
    version, dims, space, storage = struct.unpack_from("<iiBB", raw, 4)
    count, record, label_offset, data_offset = struct.unpack_from("<QQQQ", raw, 35)
    return VoyagerHeader(version, dims, space, storage, count, record, label_offset, data_offset)


def _e4m3_table() -> np.ndarray:
    """Voyager's E4M3 byte -> float (its ``ALL_E4M3_VALUES``). Its bit-field puts the sign in bit
    0, the exponent in bits 1-4 and the mantissa in bits 5-7; exponent 0 is subnormal (2**-7)."""
    table = np.empty(256, np.float32)
    for byte in range(256):
        sign, exponent, mantissa = byte & 1, (byte >> 1) & 0xF, byte >> 5
        value = (mantissa / 8 + (exponent > 0)) * 2.0 ** (exponent - 7)
        table[byte] = np.nan if (exponent, mantissa) == (15, 7) else (-value if sign else value)
    return table


E4M3_VALUES = _e4m3_table()
# Storage type byte of the Voyager header -> bytes per dimension and decoder.
DECODERS = {
    int(StorageDataType.Float32.value): (4, lambda raw: raw.view("<f4")),
    int(StorageDataType.E4M3.value): (1, lambda raw: E4M3_VALUES[raw]),
    int(StorageDataType.Float8.value): (1, lambda raw: raw.view(np.int8).astype(np.float32) * np.float32(1 / 127)),
}


class DiskVectors:
    """Read-only stand-in for a Voyager ``Index`` that offers what exact scoring needs:
    ``ids``, ``len``, ``num_dimensions``, ``storage_data_type`` and ``get_vectors``."""

    _fd = -1  # until opened: a constructor that failed leaves nothing to close

    def __init__(self, file: Path) -> None:
        self.file = Path(file)
        header = read_header(self.file)
        self._check(header)
        self.num_dimensions = header.dims
        self.storage_data_type = StorageDataType(header.storage)
        width, self._decode = DECODERS[header.storage]
        self._vector_bytes = width * header.dims
        self._record, self._data_offset = header.record, header.data_offset
        self.ids = self._labels(header.count, header.label_offset).astype(np.int64)
        self._order = np.argsort(self.ids, kind="stable")  # label lookup without a per-face dict
        self._sorted = self.ids[self._order]
        self._fd = os.open(self.file, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self._lock = threading.Lock()  # only where there is no pread (Windows): seek + read

    def _check(self, header: VoyagerHeader) -> None:
        """Refuse what this reader would misread instead of returning wrong vectors."""
        if header.version != METADATA_VERSION:
            raise ValueError(f"{self.file}: Voyager metadata version {header.version} (this reader knows "
                             f"{METADATA_VERSION})")
        if header.storage not in DECODERS:
            raise ValueError(f"{self.file}: unknown Voyager storage type {header.storage:#x}")
        if header.space != Space.Cosine.value:  # other spaces store transformed vectors
            raise ValueError(f"{self.file}: space {header.space}, not Cosine ({Space.Cosine.value})")
        vector_bytes = DECODERS[header.storage][0] * header.dims
        if (header.dims <= 0 or header.data_offset + vector_bytes > header.record
                or header.label_offset + 8 > header.record):
            raise ValueError(f"{self.file}: records of {header.record} bytes cannot hold a {header.dims}-d "
                             f"vector at {header.data_offset} and a label at {header.label_offset}")
        if self.file.stat().st_size < HEADER_BYTES + header.count * header.record:
            raise ValueError(f"{self.file} is truncated ({header.count} records expected)")

    def _labels(self, count: int, label_offset: int) -> np.ndarray:
        """Every record's label, read in chunks: peak memory stays one chunk, not the file."""
        labels = np.empty(count, np.uint64)
        per_chunk = max(1, LABEL_CHUNK_BYTES // self._record)
        with open(self.file, "rb") as handle:
            handle.seek(HEADER_BYTES)
            for first in range(0, count, per_chunk):
                rows = min(per_chunk, count - first)
                chunk = np.frombuffer(handle.read(rows * self._record), np.uint8)
                if chunk.size != rows * self._record:
                    raise ValueError(f"{self.file} is truncated ({count} records expected)")
                records = chunk.reshape(rows, self._record)[:, label_offset:label_offset + 8]
                labels[first:first + rows] = np.ascontiguousarray(records).view("<u8").ravel()
        return labels

    def __len__(self) -> int:
        return len(self.ids)

    def get_vectors(self, ids: list[int]) -> np.ndarray:
        """Stored (unit) vectors of ``ids``, as float32 rows in the order asked."""
        if not len(ids):
            return np.zeros((0, self.num_dimensions), np.float32)
        out = np.empty((len(ids), self.num_dimensions), np.float32)
        for position, row in enumerate(self._rows(ids)):
            raw = self._read(HEADER_BYTES + row * self._record + self._data_offset)
            out[position] = self._decode(np.frombuffer(raw, np.uint8))
        return out

    def _read(self, offset: int) -> bytes:
        if hasattr(os, "pread"):
            raw = os.pread(self._fd, self._vector_bytes, offset)
        else:
            with self._lock:
                os.lseek(self._fd, offset, os.SEEK_SET)
                raw = os.read(self._fd, self._vector_bytes)
        if len(raw) != self._vector_bytes:
            raise ValueError(f"{self.file} is shorter than its header says (changed since it was opened?)")
        return raw

    def _rows(self, ids: list[int]) -> list[int]:
        wanted = np.asarray(ids, np.int64)
        at = np.minimum(np.searchsorted(self._sorted, wanted), max(len(self._sorted) - 1, 0))
        if not len(self._sorted) or not np.array_equal(self._sorted[at], wanted):
            missing = wanted[self._sorted[at] != wanted] if len(self._sorted) else wanted
            raise KeyError(f"face id(s) {missing[:5].tolist()} not in {self.file.name}")
        return self._order[at].tolist()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()
