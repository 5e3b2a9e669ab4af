"""Parity with DeepFace: our ONNX FaceNet512/ArcFace give DeepFace's embeddings for the same crop.

The published Stash Sense database was built with DeepFace's models; our ONNX exports and recipes
must reproduce those embeddings or queries land in the wrong place. Optional: needs the deepface
extra (``pip install -r requirements-deepface.txt``), DeepFace's weights in ~/.deepface/weights and
the stash-sense-v1 models; skipped with the reason otherwise.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import LFW

from stash_sense.engine import ModelUnavailable, load_pack
from stash_sense.engine.embedder import Embedder
from stash_sense.engine.packs import resolve_model

WEIGHTS = {"facenet512": ("Facenet512", "facenet512_weights.h5", "Facenet2018"),
           "arcface": ("ArcFace", "arcface_weights.h5", "ArcFace")}


def _requirements(name: str) -> Embedder:
    if importlib.util.find_spec("deepface") is None:
        pytest.skip("optional deepface extra not installed (pip install -r requirements-deepface.txt)")
    weights = Path.home() / ".deepface" / "weights" / WEIGHTS[name][1]
    if not weights.exists():
        pytest.skip(f"DeepFace weights not present offline: {weights}")
    spec = load_pack("stash-sense-v1").embedder(name)
    try:
        return Embedder(name, resolve_model(spec.model), spec.recipe)
    except ModelUnavailable as exc:
        pytest.skip(f"stash-sense-v1 model not downloaded: {exc}")


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_onnx_embedding_matches_deepface(engine, name):
    embedder = _requirements(name)
    from deepface import DeepFace

    images = sorted((LFW / "Tony_Blair").glob("*.jpg"))[:3]
    crops = [engine.analyze([p])[0].primary_face().crop for p in images]
    model_name, _, normalization = WEIGHTS[name]
    for crop in crops:
        ours = embedder.forward([crop])[0]
        theirs = np.asarray(DeepFace.represent(crop[..., ::-1].copy(), model_name=model_name,
                                               detector_backend="skip", align=False,
                                               normalization=normalization)[0]["embedding"])
        cosine = float(ours @ theirs / (np.linalg.norm(ours) * np.linalg.norm(theirs)))
        assert cosine > 0.99, f"{name}: cosine {cosine:.4f} to DeepFace's embedding of the same crop"
