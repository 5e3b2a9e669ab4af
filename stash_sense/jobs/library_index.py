"""The library face index: every analysed face of every gallery, image and scene frame, searchable.

Two parts in the plugin data folder (``library_index/``):

- ``faces.sqlite``, the side table and the source of truth: one row per face (its id, the item
  and image or frame it is in, the embedding cache key and face number that hold its vectors,
  detector quality and box, and whether identification matched it to anyone);
- ``index/``, one Voyager index per embedder over those ids (``engine.face_index``), derived.

Every bulk run updates both per item (``record``, called by the runner after an item's analysis):
the item's old rows are replaced in one SQLite transaction, their vectors added to the index in
memory, and the index is saved (a new generation, switched to atomically) every minute and after
the run's last item. A run killed between two saves leaves rows newer than the saved index's
``max_face_id`` (and ``removed`` rows not yet hidden in it): opening the index adds those from
the embedding cache, so the index always agrees with the table. Everything is tied to the embedding
cache's engine fingerprint (pack signature + detector settings): faces of another engine are
refused, and the table and index start over (the cache itself was emptied for the same reason).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stash_sense import paths
from stash_sense.jobs.cache import EmbeddingCache, file_key
from stash_sense.library.store import open_store

log = logging.getLogger(__name__)

SAVE_EVERY_S = 60.0
# a save writes the whole index, so its cost grows with the library: at a fixed interval a whole-library
# run would spend O(faces^2) time saving. Waiting at least this many times the last save's duration
# keeps saving under 1/SAVE_COST_FACTOR of the run at any size (and the catch-up after a kill bounded).
SAVE_COST_FACTOR = 20.0
CATCH_UP_BATCH = 2000

SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_type TEXT NOT NULL, item_id TEXT NOT NULL, image TEXT NOT NULL,
    cache_key TEXT, face_no INTEGER NOT NULL,
    quality REAL NOT NULL DEFAULT 0, box TEXT,
    unknown INTEGER NOT NULL DEFAULT 1, best_uid TEXT, best_confidence REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS faces_item ON faces (item_type, item_id);
CREATE INDEX IF NOT EXISTS faces_unknown ON faces (unknown);
CREATE TABLE IF NOT EXISTS removed (id INTEGER PRIMARY KEY);
"""


def index_folder() -> Path:
    return paths.data_dir() / "library_index"


@dataclass
class FaceRow:
    """One analysed face of an item, as the side table stores it."""

    item_type: str  # "gallery" | "scene" | "image"
    item_id: str
    image: str  # image id, or a scene's frame name ("12.500s", "screenshot")
    cache_key: str | None  # embedding cache entry holding the analysed image
    face_no: int  # position in that analysed image's face list
    quality: float
    box: list[float]
    unknown: bool  # identification matched this face's person to no performer
    best_uid: str | None = None
    best_confidence: float = 0.0


class SideTable:
    """face id -> where the face is and what identification said about it."""

    def __init__(self, path: Path):
        self.db = open_store(Path(path), SCHEMA)

    def engine(self) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'engine'").fetchone()
        return row[0] if row else None

    def reset(self, engine_id: str) -> None:
        """Forget every face (they came from another engine) and remember the new engine."""
        with self.transaction():
            self.db.execute("DELETE FROM faces")
            self.db.execute("DELETE FROM removed")
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('engine', ?)", (engine_id,))

    def replace_item(self, item_type: str, item_id: str, rows: list[FaceRow]) -> tuple[list[int], list[int]]:
        """Replace an item's faces in one transaction; (ids gone, ids of ``rows``).

        A face analysed again (same image, cache entry and face number) keeps its id, so what the
        user decided about it (a hidden or named unknown person) still applies after a re-run.
        """
        with self.transaction():
            old = {(image, key, face_no): face_id for face_id, image, key, face_no in self.db.execute(
                "SELECT id, image, cache_key, face_no FROM faces WHERE item_type = ? AND item_id = ?",
                (item_type, item_id))}
            ids = [self._update(old.pop(key), row) if (key := (row.image, row.cache_key, row.face_no)) in old
                   else self._insert(row) for row in rows]
            gone = list(old.values())
            self.db.executemany("INSERT OR IGNORE INTO removed VALUES (?)", [(i,) for i in gone])
            self.db.executemany("DELETE FROM faces WHERE id = ?", [(i,) for i in gone])
        return gone, ids

    def _update(self, face_id: int, row: FaceRow) -> int:
        self.db.execute("UPDATE faces SET quality = ?, box = ?, unknown = ?, best_uid = ?, best_confidence = ?"
                        " WHERE id = ?", (row.quality, json.dumps([round(v, 1) for v in row.box]), int(row.unknown),
                                          row.best_uid, row.best_confidence, face_id))
        return face_id

    def _insert(self, row: FaceRow) -> int:
        cursor = self.db.execute(
            "INSERT INTO faces (item_type, item_id, image, cache_key, face_no, quality, box, unknown, best_uid,"
            " best_confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.item_type, row.item_id, row.image, row.cache_key, row.face_no, row.quality,
             json.dumps([round(v, 1) for v in row.box]), int(row.unknown), row.best_uid, row.best_confidence))
        return int(cursor.lastrowid or 0)

    def insert_synthetic(self, start: int, count: int, per_item: int = 300) -> list[int]:
        """Rows for benchmark vectors (no cache entry behind them)."""
        rows = [("gallery", str(i // per_item), str(i), None, 0, 0.9, "[]", 1) for i in range(start, start + count)]
        with self.transaction():
            self.db.executemany("INSERT INTO faces (item_type, item_id, image, cache_key, face_no, quality, box,"
                                " unknown) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return [r[0] for r in self.db.execute("SELECT id FROM faces ORDER BY id DESC LIMIT ?", (count,))][::-1]

    def rows_after(self, face_id: int) -> list[tuple]:
        return self.db.execute("SELECT id, cache_key, face_no FROM faces WHERE id > ? ORDER BY cache_key, id",
                               (face_id,)).fetchall()

    def removed(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM removed")]

    def forget_removed(self, ids: list[int]) -> None:
        with self.transaction():
            self.db.executemany("DELETE FROM removed WHERE id = ?", [(i,) for i in ids])

    def delete(self, ids: list[int]) -> None:
        with self.transaction():
            self.db.executemany("DELETE FROM faces WHERE id = ?", [(i,) for i in ids])

    def max_id(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM faces").fetchone()[0])

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM faces").fetchone()[0])

    def faces(self, ids: list[int]) -> dict[int, dict]:
        """Rows by id, as dicts."""
        out: dict[int, dict] = {}
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            cursor = self.db.execute(f"SELECT * FROM faces WHERE id IN ({marks})", part)
            names = [c[0] for c in cursor.description]
            out.update((row[0], dict(zip(names, row))) for row in cursor)
        return out

    def unknown_faces(self, min_quality: float = 0.0) -> list[tuple[int, str, str, str]]:
        """(id, item type, item id, image) of every face identification matched to nobody."""
        return self.db.execute("SELECT id, item_type, item_id, image FROM faces WHERE unknown = 1 AND quality >= ?"
                               " ORDER BY id", (min_quality,)).fetchall()

    def mark_known(self, ids: list[int], universal_id: str) -> None:
        with self.transaction():
            self.db.executemany("UPDATE faces SET unknown = 0, best_uid = ?, best_confidence = 1.0 WHERE id = ?",
                                [(universal_id, i) for i in ids])

    def close(self) -> None:
        self.db.close()

    def transaction(self):
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, exc, tb):
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


class LibraryIndex:
    """The side table and the Voyager indices of one engine, kept in agreement."""

    def __init__(self, engine_id: str, layout: Any, folder: Path | None = None, cache: EmbeddingCache | None = None):
        from stash_sense.engine.face_index import FaceIndex

        self.folder = Path(folder or index_folder())
        self.folder.mkdir(parents=True, exist_ok=True)
        self.engine_id, self.layout = engine_id, layout
        self._cache = cache
        self.table = SideTable(self.folder / "faces.sqlite")
        if self.table.engine() != engine_id:
            if self.table.engine() is not None:
                log.info("Stash Sense: the model pack or detector changed; the library face index starts over")
            self.table.reset(engine_id)
            shutil.rmtree(self.folder / "index", ignore_errors=True)
        loaded = FaceIndex.load(self.folder / "index", layout)
        if loaded is not None and loaded[1].get("engine") == engine_id:
            self.index, state = loaded
            saved_max = int(state.get("max_face_id") or 0)
        else:
            self.index, saved_max = FaceIndex(layout), 0
        self.last_save = time.monotonic()
        self.save_seconds = 0.0  # how long the last save took
        self.dirty = self._catch_up(saved_max)

    @property
    def cache(self) -> EmbeddingCache:
        if self._cache is None:
            self._cache = EmbeddingCache(self.engine_id)
        return self._cache

    def _catch_up(self, saved_max: int) -> bool:
        """Bring the saved index up to the table: add newer rows from the cache, hide removed ones."""
        removed = self.table.removed()
        self.index.remove(removed)
        added = 0
        for ids, embeddings in self._vectors_from_cache(self.table.rows_after(saved_max)):
            self.index.add(ids, embeddings)
            added += len(ids)
        if added or removed:
            log.info(f"Stash Sense: library face index caught up ({added} face(s) added, {len(removed)} removed)")
        return bool(added or removed)

    def _vectors_from_cache(self, rows: list[tuple]) -> Iterator[tuple[list[int], dict[str, np.ndarray]]]:
        """Batches of (face ids, embedder -> vectors) read back from the embedding cache; rows whose
        entry is gone (or never existed) are dropped from the table."""
        from stash_sense.service.codec import decode_vector

        lost: list[int] = []
        for start in range(0, len(rows), CATCH_UP_BATCH):
            part = rows[start:start + CATCH_UP_BATCH]
            found = self.cache.get_many(r[1] for r in part if r[1])
            ids: list[int] = []
            vectors: dict[str, list[np.ndarray]] = {name: [] for name in self.layout.dims}
            for face_id, key, face_no in part:
                faces = (found.get(key) or {}).get("faces") or []
                embeddings = faces[face_no].get("embeddings") if face_no < len(faces) else None
                if not embeddings or any(name not in embeddings for name in vectors):
                    lost.append(face_id)
                    continue
                ids.append(face_id)
                for name in vectors:
                    vectors[name].append(decode_vector(embeddings[name]))
            if ids:
                yield ids, {name: np.stack(v) for name, v in vectors.items()}
        if lost:
            log.warning(f"Stash Sense: {len(lost)} face(s) of the library index are no longer in the embedding "
                        "cache; they are dropped until their items are analysed again")
            self.table.delete(lost)

    def replace_item(self, item_type: str, item_id: str, rows: list[FaceRow],
                     embeddings: dict[str, np.ndarray]) -> list[int]:
        """An item's faces as analysed now (the old ones are hidden); returns the new face ids."""
        old, new = self.table.replace_item(item_type, item_id, rows)
        self.index.remove(old)
        # a face kept with its cache entry (same file, same engine) has the same embedding: a forced
        # re-run over an unchanged library then writes no vector again
        fresh = [k for k, face_id in enumerate(new) if rows[k].cache_key is None or not self.index.holds(face_id)]
        if fresh:
            self.index.add([new[k] for k in fresh], {name: np.asarray(vectors)[fresh]
                                                      for name, vectors in embeddings.items()})
        self.dirty = True
        return new

    def save(self) -> None:
        """A new generation of the index on disk; rows removed before it are forgotten."""
        started = time.monotonic()
        removed = self.table.removed()
        self.index.save(self.folder / "index", {"engine": self.engine_id, "max_face_id": self.table.max_id()})
        self.table.forget_removed(removed)
        self.last_save, self.dirty = time.monotonic(), False
        self.save_seconds = self.last_save - started

    def save_due(self) -> bool:
        """A minute since the last save, and long enough that saving stays a small part of the run."""
        return time.monotonic() - self.last_save >= max(SAVE_EVERY_S, SAVE_COST_FACTOR * self.save_seconds)

    def rebuild(self) -> int:
        """A new index from the side table and the embedding cache (e.g. after a damaged index file)."""
        from stash_sense.engine.face_index import FaceIndex

        self.index = FaceIndex(self.layout)
        count = 0
        for ids, embeddings in self._vectors_from_cache(self.table.rows_after(0)):
            self.index.add(ids, embeddings)
            count += len(ids)
        self.save()
        return count

    def vectors(self, ids: list[int]) -> dict[str, np.ndarray]:
        return {name: np.asarray(index.get_vectors([int(i) for i in ids]), np.float32).reshape(len(ids), -1)
                for name, index in self.index.indices.items()}

    def close(self) -> None:
        if self.dirty:
            self.save()
        self.table.close()


def layout_for(pack_name: str) -> Any:
    """The index layout of a pack: its embedders' dimensions and weights."""
    from stash_sense.engine.face_index import Layout
    from stash_sense.engine.packs import load_pack

    pack = load_pack(pack_name)
    return Layout({e.name: int(e.dim) for e in pack.embedders}, {e.name: float(e.weight) for e in pack.embedders})


def open_index(pack_name: str, cache: EmbeddingCache | None = None, folder: Path | None = None) -> LibraryIndex:
    """The library index of the pack's engine (created empty, or caught up after a killed run)."""
    from stash_sense.jobs.cache import engine_fingerprint

    engine_id = cache.engine_id if cache is not None else engine_fingerprint(pack_name)
    return LibraryIndex(engine_id, layout_for(pack_name), folder, cache)


# --- the bulk runner's hook ----------------------------------------------------------------------


def record(run: Any, item: dict, analysed: Any) -> None:
    """After an item's analysis in a bulk run: its faces into the library index.

    Never fails the item: a problem with the index is logged and the run goes on.
    """
    try:
        index = getattr(run, "library_index", None)
        if index is None:
            index = open_index(run.options.pack, run.cache)
            run.library_index = index
        rows, embeddings = item_faces(run.kind.target, item, analysed, run.options.review)
        index.replace_item(run.kind.target, str(item["id"]), rows, embeddings)
        summary = run.summary
        last = summary.processed + summary.skipped + len(summary.failed) + 1 >= summary.selected
        if last or index.save_due():
            index.save()
    except Exception as exc:  # the index is an extra: identification must go on without it
        log.warning(f"Stash Sense: library face index not updated for {run.kind.target} {item.get('id')}: {exc}")


def item_faces(target: str, item: dict, analysed: Any, review: float) -> tuple[list[FaceRow], dict[str, np.ndarray]]:
    """The usable faces of an analysed item with where they are and whether anyone was matched."""
    from stash_sense.service.codec import decode_vector

    person_of = _persons_by_face(analysed.group, review)
    keys = _cache_keys(target, item, analysed)
    rows: list[FaceRow] = []
    vectors: dict[str, list[np.ndarray]] = {}
    position = 0  # the face's number among usable faces with embeddings (persons' "face_indices")
    for result in getattr(analysed, "results", None) or []:
        for face_no, face in enumerate(result.get("faces") or []):
            detection = face.get("detection") or {}
            if detection.get("skipped") is not None or not face.get("embeddings"):
                continue
            best_uid, best = person_of.get(position, (None, 0.0))
            position += 1
            rows.append(FaceRow(target, str(item["id"]), str(result["image"]), keys.get(str(result["image"])),
                                face_no, float(detection.get("quality") or 0.0), list(detection.get("box") or []),
                                best < review, best_uid, best))
            for name, value in face["embeddings"].items():
                vectors.setdefault(name, []).append(decode_vector(value))
    return rows, {name: np.stack(v) for name, v in vectors.items()}


def _persons_by_face(group: dict, review: float) -> dict[int, tuple[str | None, float]]:
    """face position -> (best candidate's universal id, its confidence) of the face's person."""
    out: dict[int, tuple[str | None, float]] = {}
    for person in group.get("persons") or []:
        options = [c for c in [person.get("identified"), *(person.get("candidates") or [])] if c]
        best = max(options, key=lambda c: c["confidence"], default=None)
        for position in person.get("face_indices") or []:
            out[int(position)] = (best["id"], float(best["confidence"])) if best else (None, 0.0)
    return out


def _cache_keys(target: str, item: dict, analysed: Any) -> dict[str, str | None]:
    """image name -> embedding cache key (galleries say it; a scene's are derived from its file)."""
    keys = dict(getattr(analysed, "cache_keys", None) or {})
    if target != "scene" or keys:
        return keys
    video = file_key(item)
    for result in getattr(analysed, "results", None) or []:
        name = str(result["image"])
        if video is None:
            keys[name] = None
        elif name == "screenshot":
            keys[name] = f"shot:{video}"
        else:
            keys[name] = f"frame:{video}@{float(name.rstrip('s')):.3f}"
    return keys
