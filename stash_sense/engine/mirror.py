"""Mirror on demand: embed a face's mirror image only where it can change a decision.

Flip averaging (embedding the crop and its mirror, averaging the raw outputs) steadies a face's
embedding a little; with the production pack the mirror pass is 40-49% of all inference time.
It matters only for faces whose match sits near a decision: the calibrated confidence of a face
(its best performer's similarity and margin over the runner-up, as one face in one image) close to
the review or the auto threshold. A face that clearly matches nobody, or clearly matches one
performer far above both thresholds, gets the same decision either way, so its mirror is skipped.

The gate works in the calibration's logit space: a face is "near" from ``band`` logit units
below the review threshold (lowered further by what many faces and images add to a person's
confidence) up to ``band`` units above the auto threshold. The default band (2.0) moves the
face-level similarity by about 0.1 before a decision could flip, several times what the mirror
moves it (measured on LFW DevTest: see the README). Enrollment (database building) always mirrors: the
database must match what a full query computes.
"""

from __future__ import annotations

import math

import numpy as np

from stash_sense.engine.calibration import Calibration
from stash_sense.engine.matching import Matcher

DEFAULT_BAND = 2.0
EVIDENCE_FACES = 16  # faces (and images) of a person the lower edge allows for


class MirrorGate:
    """Which faces, given their unmirrored embeddings, still need their mirror embedded."""

    def __init__(self, matcher: Matcher, calibration: Calibration, band: float = DEFAULT_BAND) -> None:
        self.matcher = matcher
        self.calibration = calibration
        self.band = band
        self.asked = 0
        self.mirrored = 0

    def __call__(self, embeddings: dict[str, np.ndarray]) -> np.ndarray:
        per_face = self.matcher.match_faces(self.matcher.adapt(embeddings))
        need = np.array([self._near_decision(matches) for matches in per_face], bool)
        self.asked += len(need)
        self.mirrored += int(need.sum())
        return need

    @property
    def skipped_fraction(self) -> float:
        return 1.0 - self.mirrored / self.asked if self.asked else 0.0

    def _near_decision(self, matches: list) -> bool:
        if not matches:
            return False  # nobody in the database comes close: no decision to flip
        best = matches[0].similarity
        runner_up = matches[1].similarity if len(matches) > 1 else self.calibration.floor_similarity
        confidence = self.calibration.confidence(similarity=best, margin=best - runner_up, faces=1, images=1,
                                                 votes=1.0, quality=1.0)
        z = _logit(confidence)
        low = _logit(self.calibration.review_threshold) - self.band - self._evidence_bonus
        high = _logit(self.calibration.auto_threshold) + self.band
        return low <= z <= high

    @property
    def _evidence_bonus(self) -> float:
        """How far a person of many faces in many images can rise above one face's confidence:
        a face well below the review threshold alone may still belong to a person near it."""
        weights = self.calibration.weights
        counts = ("log_faces", "log_images", "log_agreeing")  # the features that grow with the faces
        return sum(weights.get(name, 0.0) for name in counts) * math.log(EVIDENCE_FACES)


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))
