"""Face verification on labelled pairs (LFW pairsDevTest / pairs.txt, the deepface test set)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stash_sense.engine import Engine


@dataclass(frozen=True)
class Pair:
    left: Path
    right: Path
    same: bool


def read_lfw_pairs(pairs_file: Path, image_root: Path | None = None) -> list[Pair]:
    """LFW pair lists: ``name i j`` (same person) or ``name1 i name2 j`` (different)."""
    root = image_root or pairs_file.parent
    pairs = []
    for line in pairs_file.read_text().splitlines():
        fields = line.split()
        if len(fields) == 3:
            name, i, j = fields
            pairs.append(Pair(_lfw_path(root, name, i), _lfw_path(root, name, j), True))
        elif len(fields) == 4:
            name1, i, name2, j = fields
            pairs.append(Pair(_lfw_path(root, name1, i), _lfw_path(root, name2, j), False))
    return pairs


def read_csv_pairs(pairs_csv: Path) -> list[Pair]:
    """The deepface test set's ``pairs.csv`` (img1, img2, same)."""
    with open(pairs_csv, newline="") as handle:
        return [Pair(pairs_csv.parent / row["img1"], pairs_csv.parent / row["img2"], row["same"] == "1")
                for row in csv.DictReader(handle)]


def _lfw_path(root: Path, name: str, index: str) -> Path:
    return root / name / f"{name}_{int(index):04d}.jpg"


def best_face_embeddings(engine: Engine, images: list[Path]) -> dict[Path, np.ndarray | None]:
    """One embedding per image: its primary face (None when it has no usable face)."""
    out = {}
    for path, result in zip(images, engine.analyze(images)):
        face = result.primary_face()
        out[path] = fused_embedding(face.embeddings, engine) if face else None
    return out


def fused_embedding(embeddings: dict[str, np.ndarray], engine: Engine) -> np.ndarray:
    """Concatenate per-embedder unit vectors scaled by sqrt(weight): dot = weighted cosine."""
    weights = {spec.name: spec.weight for spec in engine.pack.embedders}
    total = sum(weights.values())
    return np.concatenate([embeddings[n] * np.sqrt(weights[n] / total) for n in sorted(embeddings)])


def verification_accuracy(pairs: list[Pair], embeddings: dict[Path, np.ndarray | None]) -> dict:
    """Best-threshold accuracy (DeepFace's protocol); a pair with a missing face counts as wrong."""
    scores, labels, missing = [], [], 0
    for pair in pairs:
        a, b = embeddings.get(pair.left), embeddings.get(pair.right)
        if a is None or b is None:
            missing += 1
            continue
        scores.append(float(np.dot(a, b)))
        labels.append(pair.same)
    scores_arr, labels_arr = np.array(scores), np.array(labels, bool)
    best_correct, best_threshold = 0, 0.0
    for threshold in np.unique(scores_arr):
        correct = int(np.sum((scores_arr >= threshold) == labels_arr))
        if correct > best_correct:
            best_correct, best_threshold = correct, float(threshold)
    return {"accuracy": best_correct / len(pairs), "threshold": best_threshold,
            "pairs": len(pairs), "missing_faces": missing,
            "mean_same": float(scores_arr[labels_arr].mean()) if labels_arr.any() else None,
            "mean_different": float(scores_arr[~labels_arr].mean()) if (~labels_arr).any() else None}


def evaluate_pairs(engine: Engine, pairs: list[Pair]) -> dict:
    images = sorted({p.left for p in pairs} | {p.right for p in pairs})
    return verification_accuracy(pairs, best_face_embeddings(engine, images))
