"""A query adapter: one linear map per embedder that brings embeddings of degraded faces back
towards those of the same faces photographed clearly.

A thumbnail, a far-away face or a blurred one does not land where the same face's clear photo
does: its embedding drifts, and largely in a direction that poor faces share (to the model,
strangers' thumbnails look alike). A ridge regression from degraded copies of photos to the
clear originals learns that drift; pulled towards the identity and fitted on clear faces mapped
onto themselves too, it leaves clear faces where they are. It is fitted per pack on calibration
photos only (``python -m devtools adapt``; people the evaluation never sees) and stored beside
the pack as ``packs/<pack>.adapter.npz``. Only queries are adapted: a database keeps the
embeddings of its reference photos as they were computed (a release's cannot be recomputed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Ridge weight towards the identity map, for fits on thousands of pairs. Hard-set face rank-1 with
# weights 0.3 / 1 / 3 / 10 (10,099 pairs, measured before the small-face landmark refinement):
# 92.6 / 92.5 / 92.4 / 92.2% against 91.1% unadapted; far larger weights leave the embeddings as they are.
STRENGTH = 1.0


@dataclass(frozen=True)
class QueryAdapter:
    """Per embedder a (dim, dim) matrix: ``adapted = normalise(embedding @ matrix)``."""

    matrices: dict[str, np.ndarray]

    def apply(self, embeddings: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Unit vectors (one or a stack per embedder) mapped and made unit length again; an
        embedder without a matrix passes unchanged."""
        adapted = {}
        for name, vectors in embeddings.items():
            matrix = self.matrices.get(name)
            if matrix is None:
                adapted[name] = vectors
                continue
            mapped = np.asarray(vectors, np.float32) @ matrix
            adapted[name] = (mapped / np.maximum(np.linalg.norm(mapped, axis=-1, keepdims=True), 1e-12)
                             ).astype(np.float32)
        return adapted

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = dict(self.matrices)  # typed loosely: savez's stub reads a key as allow_pickle
        with open(path, "wb") as handle:  # np.savez would append ".npz" to a name without it
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: Path) -> QueryAdapter:
        with np.load(path) as data:
            return cls({name: data[name].astype(np.float32) for name in data.files})


def fit_adapter(degraded: dict[str, np.ndarray], clear: dict[str, np.ndarray],
                strength: float = STRENGTH) -> QueryAdapter:
    """Least squares from degraded embeddings to their clear originals (row i of each is one
    photo), with the clear ones mapped onto themselves and ``strength`` pulling towards the
    identity: the map that moves poor faces most and clear faces least."""
    matrices = {}
    for name, poor in degraded.items():
        x = np.vstack([poor, clear[name]]).astype(np.float64)
        y = np.vstack([clear[name], clear[name]]).astype(np.float64)
        identity = np.eye(x.shape[1])
        matrices[name] = np.linalg.solve(x.T @ x + strength * identity,
                                         x.T @ y + strength * identity).astype(np.float32)
    return QueryAdapter(matrices)
