"""face_recognition (dlib HOG or CNN detector + dlib ResNet 128-d) as FaceStash and Star Identifier
call it: ``load_image_file`` -> ``face_locations`` -> ``face_encodings`` with the library defaults.

Only the *choice of the subject* is ours: the same rule as ``ImageResult.primary_face`` (face
nearest the centre relative to its size), so that both engines are scored on the same face.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# face_recognition's documented defaults (api.py 1.3.0).
TOLERANCE = 0.6  # compare_faces: same person when the euclidean distance is <= this
UPSAMPLE = 1  # face_locations(number_of_times_to_upsample=1)
NUM_JITTERS = 1  # face_encodings(num_jitters=1)
ENCODING_MODEL = "small"  # face_encodings(model="small"): 5-point landmarks


@dataclass
class PeerFace:
    box: tuple[int, int, int, int]  # top, right, bottom, left (face_recognition's order)
    encoding: np.ndarray

    @property
    def size(self) -> float:
        top, right, bottom, left = self.box
        return float(min(right - left, bottom - top))


@dataclass
class PeerResult:
    source: str
    faces: list[PeerFace] = field(default_factory=list)
    size: tuple[int, int] | None = None  # width, height
    error: str | None = None

    def primary_face(self) -> PeerFace | None:
        """The subject: nearest the centre relative to face size (our engine's rule)."""
        if not self.faces or not self.size:
            return None
        centre = np.array(self.size, np.float32) / 2

        def off_centre(face: PeerFace) -> float:
            top, right, bottom, left = face.box
            middle = np.array([(left + right) / 2, (top + bottom) / 2])
            return float(np.linalg.norm(middle - centre)) / max(face.size, 1.0)

        return min(self.faces, key=off_centre)


class FaceRecognitionEngine:
    """The peer engine; ``detector`` is face_recognition's ``model`` argument ("hog" or "cnn")."""

    def __init__(self, detector: str = "hog") -> None:
        import face_recognition  # optional dependency: requirements-peers.txt

        self._fr = face_recognition
        self.detector = detector

    def analyze(self, paths: list[Path]) -> list[PeerResult]:
        return [self.analyze_one(path) for path in paths]

    def analyze_one(self, path: Path) -> PeerResult:
        result = PeerResult(source=str(path))
        try:
            image = self._fr.load_image_file(str(path))
        except OSError as exc:
            result.error = str(exc)
            return result
        result.size = (int(image.shape[1]), int(image.shape[0]))
        boxes = self._fr.face_locations(image, number_of_times_to_upsample=UPSAMPLE, model=self.detector)
        encodings = self._fr.face_encodings(image, boxes, num_jitters=NUM_JITTERS, model=ENCODING_MODEL)
        result.faces = [PeerFace(tuple(box), np.asarray(enc, np.float64)) for box, enc in zip(boxes, encodings)]
        return result
