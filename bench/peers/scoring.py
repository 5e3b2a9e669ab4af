"""Scores from one embedding per image, for any engine: the similarity function is a parameter.

Same protocol as devtools.evaluation.pairs.verification_accuracy (best threshold searched on
the pairs themselves, a pair with a missing face counts as wrong) and as the harness's face
rank-1 / open-set false-tag rate (query without a face = miss; distractor without a face is not
counted), so our engine and the peer are scored identically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from devtools.evaluation.harness import Split
from devtools.evaluation.pairs import Pair

Vectors = dict[Path, np.ndarray | None]
Similarity = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (n,d) x (d,) -> (n,)


def cosine(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    return matrix @ vector


def negative_euclidean(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """face_recognition.face_distance, negated so that larger means more alike."""
    return -np.linalg.norm(matrix - vector, axis=1)


def verification(pairs: list[Pair], vectors: Vectors, similarity: Similarity, threshold: float) -> dict:
    """Best-threshold accuracy and accuracy at the engine's own fixed threshold."""
    scores, labels = [], []
    for pair in pairs:
        a, b = vectors.get(pair.left), vectors.get(pair.right)
        if a is not None and b is not None:
            scores.append(float(similarity(a[None], b)[0]))
            labels.append(pair.same)
    scores_arr, labels_arr = np.array(scores), np.array(labels, bool)
    best = max((int(np.sum((scores_arr >= t) == labels_arr)) for t in np.unique(scores_arr)), default=0)
    at_default = int(np.sum((scores_arr >= threshold) == labels_arr))
    return {"accuracy": round(best / len(pairs), 4), "accuracy_at_default_threshold": round(at_default / len(pairs), 4),
            "default_threshold": threshold, "pairs": len(pairs), "missing_faces": len(pairs) - len(scores)}


def identification(split: Split, vectors: Vectors, similarity: Similarity, threshold: float) -> dict:
    """Nearest enrolled face decides rank-1; a distractor is tagged when it is within threshold."""
    known = [(uid, vectors[p]) for uid, paths in split.enrolled.items() for p in paths if vectors[p] is not None]
    owners = [uid for uid, _ in known]
    matrix = np.stack([v for _, v in known])
    hits = queries = 0
    for uid, paths in split.queries.items():
        for path in paths:
            queries += 1
            if vectors[path] is not None:
                hits += owners[int(np.argmax(similarity(matrix, vectors[path])))] == uid
    present = [vectors[p] for p in split.distractors if vectors[p] is not None]
    tagged = sum(float(np.max(similarity(matrix, v))) >= threshold for v in present)
    return {"face_rank1": round(hits / queries, 4) if queries else 0.0,
            "open_set_false_tag_rate": round(tagged / len(present), 4) if present else 0.0,
            "queries": queries, "distractor_faces": len(present), "enrolled_faces": len(known)}
