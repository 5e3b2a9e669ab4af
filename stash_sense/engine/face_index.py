"""A searchable index of many faces: one Voyager index per embedder, saved as one generation.

The library's own faces (every analysed face of every gallery, image and scene frame) live here so
that "who else looks like this face" is a k-nearest-neighbour query instead of a scan. Faces are
named by integer ids chosen by the caller (the library's side table), so the index holds vectors
only; what a face is (image, gallery, quality) is the caller's business.

Saving writes every embedder's index into a new generation folder and then replaces the
``current`` pointer file atomically: a process killed while saving leaves the previous generation
whole, and a reader never sees one embedder's file from one save and another's from the next.

Similarities are fused the way ``matching.fuse`` fuses a face: the weighted mean of the
per-embedder cosines.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from voyager import Index, Space, StorageDataType

from stash_sense.engine.database import atomic_write

STORAGE = {"float32": StorageDataType.Float32, "e4m3": StorageDataType.E4M3, "float8": StorageDataType.Float8}
POINTER = "current"
M = 12
EF_CONSTRUCTION = 100  # lower than a reference database's 200: built on the user's machine, often


@dataclass(frozen=True)
class Layout:
    """Which embedders (name -> dimension, weight) and storage an index is made of."""

    dims: dict[str, int]
    weights: dict[str, float]
    storage: str = "e4m3"

    def to_dict(self) -> dict:
        return {"dims": self.dims, "weights": self.weights, "storage": self.storage}


class FaceIndex:
    """Per-embedder Voyager indices over the same face ids, with fused k-NN search."""

    def __init__(self, layout: Layout, indices: dict[str, Index] | None = None):
        self.layout = layout
        total = sum(w for w in layout.weights.values() if w > 0) or 1.0
        self.scale = {n: float(np.sqrt(w / total)) for n, w in layout.weights.items() if w > 0}
        self.indices = indices or {name: Index(Space.Cosine, num_dimensions=dim, M=M,
                                               ef_construction=EF_CONSTRUCTION, random_seed=1,
                                               storage_data_type=STORAGE[layout.storage])
                                   for name, dim in layout.dims.items()}
        self._deleted: set[int] = set()

    def __len__(self) -> int:
        first = next(iter(self.indices.values()))
        return len(first) - len(self._deleted)

    def __contains__(self, face_id: int) -> bool:
        return int(face_id) in next(iter(self.indices.values())) and int(face_id) not in self._deleted

    def add(self, ids: Iterable[int], embeddings: dict[str, np.ndarray], threads: int = -1) -> None:
        """Add faces (``embeddings``: embedder -> rows in ``ids`` order). An id already present is replaced."""
        ids = [int(i) for i in ids]
        if not ids:
            return
        present = [i for i in ids if i in next(iter(self.indices.values()))]
        for name, index in self.indices.items():
            for face_id in present:
                if face_id in self._deleted:
                    index.unmark_deleted(face_id)
            index.add_items(np.asarray(embeddings[name], np.float32), ids=ids, num_threads=threads)
        self._deleted.difference_update(ids)

    def holds(self, face_id: int) -> bool:
        """The face is in the index and searchable."""
        return int(face_id) in next(iter(self.indices.values())) and int(face_id) not in self._deleted

    def remove(self, ids: Iterable[int]) -> None:
        """Hide faces from search (Voyager marks them deleted; the space is reused on rebuild)."""
        first = next(iter(self.indices.values()))
        for face_id in (int(i) for i in ids):
            if face_id in first and face_id not in self._deleted:
                for index in self.indices.values():
                    index.mark_deleted(face_id)
                self._deleted.add(face_id)

    def fused(self, ids: Iterable[int]) -> np.ndarray:
        """The stored faces as fused unit vectors (dot product = fused similarity)."""
        ids = [int(i) for i in ids]
        parts = [np.asarray(self.indices[n].get_vectors(ids), np.float32).reshape(len(ids), -1) * s
                 for n, s in sorted(self.scale.items())]
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(ids), 0), np.float32)

    def neighbours(self, queries: dict[str, np.ndarray], k: int, threads: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """For each query face: up to ``k`` nearest stored faces (ids, fused similarity), best first.

        Each embedder's index proposes ``k`` candidates; every candidate is then scored on every
        embedder from the stored vectors, so a face found by one embedder is not under-scored.
        Rows with fewer than ``k`` results are padded with id -1 and similarity -inf.
        """
        rows = len(next(iter(queries.values())))
        k = max(1, min(int(k), len(self)))
        out_ids = np.full((rows, k), -1, np.int64)
        out_sims = np.full((rows, k), -np.inf, np.float32)
        if rows == 0 or len(self) == 0:
            return out_ids, out_sims
        found = {n: self.indices[n].query(np.asarray(queries[n], np.float32), k=k, num_threads=threads,
                                          query_ef=max(2 * k, 64)) for n in self.scale}
        if len(self.scale) == 1:
            ids, distances = next(iter(found.values()))
            return ids.astype(np.int64), (1.0 - distances).astype(np.float32)
        fused_queries = self._fused_queries(queries)
        for row in range(rows):
            candidates = np.unique(np.concatenate([found[n][0][row] for n in found]).astype(np.int64))
            sims = self.fused(candidates) @ fused_queries[row]
            order = np.argsort(-sims, kind="stable")[:k]
            out_ids[row, :len(order)], out_sims[row, :len(order)] = candidates[order], sims[order]
        return out_ids, out_sims

    def _fused_queries(self, queries: dict[str, np.ndarray]) -> np.ndarray:
        """Query rows fused like the stored faces: each embedder's part normalised, then weighted."""
        parts = []
        for name, s in sorted(self.scale.items()):
            part = np.asarray(queries[name], np.float32)
            parts.append(part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-12) * s)
        return np.concatenate(parts, axis=1)

    def save(self, folder: Path, state: dict) -> int:
        """Write a new generation and switch to it atomically; returns its number."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        previous = read_pointer(folder)
        generation = (previous or {}).get("generation", 0) + 1
        target = folder / f"gen-{generation}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        for name, index in self.indices.items():
            index.save(str(target / f"{name}.voy"))
        (target / "deleted.json").write_text(json.dumps(sorted(self._deleted)))
        pointer = {**state, "generation": generation, "layout": self.layout.to_dict(), "faces": len(self)}
        atomic_write(folder / POINTER, json.dumps(pointer, sort_keys=True).encode())
        for old in folder.glob("gen-*"):
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
        return generation

    @classmethod
    def load(cls, folder: Path, layout: Layout) -> tuple[FaceIndex, dict] | None:
        """The saved generation and its state; None when nothing usable is saved for this layout."""
        pointer = read_pointer(Path(folder))
        if pointer is None or pointer.get("layout") != layout.to_dict():
            return None
        target = Path(folder) / f"gen-{pointer['generation']}"
        try:
            indices = {name: Index.load(str(target / f"{name}.voy")) for name in layout.dims}
            deleted = json.loads((target / "deleted.json").read_text())
        except (OSError, RuntimeError, ValueError):
            return None
        index = cls(layout, indices)
        index._deleted = {int(i) for i in deleted}
        return index, pointer


def read_pointer(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / POINTER).read_text())
    except (OSError, ValueError):
        return None
