"""The query adapter (engine/adapter.py): fitted on clear photos and degraded copies of them, it
helps other people's degraded faces find their clear photos and leaves clear faces alone.

Real LFW faces through the real test-mbf128 models; the degradations are bench/hard_set.py's.
"""

from __future__ import annotations

import numpy as np
from conftest import LFW

from bench.hard_set import _adapter_pairs, degrade
from devtools.evaluation.harness import fit_query_adapter
from stash_sense.engine.adapter import QueryAdapter
from stash_sense.engine.matching import Matcher
from stash_sense.engine.packs import ADAPTER_SUFFIX, PACK_DIR, load_pack_file
from stash_sense.engine.persons import query_faces

KINDS_HELPED = ("thumbnail", "mixed", "small_in_large")  # the small, re-compressed faces


def _degraded(photo, kind: str, folder):
    out = folder / f"{kind}__{photo.name}"
    degrade(photo, kind, out)
    return out


def _vectors(engine, paths) -> np.ndarray:
    faces = [r.primary_face() for r in engine.analyze(paths)]
    return np.stack([f.embeddings["mbf128"] if f else np.zeros(128, np.float32) for f in faces])


def test_the_shipped_adapter_helps_people_it_never_saw(engine, tmp_path):
    """The pack's adapter was fitted on the calibration split; on people of the evaluation split
    (LFW people with >= 4 photos, every 4th), one clear photo each as the reference and another
    photo degraded three ways as queries, it raises rank-1 among them and keeps clear queries."""
    adapter = engine.pack.adapter
    assert adapter is not None, "test-mbf128.adapter.npz is missing beside the pack"
    people = sorted(d for d in LFW.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= 4)[::4][:120]
    references = _vectors(engine, [sorted(p.glob("*.jpg"))[0] for p in people])
    second = [sorted(p.glob("*.jpg"))[1] for p in people]
    rates = {}
    for kind in (None, *KINDS_HELPED):
        queries = second if kind is None else [_degraded(photo, kind, tmp_path) for photo in second]
        raw = _vectors(engine, queries)
        for label, vectors in (("raw", raw), ("adapted", adapter.apply({"mbf128": raw})["mbf128"])):
            rates[kind, label] = float(np.mean(np.argmax(vectors @ references.T, axis=1) == np.arange(len(people))))
    # Measured: thumbnails 82.6% -> 84.3%, mixed 87.0% -> 88.7%, small faces 87.8% -> 88.7%; clear 99.1% both.
    assert rates[None, "adapted"] >= rates[None, "raw"]
    assert all(rates[kind, "adapted"] >= rates[kind, "raw"] for kind in KINDS_HELPED)
    assert sum(rates[kind, "adapted"] - rates[kind, "raw"] for kind in KINDS_HELPED) > 0.03


def test_adapt_fits_one_map_per_embedder_from_pairs_folders(engine, tmp_path):
    """`python -m devtools adapt`'s fit: bench/hard_set.py's pair folders (a photo and three copies
    of other kinds) in, a (128, 128) map out that survives its file; clear faces keep their place."""
    calibration_people = sorted(d for d in LFW.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) == 2)
    photos = [sorted(p.glob("*.jpg"))[0] for p in calibration_people[:30]]
    _adapter_pairs(photos, tmp_path / "pairs")
    folder = next((tmp_path / "pairs").iterdir())
    assert (folder / "clean.jpg").is_symlink() and len(list(folder.iterdir())) == 4
    adapter, pairs = fit_query_adapter(engine, tmp_path / "pairs")
    assert 80 <= pairs <= 90 and adapter.matrices["mbf128"].shape == (128, 128)
    adapter.save(tmp_path / f"fitted{ADAPTER_SUFFIX}")
    loaded = QueryAdapter.load(tmp_path / f"fitted{ADAPTER_SUFFIX}")
    assert np.array_equal(loaded.matrices["mbf128"], adapter.matrices["mbf128"])
    clear = _vectors(engine, photos)
    assert np.min(np.sum(loaded.apply({"mbf128": clear})["mbf128"] * clear, axis=1)) > 0.9


def test_a_packs_adapter_is_loaded_with_it_and_applied_to_queries_only(engine, tmp_path):
    """``<pack>.adapter.npz`` beside the pack file is loaded with it; query faces are adapted,
    a pack without one leaves them as analysed."""
    for stem in ("plain", "adapted"):
        (tmp_path / f"{stem}.json").write_text((PACK_DIR / f"{engine.pack.name}.json").read_text())
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(128, 128)))[0].astype(np.float32)
    QueryAdapter({"mbf128": rotation}).save(tmp_path / f"adapted{ADAPTER_SUFFIX}")
    plain_pack, adapted_pack = load_pack_file(tmp_path / "plain.json"), load_pack_file(tmp_path / "adapted.json")
    assert plain_pack.adapter is None and adapted_pack.adapter is not None

    result = engine.analyze([sorted((LFW / "Tony_Blair").glob("*.jpg"))[0]])[0]
    raw = result.primary_face().embeddings["mbf128"]
    plain = query_faces([result], Matcher([], plain_pack))[0]
    adapted = query_faces([result], Matcher([], adapted_pack))[0]
    assert np.allclose(plain.embeddings["mbf128"], raw)
    assert np.allclose(adapted.embeddings["mbf128"], raw @ rotation, atol=1e-5)
    assert np.allclose(adapted.vector, raw @ rotation, atol=1e-5)

