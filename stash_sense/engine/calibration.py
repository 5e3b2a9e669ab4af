"""Turning match evidence into the probability that a tag is right.

A logistic model over a few evidence features, fitted on labelled persons (``python -m
devtools calibrate``) and stored beside the model pack as ``packs/<pack>.calibration.json``.
Coefficients are constrained to be >= 0, so more evidence (higher similarity, larger margin,
more faces, more images, more votes, a larger, sharper, more frontal, surer face) can never lower
the confidence. The face features are those of the person's best face: a small clear face still
counts, a smeared one counts less (no face is thrown away for its size).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from stash_sense.engine.decide import band

FEATURES = ("similarity", "margin", "log_faces", "log_images", "votes", "quality",
            "log_size", "det_score", "sharpness", "frontal", "best_similarity", "log_agreeing")
EVIDENCE = ("similarity", "margin", "faces", "images", "votes", "quality",
            "size", "det_score", "sharpness", "frontal", "best_similarity")  # confidence()'s arguments
# Face sizes (px) are clipped to this range before the log: below, no face is found; above, a
# bigger face adds nothing the embedding does not already have.
SIZE_RANGE = (8.0, 160.0)


@dataclass
class Calibration:
    weights: dict[str, float]
    bias: float
    cluster_threshold: float  # average-linkage cosine above which faces are one person
    auto_threshold: float  # confidence at which tags reached >= 99% precision on the fit data
    review_threshold: float  # ... >= 90% precision
    floor_similarity: float = 0.0  # stands in for the runner-up when there is only one candidate
    fitted_on: dict = field(default_factory=dict)
    # Average-linkage cosine above which clusters that name the same performer first are one person
    # (persons.merge_agreeing); None (calibrations fitted before it): they are never joined.
    agree_threshold: float | None = None

    def confidence(self, similarity: float, margin: float, faces: int, images: int, votes: float,
                   quality: float, size: float = SIZE_RANGE[1], det_score: float = 1.0, sharpness: float = 0.0,
                   frontal: float = 1.0, best_similarity: float | None = None) -> float:
        """Probability that the tag is right. The face features default to a large, sure, frontal
        face, so a calibration fitted without them (weights 0) gives what it always gave;
        ``best_similarity`` defaults to ``similarity`` (one face: its similarity is both)."""
        values = feature_vector(similarity, margin, faces, images, votes, quality, size, det_score,
                                sharpness, frontal, best_similarity)
        z = self.bias + sum(self.weights.get(name, 0.0) * value for name, value in zip(FEATURES, values))
        return 1.0 / (1.0 + math.exp(-z))

    def band(self, confidence: float, incidental: bool = False) -> str:
        return band(confidence, self.auto_threshold, self.review_threshold, incidental)

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        return cls(**data)


def feature_vector(similarity: float, margin: float, faces: int, images: int, votes: float,
                   quality: float, size: float = SIZE_RANGE[1], det_score: float = 1.0, sharpness: float = 0.0,
                   frontal: float = 1.0, best_similarity: float | None = None) -> list[float]:
    """``quality``: the person's best detector quality; blurred or cut-off background faces are
    where look-alike false matches come from, so low quality must lower confidence. ``size``,
    ``det_score``, ``sharpness`` (detector.crop_sharpness) and ``frontal`` are that face's.
    ``similarity`` is the mean over the person's faces of their best similarity to the performer,
    ``best_similarity`` the highest of them: one clear face among poor ones of the same person
    keeps its weight instead of being averaged away."""
    log_size = math.log(min(max(size, SIZE_RANGE[0]), SIZE_RANGE[1]))
    best = similarity if best_similarity is None else best_similarity
    agreeing = round(votes * max(faces, 1))  # faces that name this performer first
    return [similarity, margin, math.log(max(faces, 1)), math.log(max(images, 1)), votes, quality,
            log_size, det_score, sharpness, frontal, best, math.log(max(agreeing, 1))]


def uncalibrated(cluster_threshold: float = 0.35) -> Calibration:
    """Fallback for a pack nobody has fitted yet: similarity alone, steep around 0.45.

    Shown in `db info`/logs as uncalibrated; run `python -m devtools calibrate` to fit one.
    """
    return Calibration(weights={"similarity": 30.0},
                       bias=-13.5, cluster_threshold=cluster_threshold, auto_threshold=0.99,
                       review_threshold=0.9, fitted_on={"uncalibrated": True})


def fit_logistic(features: np.ndarray, labels: np.ndarray, l2: float = 1e-3,
                 steps: int = 3000) -> tuple[np.ndarray, float]:
    """Non-negative logistic regression by projected gradient descent on standardised features."""
    x = np.asarray(features, np.float64)
    y = np.asarray(labels, np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    w, b = np.zeros(x.shape[1]), 0.0
    rate = 0.5
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        grad_w = z.T @ (p - y) / len(y) + l2 * w
        grad_b = float(np.mean(p - y))
        w = np.maximum(w - rate * grad_w, 0.0)
        b -= rate * grad_b
    weights = w / scale
    return weights, float(b - np.sum(w * mean / scale))


def precision_threshold(confidences: np.ndarray, correct: np.ndarray, target: float, min_support: int = 50) -> float:
    """Lowest confidence t whose tags (all samples >= t) reach ``target`` precision.

    The usual operating point: the largest top-confidence set with the wanted precision. Sets
    smaller than ``min_support`` are ignored, so one mislabelled sample at the very top (LFW has a
    few duplicated photos under two names) cannot push the threshold to 1.
    """
    order = np.argsort(-confidences, kind="stable")
    conf, good = confidences[order], correct[order].astype(np.float64)
    precision = np.cumsum(good) / np.arange(1, len(good) + 1)
    ok = np.flatnonzero((precision >= target) & (np.arange(1, len(good) + 1) >= min(min_support, len(good))))
    return float(conf[ok[-1]]) if len(ok) else 1.0


# Share of different-person face pairs as alike as clusters must be to join on agreement alone:
# agreement on the performer is itself strong evidence, so a looser bound than clustering's 0.001.
AGREE_FALSE_MERGE = 0.10


def cluster_threshold_from_pairs(same: np.ndarray, different: np.ndarray, max_false_merge: float = 0.001) -> float:
    """The similarity above which at most ``max_false_merge`` of different-person pairs fall."""
    return float(np.quantile(np.asarray(different), 1.0 - max_false_merge)) if len(different) else 0.35


def fit_calibration(samples: list[dict], cluster_threshold: float, fitted_on: dict,
                    without: tuple[str, ...] = (), agree_threshold: float | None = None) -> Calibration:
    """``samples``: dicts with the confidence() keyword features plus ``correct`` (bool).

    ``without``: FEATURES left out (weight 0), to measure what each one adds.
    """
    x = np.array([feature_vector(*(s[k] for k in EVIDENCE)) for s in samples])
    use = [name for name in FEATURES if name not in set(without)]
    x = x[:, [FEATURES.index(name) for name in use]]
    y = np.array([s["correct"] for s in samples], bool)
    weights, bias = fit_logistic(x, y)
    calibration = Calibration(weights={name: float(w) for name, w in zip(use, weights)}, bias=bias,
                              cluster_threshold=cluster_threshold, auto_threshold=1.0, review_threshold=1.0,
                              fitted_on={**fitted_on, "samples": len(samples), "positives": int(y.sum())},
                              agree_threshold=agree_threshold)
    confidences = np.array([calibration.confidence(**{k: s[k] for k in EVIDENCE}) for s in samples])
    calibration.auto_threshold = max(0.5, precision_threshold(confidences, y, 0.99))
    calibration.review_threshold = min(calibration.auto_threshold,
                                       max(0.5, precision_threshold(confidences, y, 0.90)))
    return calibration


def load_calibration(pack) -> Calibration:
    return Calibration.from_dict(pack.calibration) if pack.calibration else uncalibrated()
