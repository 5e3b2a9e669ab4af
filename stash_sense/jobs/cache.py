"""Embedding cache: the analysed faces of every image file, so a re-run does no inference.

Keyed by the file fingerprint Stash already computed (oshash, else md5, else phash), which
follows the pixels through renames and moves; without one, by path + size + modification time.
The value is the engine's analysed image in the worker codec's JSON form (unrounded detections,
float32 embeddings as base64), so a restored face is bit-for-bit what the engine produced.

Everything cached is only valid for one engine: the pack's signature (recipe fingerprints, model
checksums) plus the detector settings. Opening the cache with another engine empties it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from stash_sense import paths
from stash_sense.library.store import open_store
from stash_sense.stash.files import fingerprint, is_zip_member

FORMAT = 1  # bump when the stored JSON shape changes
FINGERPRINT_ORDER = ("oshash", "md5", "phash")

# synchronous=NORMAL: a power cut can lose the last analyses (they are inferred again), not corrupt.
SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS analysed (file_key TEXT PRIMARY KEY, result TEXT NOT NULL, created_at REAL NOT NULL);
"""


def cache_path() -> Path:
    return paths.data_dir() / "embeddings.sqlite"


def engine_fingerprint(pack_name: str, described: dict | None = None) -> str:
    """Identity of what produced cached faces: pack signature (recipes, models) + detector settings.

    ``described``: the same two facts as a remote engine reports them (``Service.pack_description``);
    None reads the pack on this machine.
    """
    if described is None:
        from stash_sense.engine.packs import load_pack

        pack = load_pack(pack_name)
        described = {"signature": pack.signature(), "detector": asdict(pack.detector)}
    text = json.dumps({"format": FORMAT, "signature": described["signature"], "detector": described["detector"]},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_key(image: dict) -> str | None:
    """Cache key of a Stash image's file: a fingerprint, else path+size+mtime; None if nothing is known."""
    files = image.get("visual_files") or image.get("files") or []
    file = files[0] if files else {}
    for kind in FINGERPRINT_ORDER:
        value = fingerprint(file, kind)
        if value:
            return f"{kind}:{value}"
    path = file.get("path")
    if path and not is_zip_member(file) and os.path.isfile(path):
        stat = os.stat(path)
        return f"stat:{path}:{stat.st_size}:{stat.st_mtime_ns}"
    if path and file.get("size") is not None and file.get("mod_time"):
        return f"stash:{path}:{file['size']}:{file['mod_time']}"
    return None


class EmbeddingCache:
    """SQLite store of analysed images for one engine fingerprint."""

    def __init__(self, engine_id: str, path: Path | None = None):
        self.path = Path(path or cache_path())
        self.db = open_store(self.path, SCHEMA, shared_between_threads=True)
        self._lock = threading.Lock()  # the reader thread looks up while the main thread stores
        self.engine_id = engine_id
        self.invalidated = self._check_engine(engine_id)

    def _check_engine(self, engine_id: str) -> bool:
        """Empty the cache when it was filled by another engine; True when that happened."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'engine'").fetchone()
        if row and row[0] == engine_id:
            return False
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("DELETE FROM analysed")
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('engine', ?)", (engine_id,))
        self.db.execute("COMMIT")
        return row is not None

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """Cached analyses for the keys that have one (one query per 500 keys)."""
        keys = [k for k in dict.fromkeys(keys) if k]
        found: dict[str, dict] = {}
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            marks = ",".join("?" * len(part))
            with self._lock:
                rows = self.db.execute(f"SELECT file_key, result FROM analysed WHERE file_key IN ({marks})",
                                       part).fetchall()
            found.update((key, json.loads(text)) for key, text in rows)
        return found

    def put_many(self, entries: dict[str, dict]) -> None:
        """Store analyses (one transaction: a kill leaves either all of them or none)."""
        if not entries:
            return
        now = time.time()
        rows = [(key, json.dumps(value, separators=(",", ":")), now) for key, value in entries.items() if key]
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO analysed VALUES (?, ?, ?)", rows)
            self.db.execute("COMMIT")

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM analysed").fetchone()[0])

    def close(self) -> None:
        self.db.close()
