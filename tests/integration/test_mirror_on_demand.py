"""Mirror on demand and the even split of embedding work, on real LFW faces with test-mbf128.

The decisions (who is tagged, in which band) must be the ones full mirroring gives; faces the gate
mirrors must carry exactly the flip-averaged embedding, the others exactly the unmirrored one.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DEEPFACE, LFW

from stash_sense.engine.builder import build_database
from stash_sense.engine.database import load_database
from stash_sense.engine.embedder import l2_normalise
from stash_sense.engine.identify import Identifier

ENROLLED = ["Tony_Blair", "Serena_Williams", "Colin_Powell", "Jacques_Chirac", "Laura_Bush", "Hugo_Chavez"]
NOT_ENROLLED = ["Donald_Rumsfeld", "Winona_Ryder", "Tiger_Woods"]


def _images(name: str) -> list:
    return sorted((LFW / name).glob("*.jpg"))


@pytest.fixture(scope="module")
def identifier(engine, tmp_path_factory):
    enrolled = {f"local:{name}": _images(name)[:2] for name in ENROLLED}
    path = tmp_path_factory.mktemp("mirror") / "db"
    build_database(engine, enrolled, {}, path)
    return Identifier(engine, [load_database(path, engine.pack)])


GALLERIES = {
    "one enrolled": _images("Tony_Blair")[2:14],
    "two enrolled": _images("Colin_Powell")[2:8] + _images("Laura_Bush")[2:6],
    "enrolled and unknown": _images("Hugo_Chavez")[2:7] + _images("Donald_Rumsfeld")[:5],
    "unknowns only": _images("Winona_Ryder")[:4] + _images("Tiger_Woods")[:4],
}


def _decisions(result) -> list[tuple]:
    """What the user sees per person: the performer tagged or suggested, and how; a "low" person
    leads to nothing, so which performer it was closest to does not matter."""
    decisions = []
    for person in result.persons:
        band = result.calibration.band(person.identified.confidence, person.incidental) if person.identified else "low"
        decisions.append((person.identified.universal_id if band != "low" else "-", band, len(person.faces)))
    return sorted(decisions)


@pytest.mark.parametrize("gallery", sorted(GALLERIES))
def test_mirror_on_demand_decides_as_full_mirroring(identifier, gallery):
    images = GALLERIES[gallery]
    names = [str(p) for p in images]
    full = identifier.identify(images, names=names)
    gate = identifier.use_mirror_on_demand()
    try:
        on_demand = identifier.identify(images, names=names)
    finally:
        identifier.engine.mirror_gate = None
    assert _decisions(on_demand) == _decisions(full)
    assert gate.asked == sum(len(r.usable_faces) for r in full.images)


def test_the_gate_skips_clear_faces_and_mirrors_uncertain_ones(identifier):
    """Over all galleries most faces are clear (skipped), and the gate is not a constant."""
    gate = identifier.use_mirror_on_demand()
    try:
        for images in GALLERIES.values():
            identifier.identify(images, names=[str(p) for p in images])
    finally:
        identifier.engine.mirror_gate = None
    assert 0.5 <= gate.skipped_fraction < 1.0


def test_skipped_faces_carry_the_unmirrored_embedding_and_mirrored_faces_the_average(identifier):
    engine = identifier.engine
    images = [p for paths in GALLERIES.values() for p in paths]
    crops_engine_keep = engine.keep_crops
    engine.keep_crops = True
    gate = identifier.use_mirror_on_demand()
    decided: list[np.ndarray] = []
    original_call = gate.__call__

    def recording(embeddings):
        need = original_call(embeddings)
        decided.append(need)
        return need

    engine.mirror_gate = recording
    try:
        results = engine.analyze(images)
    finally:
        engine.mirror_gate = None
        engine.keep_crops = crops_engine_keep
    faces = [f for r in results for f in r.faces if f.crop is not None]
    need = np.concatenate(decided)
    assert len(need) == len(faces) and need.any() and not need.all()
    mbf = engine.embedders["mbf128"]
    for face, mirrored in zip(faces, need):
        expected = mbf.embed([face.crop])[0] if mirrored else l2_normalise(mbf.forward([face.crop]))[0]
        np.testing.assert_allclose(face.embeddings["mbf128"], expected, atol=1e-5)


def test_embedding_is_split_evenly_over_the_workers(engine):
    """44 faces on 2 workers: 22 and 22 (it was 32 and 12), and the split changes no embedding."""
    crops = [np.zeros((112, 112, 3), np.uint8)] * 44
    assert [len(part) for part in engine._even_parts(crops)] == [44 // engine.threads] * engine.threads
    images = sorted(DEEPFACE.glob("person0[1-3]/*.jpg"))[:12]
    engine.keep_crops = True
    try:
        results = engine.analyze(images)
    finally:
        engine.keep_crops = False
    faces = [f for r in results for f in r.faces if f.crop is not None]
    assert len(faces) >= 10
    by_hand = engine.embedders["mbf128"].embed([f.crop for f in faces])
    np.testing.assert_allclose(np.stack([f.embeddings["mbf128"] for f in faces]), by_hand, atol=1e-5)
