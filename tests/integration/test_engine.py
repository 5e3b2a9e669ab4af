"""The engine on real faces with the real test-mbf128 models: alignment, recipes, flip, accuracy."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import pytest
from conftest import DEEPFACE, LFW
from insightface.utils.face_align import arcface_dst, estimate_norm
from onnx import TensorProto, helper

from devtools.evaluation.pairs import evaluate_pairs, read_csv_pairs, read_lfw_pairs
from stash_sense.engine import Engine, load_pack, load_rgb
from stash_sense.engine.embedder import Embedder
from stash_sense.engine.recipe import Recipe

PHOTOS = sorted(DEEPFACE.glob("person0[1-4]/*.jpg"))


def test_alignment_puts_detected_landmarks_on_the_arcface_template(engine):
    """Warp each real face, detect again on the warped image: landmarks sit where the warp says."""
    redetect_errors, centroid_errors = [], []
    for path in PHOTOS:
        image = load_rgb(path)
        for face in [f for f in engine.detector.detect(image) if f.skipped is None]:
            matrix = estimate_norm(face.landmarks, 112)
            warped_points = np.c_[face.landmarks, np.ones(5)] @ matrix.T
            centroid_errors.append(np.linalg.norm(warped_points.mean(0) - arcface_dst.mean(0)))
            # Same warp at 2x into a 448 canvas (context for the detector), mapped back to 112 units.
            big = matrix * 2
            big[:, 2] += 112
            again = engine.detector.detect(cv2.warpAffine(image, big, (448, 448)))
            if again:
                central = min(again, key=lambda f: np.linalg.norm(f.landmarks.mean(0) - 224))
                redetect_errors.append(np.linalg.norm((central.landmarks - 112) / 2 - warped_points, axis=1))
    assert len(redetect_errors) >= 25
    assert max(centroid_errors) < 1.5  # right template, right scale (not the 96x112 SphereFace one)
    assert np.all(np.median(np.array(redetect_errors), axis=0) < 1.5)


def _probe_model(tmp_path, layout: str, size: int) -> str:
    """An ONNX graph whose 'embedding' is the per-channel mean of its input."""
    shape = ["N", 3, size, size] if layout == "NCHW" else ["N", size, size, 3]
    axes = [2, 3] if layout == "NCHW" else [1, 2]
    node = helper.make_node("ReduceMean", ["input"], ["output"], axes=axes, keepdims=0)
    graph = helper.make_graph([node], "probe",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / f"probe_{layout}_{size}.onnx"
    onnx.save(model, path)
    return str(path)


@pytest.mark.parametrize("pack,embedder,layout", [
    ("test-mbf128", "mbf128", "NCHW"),
    ("stash-sense-v1", "arcface", "NHWC"),
    ("stash-sense-v1", "facenet512", "NHWC"),
])
def test_recipe_feeds_the_numbers_it_claims(tmp_path, pack, embedder, layout):
    recipe = load_pack(pack).embedder(embedder).recipe
    probe = Embedder("probe", _probe_model(tmp_path, layout, recipe.input_size[0]), recipe)
    assert probe.layout == layout
    crop = np.zeros((112, 112, 3), np.uint8)
    crop[...] = (200, 100, 50)  # R, G, B
    means = probe.forward([crop])[0]
    expected = (np.array([200, 100, 50], np.float32) - recipe.mean) / recipe.std
    np.testing.assert_allclose(means, expected if recipe.color == "RGB" else expected[::-1], atol=2e-3)


def test_arcface_normalisation_is_not_x_over_255():
    """The seed's defect: ArcFace fed x/255. Our packs feed (x-127.5)/128 and FaceNet (x-127.5)/127.5."""
    v1 = load_pack("stash-sense-v1")
    assert (v1.embedder("arcface").recipe.mean, v1.embedder("arcface").recipe.std) == (127.5, 128.0)
    assert (v1.embedder("facenet512").recipe.mean, v1.embedder("facenet512").recipe.std) == (127.5, 127.5)
    assert all(e.recipe.alignment == "norm_crop" and e.recipe.flip_average for e in v1.embedders)


def test_faces_are_padded_not_stretched(tmp_path):
    """A non-square crop keeps its aspect ratio: the padding shows up as black in the mean."""
    recipe = Recipe(input_size=(112, 112), mean=0.0, std=1.0)
    probe = Embedder("probe", _probe_model(tmp_path, "NCHW", 112), recipe)
    wide = np.full((56, 112, 3), 255, np.uint8)  # half as tall as wide -> half the canvas is padding
    np.testing.assert_allclose(probe.forward([wide])[0], [127.5] * 3, atol=0.6)


def test_flip_averaging_order_and_mirror_invariance(engine):
    crop = engine.analyze([PHOTOS[0]])[0].primary_face().crop
    mbf = engine.embedders["mbf128"]
    raw = mbf.forward([crop, crop[:, ::-1]])
    by_hand = raw.mean(axis=0) / np.linalg.norm(raw.mean(axis=0))  # average raw, then normalise
    embedded = mbf.embed([crop])[0]
    np.testing.assert_allclose(embedded, by_hand, atol=1e-5)
    mirrored = mbf.embed([np.ascontiguousarray(crop[:, ::-1])])[0]
    assert float(np.dot(embedded, mirrored)) > 0.999
    # A mirrored *photo* (detected and aligned again) lands on nearly the same embedding.
    image = load_rgb(PHOTOS[0])
    mirrored_photo = engine.analyze([np.ascontiguousarray(image[:, ::-1])])[0].primary_face()
    assert float(np.dot(embedded, mirrored_photo.embeddings["mbf128"])) > 0.95


def test_lfw_devtest_accuracy_and_the_cost_of_not_aligning(engine):
    pairs = read_lfw_pairs(LFW / "pairsDevTest.txt")
    aligned = evaluate_pairs(engine, pairs)
    unaligned_engine = Engine("test-mbf128", threads=2, alignment="bbox")
    unaligned = evaluate_pairs(unaligned_engine, pairs)
    unaligned_engine.close()
    assert aligned["accuracy"] >= 0.99, aligned
    assert aligned["missing_faces"] == 0
    assert unaligned["accuracy"] <= aligned["accuracy"] - 0.05, (aligned, unaligned)


def test_deepface_testset_pairs(engine):
    result = evaluate_pairs(engine, read_csv_pairs(DEEPFACE / "pairs.csv"))
    assert result["accuracy"] >= 0.995, result


def test_multi_face_photos(engine):
    import insightface

    t1 = f"{insightface.__path__[0]}/data/images/t1.jpg"
    selfie, group = engine.analyze([DEEPFACE / "_unlabelled" / "selfie-many-people.jpg", t1])
    assert len(selfie.usable_faces) >= 4
    assert len(group.usable_faces) == 6


def test_small_faces_count_and_only_faces_below_the_floor_are_skipped(engine):
    """Issue 17: a 16-19 px face is evidence (weighed by the calibration's size feature), no longer
    thrown away by a 40 px gate; 7-9 px faces are still reported as skipped."""
    import insightface

    group = load_rgb(f"{insightface.__path__[0]}/data/images/t1.jpg")
    small = cv2.resize(group, (group.shape[1] // 6, group.shape[0] // 6), interpolation=cv2.INTER_AREA)
    kept = engine.analyze([small])[0].usable_faces
    assert len(kept) == 6 and all(f.detection.size < 40 for f in kept)
    tiny = cv2.resize(group, (group.shape[1] // 14, group.shape[0] // 14), interpolation=cv2.INTER_AREA)
    result = engine.analyze([tiny])[0]
    assert result.faces and not result.usable_faces
    assert {f.detection.skipped for f in result.faces} <= {"too_small", "low_score"}
    strict = Engine("test-mbf128", threads=1, threshold=0.95)
    faces = strict.analyze([f"{insightface.__path__[0]}/data/images/t1.jpg"])[0].faces
    strict.close()
    assert len(faces) == 6 and all(f.detection.skipped == "low_score" for f in faces)
