"""Low-memory databases: one embedder's search graph resident, the others' vectors read from disk.

The stored vectors read straight from Voyager's files must be exactly what Voyager returns, in
every storage type; identification on real faces with a two-embedder database must give the same
answers as with every graph in memory.
"""

from __future__ import annotations

import gc
import struct
import weakref
from pathlib import Path

import numpy as np
import pytest
from conftest import LFW

from bench.common import two_embedder_pack
from stash_sense.engine import Engine
from stash_sense.engine.builder import build_database
from stash_sense.engine.database import DatabaseError, convert_storage, load_database
from stash_sense.engine.disk_vectors import DiskVectors
from stash_sense.engine.matching import Matcher

IDENTITY_STRIDE = 8  # every 8th LFW identity with >= 4 images: ~58 people, ~270 queries


@pytest.fixture(scope="module")
def two_embedder_engine():
    engine = Engine(two_embedder_pack(), threads=2)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def lfw_split() -> tuple[dict[str, list[Path]], list[tuple[str, Path]]]:
    people = sorted(d for d in LFW.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= 4)
    identities = {f"lfw:{d.name}": sorted(d.glob("*.jpg")) for d in people[::IDENTITY_STRIDE]}
    enrolled = {uid: images[:2] for uid, images in identities.items()}
    queries = [(uid, p) for uid, paths in identities.items() for p in paths[2:]]
    return enrolled, queries


@pytest.mark.parametrize("storage", ["float32", "e4m3", "float8"])
def test_vectors_read_from_disk_equal_voyagers(two_embedder_engine, lfw_split, tmp_path, storage):
    enrolled, _ = lfw_split
    some = dict(list(enrolled.items())[:12])
    build_database(two_embedder_engine, some, {}, tmp_path / "float32")
    path = tmp_path / "float32"
    if storage != "float32":
        pack = two_embedder_engine.pack
        convert_storage(load_database(path, pack), pack, storage, tmp_path / storage)
        path = tmp_path / storage
    db = load_database(path, two_embedder_engine.pack)
    for name, index in db.indices.items():
        on_disk = DiskVectors(path / db.manifest["embedders"][name]["index_file"])
        ids = sorted(index.ids)
        assert sorted(on_disk.ids.tolist()) == ids and on_disk.num_dimensions == index.num_dimensions
        assert on_disk.storage_data_type == index.storage_data_type
        np.testing.assert_array_equal(on_disk.get_vectors(ids[::-1]), np.asarray(index.get_vectors(ids[::-1])))
        with pytest.raises(KeyError, match="not in"):
            on_disk.get_vectors([max(ids) + 1])


def test_low_memory_identifies_as_full(two_embedder_engine, lfw_split, tmp_path):
    """Same best performer for (nearly) every LFW query, its similarity exactly the full mode's, and
    rank-1 >= 98% in both; only the first embedder's graph is loaded."""
    enrolled, queries = lfw_split
    engine = two_embedder_engine
    build_database(engine, enrolled, {}, tmp_path / "db")
    full = Matcher([load_database(tmp_path / "db", engine.pack)], engine.pack)
    low_db = load_database(tmp_path / "db", engine.pack, memory="low")
    low = Matcher([low_db], engine.pack)
    assert list(low_db.searchable()) == ["mbf128"] and isinstance(low_db.indices["mbf128_bgr"], DiskVectors)
    results = engine.analyze([p for _, p in queries])
    hits, agree, faces = {"full": 0, "low": 0}, 0, 0
    for (uid, _), result in zip(queries, results):
        face = result.primary_face()
        if face is None:
            continue
        faces += 1
        query = {n: v[None] for n, v in face.embeddings.items()}
        best = {"full": full.match_faces(query)[0][0], "low": low.match_faces(query)[0][0]}
        for mode, match in best.items():
            hits[mode] += match.universal_id == uid
        if best["full"].universal_id == best["low"].universal_id:
            agree += 1
            assert best["low"].similarity == pytest.approx(best["full"].similarity, abs=1e-6)
    assert len(enrolled) >= 50 and faces >= 250
    assert hits["low"] / len(queries) >= 0.98 and hits["full"] / len(queries) >= 0.98, hits
    assert agree / faces >= 0.99, (agree, faces)
    # A face's performer vectors (used to score persons) come from disk too, in both embedders.
    uid = next(iter(enrolled))
    np.testing.assert_allclose(low.fused_vectors(uid), full.fused_vectors(uid), atol=1e-7)


def test_truncated_index_is_a_clear_error(two_embedder_engine, lfw_split, tmp_path):
    enrolled, _ = lfw_split
    build_database(two_embedder_engine, dict(list(enrolled.items())[:3]), {}, tmp_path / "db")
    second = tmp_path / "db" / "face_mbf128_bgr.voy"
    second.write_bytes(second.read_bytes()[:-2000])
    with pytest.raises(DatabaseError, match="truncated.*db verify"):
        load_database(tmp_path / "db", two_embedder_engine.pack, memory="low")


@pytest.mark.parametrize(("offset", "fmt", "value", "reason"), [
    (43, "<Q", 0, "cannot hold"),  # bytes per record
    (59, "<Q", 1 << 20, "cannot hold"),  # vector offset past the record
    (12, "<B", 1, "not Cosine"),  # space: InnerProduct stores transformed vectors
    (4, "<i", 2, "metadata version 2"),
])
def test_index_header_this_reader_would_misread_is_refused(two_embedder_engine, lfw_split, tmp_path,
                                                           offset, fmt, value, reason):
    enrolled, _ = lfw_split
    build_database(two_embedder_engine, dict(list(enrolled.items())[:3]), {}, tmp_path / "db")
    second = tmp_path / "db" / "face_mbf128_bgr.voy"
    data = bytearray(second.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    second.write_bytes(bytes(data))
    with pytest.raises(DatabaseError, match=f"{reason}.*db verify"):
        load_database(tmp_path / "db", two_embedder_engine.pack, memory="low")


def test_a_dropped_matcher_frees_its_databases_without_the_collector(two_embedder_engine, lfw_split, tmp_path):
    """A worker reloading databases must not keep the old ones (and their open files) alive."""
    enrolled, _ = lfw_split
    build_database(two_embedder_engine, dict(list(enrolled.items())[:3]), {}, tmp_path / "db")
    db = load_database(tmp_path / "db", two_embedder_engine.pack, memory="low")
    matcher = Matcher([db], two_embedder_engine.pack)
    assert len(matcher.fused_vectors(next(iter(enrolled)))) == 2
    alive = weakref.ref(db)
    gc.disable()
    try:
        del matcher, db
        assert alive() is None
    finally:
        gc.enable()


def test_memory_mode_from_environment(monkeypatch):
    from stash_sense.service.databases import memory_mode

    monkeypatch.delenv("STASH_SENSE_MEMORY", raising=False)
    assert memory_mode() == "full"
    monkeypatch.setenv("STASH_SENSE_MEMORY", "LOW")
    assert memory_mode() == "low"
    monkeypatch.setenv("STASH_SENSE_MEMORY", "tiny")
    with pytest.raises(ValueError, match="STASH_SENSE_MEMORY must be one of full, low"):
        memory_mode()


def test_low_memory_setting_reaches_the_engine(monkeypatch):
    """The plugin setting sets the mode the databases (and a warm worker's identity) are opened with."""
    from stash_sense.plugin.operations import Context
    from stash_sense.service.databases import memory_mode
    from stash_sense.service.versions import build_id

    class Settings:  # only what Context.settings reads from Stash
        def __init__(self, raw: dict):
            self.raw = raw

        def plugin_settings(self) -> dict:
            return self.raw

    monkeypatch.delenv("STASH_SENSE_MEMORY", raising=False)
    builds = {}
    for raw, expected in (({"lowMemory": True}, "low"), ({}, "full")):
        ctx = Context({})
        ctx.__dict__["client"] = Settings(raw)
        assert ctx.settings.low_memory is (expected == "low") and memory_mode() == expected
        builds[expected] = build_id()
    assert builds["low"] != builds["full"]  # a warm worker of the other mode is not reused
