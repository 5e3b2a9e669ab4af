"""A face database on disk: Voyager indices + faces.json + performers.json + manifest.json.

The layout is Stash Sense's release layout (so its published database loads as is); our own
databases add manifest fields that pin the model pack, the recipe of every embedder, storage
type, dimensions, counts and the sha256 of every file. An engine whose pack or recipe differs
from the database's is refused: embeddings from another recipe live in another space.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np
from voyager import Index, Space, StorageDataType

from stash_sense.engine.disk_vectors import DiskVectors, read_header
from stash_sense.engine.fetch import checksum_matches, file_sha256
from stash_sense.engine.index_file import DAMAGED, check_index_file, probe_load
from stash_sense.engine.packs import Pack

FORMAT = "stash-sense-db"
LEGACY_PACK = "stash-sense-v1"
LEGACY_INDEX_FILES = {"facenet512": "face_facenet.voy", "arcface": "face_arcface.voy"}
STORAGE_TYPES = {"float32": StorageDataType.Float32, "e4m3": StorageDataType.E4M3, "float8": StorageDataType.Float8}
# What the legacy manifest's informational "models" block must say for its vectors to match ours.
LEGACY_EXPECTED_MODELS = {"alignment": "insightface_norm_crop_5point", "flip_averaging": True}
LEGACY_DETECTORS = ("buffalo_sc", "retinaface", "scrfd")
# "full": every embedder's Voyager index in memory and searched. "low": only the pack's first
# embedder's; the others' stored vectors are read from disk to score its candidates exactly.
MEMORY_MODES = ("full", "low")


class DatabaseError(RuntimeError):
    """A database that cannot be used; the message says why and what to do."""


@dataclass
class FaceDatabase:
    """A loaded database. ``indices[name]`` holds embedder ``name``'s vectors, ids index ``faces``."""

    path: Path
    manifest: dict
    faces: list[str | None]
    performers: dict[str, dict]
    indices: dict[str, Index | DiskVectors]

    @property
    def version(self) -> str:
        return str(self.manifest.get("version", "unknown"))

    @property
    def pack_name(self) -> str:
        return self.manifest.get("pack", LEGACY_PACK)

    def storage(self) -> str:
        types = {_storage_name(index.storage_data_type) for index in self.indices.values()}
        return types.pop() if len(types) == 1 else "mixed"

    @cached_property
    def _faces_by_performer(self) -> dict[str, list[int]]:
        table: dict[str, list[int]] = {}
        for face_id, uid in enumerate(self.faces):
            if uid is not None:
                table.setdefault(uid, []).append(face_id)
        return table

    def face_ids(self, universal_id: str) -> list[int]:
        """Voyager ids of a performer's faces (ids absent from the indices are left out)."""
        return [i for i in self._faces_by_performer.get(universal_id, []) if self._usable[i]]

    @cached_property
    def _usable(self) -> np.ndarray:
        """Face id -> names a performer and is stored in every index (one byte per face)."""
        usable = np.array([uid is not None for uid in self.faces], bool) & bool(self.indices)
        for index in self.indices.values():
            ids = index.ids if isinstance(index, DiskVectors) else np.fromiter(index.ids, np.int64, len(index))
            here = np.zeros(len(self.faces), bool)
            here[ids[(ids >= 0) & (ids < len(self.faces))]] = True
            usable &= here
        return usable

    def searchable(self) -> dict[str, Index]:
        """The indices whose graph is loaded (all of them unless loaded with ``memory="low"``)."""
        return {name: index for name, index in self.indices.items() if isinstance(index, Index)}

    def has_performer(self, face_ids: np.ndarray) -> np.ndarray:
        """Which ids can match: a performer's face stored in every index (not a null gap, not past
        the end of faces.json, not missing from an index that would have no vector for it)."""
        inside = (face_ids >= 0) & (face_ids < len(self.faces))
        return inside & self._usable[np.where(inside, face_ids, 0)] if len(self.faces) else inside

    def close(self) -> None:
        """Let go of the index files read from disk (low memory) now, not whenever Python collects."""
        for index in self.indices.values():
            if isinstance(index, DiskVectors):
                index.close()

    def performer(self, universal_id: str) -> dict:
        return {"id": universal_id, "name": universal_id, **self.performers.get(universal_id, {})}

    def info(self) -> dict:
        return {"path": str(self.path), "version": self.version, "pack": self.pack_name,
                "storage": self.storage(), "performers": len(self.performers),
                "faces": sum(1 for f in self.faces if f is not None),
                "embedders": {n: {"dim": i.num_dimensions, "vectors": len(i)} for n, i in self.indices.items()},
                "size_mb": round(sum(p.stat().st_size for p in self.path.iterdir() if p.is_file()) / 1e6, 2)}


def load_database(path: Path, pack: Pack, memory: str = "full") -> FaceDatabase:
    """Load a database folder for use with ``pack``; refuse it when the two do not agree.

    ``memory="low"`` keeps only the first embedder's search graph resident (see MEMORY_MODES):
    read-only use, for machines where the full graphs do not fit.
    """
    if memory not in MEMORY_MODES:
        raise ValueError(f"memory must be one of {MEMORY_MODES}, not {memory!r}")
    path = Path(path)
    manifest = read_manifest(path)
    check_compatible(manifest, pack)
    faces = _read_faces(path / "faces.json")
    performers = _read_performers(path / "performers.json")
    if (path / "performers.db").exists():
        _merge_performers_db(path / "performers.db", performers)
    indices: dict[str, Index | DiskVectors] = {}
    searched = pack.embedders[0].name
    files = {name: path / index_file for name, index_file in index_files(manifest, pack).items()}
    resident = {name for name in files if memory == "full" or name == searched}
    _check_before_native_load(path, files, resident, manifest.get("checksums") or {})
    for name, file in files.items():
        indices[name] = _open_index(file, resident=name in resident)
        expected = pack.embedder(name).dim
        if indices[name].num_dimensions != expected:
            raise DatabaseError(f"{file.name} has {indices[name].num_dimensions} dimensions, "
                                f"pack {pack.name} embedder {name} produces {expected}")
    return FaceDatabase(path=path, manifest=manifest, faces=faces, performers=performers, indices=indices)


def _read_faces(file: Path) -> list[str | None]:
    """faces.json: face id -> performer id, null for a gap. Anything else (numbers, an object) is a
    damaged file, not something to iterate into nonsense ids."""
    faces = _read_json(file)
    if not isinstance(faces, list) or not all(uid is None or isinstance(uid, str) for uid in faces):
        raise _damaged(ValueError(f"{file} is not a list of performer ids (strings or null)"))
    # ~3.4 faces per performer: one shared string per performer instead of one per face (-20 MB at
    # full size).
    return [sys.intern(uid) if uid else None for uid in faces]


def _read_performers(file: Path) -> dict[str, dict]:
    performers = _read_json(file)
    if not isinstance(performers, dict) or not all(isinstance(record, dict) for record in performers.values()):
        raise _damaged(ValueError(f"{file} is not an object of performer records"))
    return performers


def _read_json(file: Path):
    try:
        return json.loads(file.read_bytes())
    except (OSError, ValueError) as exc:
        raise _damaged(ValueError(f"{file} cannot be read as JSON: {exc}")) from exc


def _check_before_native_load(path: Path, files: dict[str, Path], resident: set[str], checksums: dict) -> None:
    """Header checks of every index, then (once per change of the files) a full check of their link
    lists, their sha256 and a trial load of the resident ones in a child process: a damaged index
    must be an error here, not a segfault of the process that loads it (the plugin, the worker).
    Indices read from disk (low memory) never reach native code, nor does the trial load hold their
    graphs."""
    if not isinstance(checksums, dict):
        raise _damaged(ValueError(f"{path / 'manifest.json'}: checksums is not an object"))
    try:
        filled = {name: file for name, file in files.items() if check_index_file(file, links=False)}  # empty ones
        probe_load(list(filled.values()), path, checksums, [f for n, f in filled.items() if n in resident])
    except (OSError, ValueError) as exc:
        raise _damaged(exc) from exc


def _damaged(exc: Exception) -> DatabaseError:
    return DatabaseError(f"{DAMAGED} ({exc}; `db verify` on the command line)")


def _open_index(file: Path, resident: bool) -> Index | DiskVectors:
    try:
        return _load_index(file) if resident else DiskVectors(file)
    except (OSError, ValueError) as exc:
        raise _damaged(exc) from exc


def _load_index(file: Path) -> Index:
    """Voyager saves an empty index that it cannot load again (its entry point is -1), and a
    database with no faces yet (a fresh local enrollment database) has empty indices: those are
    recreated from the file header instead."""
    header = read_header(file)
    if header.count == 0:
        return new_index(header.dims, next((n for n, t in STORAGE_TYPES.items() if int(t.value) == header.storage),
                                           "float32"))
    # From a path Voyager reads in native code without Python's lock or read buffers: 0.7 s instead
    # of 2.6 s for a full-size E4M3 index pair, and no second copy while loading.
    return Index.load(str(file))


def read_manifest(path: Path) -> dict:
    manifest_path = Path(path) / "manifest.json"
    if not manifest_path.exists():
        raise DatabaseError(f"{path} is not a face database (no manifest.json)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise DatabaseError(f"{manifest_path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise _damaged(ValueError(f"{manifest_path} is not a JSON object"))
    return manifest


def check_compatible(manifest: dict, pack: Pack) -> None:
    """The seed's "manifest says yolov8 but the code uses buffalo_sc" defect, made impossible."""
    db_pack = manifest.get("pack", LEGACY_PACK)
    if db_pack != pack.name:
        raise DatabaseError(f"this database was built with model pack {db_pack!r} but the engine uses "
                            f"{pack.name!r}; use --pack {db_pack} or a database built for {pack.name}")
    if "pack" not in manifest:
        _check_legacy_models(manifest.get("models") or {})
        return
    for name, entry in manifest.get("embedders", {}).items():
        try:
            spec = pack.embedder(name)
        except KeyError:
            raise DatabaseError(f"database embedder {name!r} is not part of pack {pack.name}") from None
        if entry.get("recipe") != spec.recipe.fingerprint():
            raise DatabaseError(f"database embedder {name!r} was built with preprocessing recipe "
                                f"{entry.get('recipe')} but pack {pack.name} uses {spec.recipe.fingerprint()}; "
                                "its embeddings are not comparable — rebuild the database")
        if entry.get("dim") != spec.dim:
            raise DatabaseError(f"database embedder {name!r} has dim {entry.get('dim')}, pack says {spec.dim}")


def _check_legacy_models(models: dict) -> None:
    detector = str(models.get("detector", "buffalo_sc"))
    if not any(known in detector for known in LEGACY_DETECTORS):
        raise DatabaseError(f"release manifest says detector {detector!r}; stash-sense-v1 queries use "
                            "buffalo_sc SCRFD, so its embeddings would not match")
    for key, expected in LEGACY_EXPECTED_MODELS.items():
        if key in models and models[key] != expected:
            raise DatabaseError(f"release manifest says {key}={models[key]!r}, stash-sense-v1 needs {expected!r}")


def index_files(manifest: dict, pack: Pack) -> dict[str, str]:
    if "embedders" in manifest:
        return {name: entry["index_file"] for name, entry in manifest["embedders"].items()}
    return {name: LEGACY_INDEX_FILES.get(name, pack.embedder(name).index_file) for name in
            (e.name for e in pack.embedders)}


def verify_checksums(path: Path, manifest: dict | None = None) -> list[str]:
    """Files whose sha256 differs from the manifest (empty list = all good)."""
    manifest = manifest or read_manifest(path)
    bad = []
    for name, expected in manifest.get("checksums", {}).items():
        file_path = Path(path) / name
        if not file_path.exists() or not checksum_matches(file_path, expected):
            bad.append(name)
    return bad


def _storage_name(storage: StorageDataType) -> str:
    return {v: k for k, v in STORAGE_TYPES.items()}.get(storage, str(storage))


def _merge_performers_db(db_file: Path, performers: dict[str, dict]) -> None:
    """Aliases, disambiguation and per-endpoint stash ids live only in a release's performers.db."""
    domains = {"stashdb": "stashdb.org", "theporndb": "theporndb.net", "fansdb": "fansdb.cc",
               "pmvstash": "pmvstash.org", "javstash": "javstash.org"}
    try:
        conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
        ids = conn.execute("SELECT performer_id, endpoint, stashbox_performer_id FROM stashbox_ids").fetchall()
        aliases = conn.execute("SELECT performer_id, alias FROM aliases").fetchall()
        extra = {row[0]: row[1:] for row in conn.execute("SELECT id, disambiguation FROM performers")}
        conn.close()
    except sqlite3.Error:
        return  # optional enrichment: a release without it still identifies faces
    by_internal: dict[int, list[tuple[str, str]]] = {}
    for internal, endpoint, stash_id in ids:
        by_internal.setdefault(internal, []).append((domains.get(endpoint, f"{endpoint}.org"), stash_id))
    alias_map: dict[int, list[str]] = {}
    for internal, alias in aliases:
        alias_map.setdefault(internal, []).append(alias)
    for internal, endpoints in by_internal.items():
        for domain, stash_id in endpoints:
            record = performers.get(f"{domain}:{stash_id}")
            if record is not None:
                record.setdefault("stash_ids", [{"endpoint": d, "stash_id": s} for d, s in endpoints])
                record.setdefault("aliases", alias_map.get(internal, []))
                if extra.get(internal) and extra[internal][0]:
                    record.setdefault("disambiguation", extra[internal][0])


# --- writing -------------------------------------------------------------------------------------

def new_index(dim: int, storage: str = "float32") -> Index:
    return Index(Space.Cosine, num_dimensions=dim, M=12, ef_construction=200, random_seed=1,
                 storage_data_type=STORAGE_TYPES[storage])


def write_database(path: Path, pack: Pack, faces: list[str | None], performers: dict[str, dict],
                   indices: dict[str, Index], version: str | None = None, extra: dict | None = None) -> dict:
    """Write all files, then the manifest (last, atomically): a half-written folder has none."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "manifest.json").unlink(missing_ok=True)
    atomic_write(path / "faces.json", json.dumps(faces).encode())
    atomic_write(path / "performers.json", json.dumps(performers, indent=1, sort_keys=True).encode())
    embedders = {}
    for name, index in indices.items():
        spec = pack.embedder(name)
        atomic_write(path / spec.index_file, index.as_bytes())
        embedders[name] = {"index_file": spec.index_file, "dim": spec.dim, "recipe": spec.recipe.fingerprint(),
                           "recipe_spec": spec.recipe.to_dict(), "model_sha256": spec.model.sha256,
                           "storage": _storage_name(index.storage_data_type)}
    files = ["faces.json", "performers.json", *(str(e["index_file"]) for e in embedders.values())]
    storages = {e["storage"] for e in embedders.values()}
    manifest = {
        "format": FORMAT, "format_version": 1,
        "version": version or datetime.now(UTC).strftime("%Y.%m.%d"),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "pack": pack.name,
        "storage": storages.pop() if len(storages) == 1 else "mixed",
        "performer_count": len(performers),
        "face_count": sum(1 for f in faces if f is not None),
        "embedders": embedders,
        "models": {"detector": Path(pack.detector.model.file).name, "alignment": "insightface_norm_crop_5point",
                   "flip_averaging": all(e.recipe.flip_average for e in pack.embedders)},
        "checksums": {name: "sha256:" + file_sha256(path / name) for name in files},
        "sizes": {name: (path / name).stat().st_size for name in files},  # checked before a release is extracted
        **(extra or {}),
    }
    atomic_write(path / "manifest.json", json.dumps(manifest, indent=2).encode())
    return manifest


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that a crash leaves the old file or the new one, never half."""
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)


def all_vectors(index: Index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, unit vectors) stored in an index, in id order."""
    ids = np.array(sorted(index.ids), dtype=np.int64)
    if not len(ids):
        return ids, np.zeros((0, index.num_dimensions), np.float32)
    return ids, np.asarray(index.get_vectors(ids.tolist()), dtype=np.float32)


def convert_storage(db: FaceDatabase, pack: Pack, storage: str, out: Path | None = None) -> dict:
    """Rewrite every index with another storage type (float32 -> E4M3 is 4x smaller vectors)."""
    converted = {}
    for name, index in db.indices.items():
        ids, vectors = all_vectors(index)
        target = new_index(index.num_dimensions, storage)
        if len(ids):
            target.add_items(vectors, ids=ids.tolist())
        converted[name] = target
    extra = {k: db.manifest[k] for k in ("sources",) if k in db.manifest}
    return write_database(out or db.path, pack, db.faces, db.performers, converted, db.version,
                          {**extra, "converted_from": db.storage()})
