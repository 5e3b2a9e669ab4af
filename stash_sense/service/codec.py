"""Images in, analysed faces out: the JSON shapes the services exchange and a plugin can cache.

An analysed image is ``{"image", "error", "size", "faces": [{"detection", "embeddings"}]}``.
``detection`` has the keys of ``DetectedFace.to_dict`` but unrounded, and each embedding is the
base64 of its little-endian float32 bytes, so a face restored from a cache is bit-for-bit the face
the engine produced and ``identify_analyzed`` gives exactly what ``identify`` gives.
"""

from __future__ import annotations

import base64

import numpy as np

from stash_sense.engine.detector import DetectedFace
from stash_sense.engine.pipeline import Face, ImageResult


def image_to_dict(result: ImageResult) -> dict:
    return {"image": result.source, "error": result.error,
            "size": list(result.size) if result.size else None,
            "faces": [face_to_dict(face) for face in result.faces]}


def face_to_dict(face: Face) -> dict:
    d = face.detection
    detection = {"box": [float(v) for v in d.bbox], "det_score": float(d.score), "size": d.size,
                 "quality": float(d.quality), "sharpness": float(d.sharpness),
                 "landmarks": np.asarray(d.landmarks, np.float64).tolist(),
                 "skipped": d.skipped}
    return {"detection": detection,
            "embeddings": {name: encode_vector(vector) for name, vector in face.embeddings.items()}}


def image_from_dict(data: dict) -> ImageResult:
    size = data.get("size")
    return ImageResult(source=str(data["image"]), error=data.get("error"),
                       size=(int(size[0]), int(size[1])) if size else None,
                       faces=[face_from_dict(face) for face in data.get("faces", [])])


def face_from_dict(data: dict) -> Face:
    d = data["detection"]
    detection = DetectedFace(bbox=np.asarray(d["box"], np.float32), score=float(d["det_score"]),
                             landmarks=np.asarray(d["landmarks"], np.float32), skipped=d.get("skipped"),
                             quality=float(d.get("quality", 0.0)), sharpness=float(d.get("sharpness", 0.0)))
    embeddings = {name: decode_vector(value) for name, value in (data.get("embeddings") or {}).items()}
    return Face(detection=detection, embeddings=embeddings)


def encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, "<f4").tobytes()).decode("ascii")


def decode_vector(value: str | list[float]) -> np.ndarray:
    """A base64 float32 string (what ``analyze`` returns) or a plain list of floats."""
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), "<f4").astype(np.float32)
    return np.asarray(value, np.float32)
