"""Face databases on real faces: identification through a loaded database (float32 and E4M3), the
refusals that keep embeddings of different recipes apart, Stash Sense v1 releases with null gaps,
the `db build` / `db enroll` CLI, and several databases searched together.

Downloads, staging and rollback of releases are covered in test_releases.py.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import LFW
from voyager import Index

from stash_sense.cli.main import main
from stash_sense.engine import load_pack
from stash_sense.engine.builder import build_database, enroll
from stash_sense.engine.database import DatabaseError, load_database, new_index
from stash_sense.engine.matching import Matcher

# Every 4th LFW identity with >= 4 images (sorted by name): 115 identities, ~530 query images.
# A fixed stride, not a hand-picked set, so the subset is as hard as the whole.
IDENTITY_STRIDE = 4
ADAM, ABEL, ALI = "stashdb.org:0000adam", "stashdb.org:0000abel", "stashdb.org:0000ali"


def _images(person: str) -> list[Path]:
    return sorted((LFW / person).glob("*.jpg"))


def _lfw_identities(minimum: int = 4) -> dict[str, list[Path]]:
    people = sorted(d for d in LFW.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= minimum)
    return {f"lfw:{d.name}": sorted(d.glob("*.jpg")) for d in people[::IDENTITY_STRIDE]}


def _rank1(matcher: Matcher, queries: list[tuple[str, object]]) -> float:
    """A query whose face is not found counts as a miss."""
    hits = 0
    for uid, result in queries:
        face = result.primary_face()
        if face is not None:
            best = matcher.match_faces({n: v[None] for n, v in face.embeddings.items()})[0]
            hits += bool(best) and best[0].universal_id == uid
    return hits / len(queries)


def _query(matcher: Matcher, engine, image: Path):
    face = engine.analyze([image])[0].primary_face()
    return matcher.match_faces({n: v[None] for n, v in face.embeddings.items()})[0]


# --- identification through a loaded database -------------------------------------------------------

def test_lfw_identification_float32_and_e4m3(engine, tmp_path):
    """Enroll the first 2 images of each identity, query the rest: rank-1 >= 98% in both storages,
    the E4M3 copy made by `db convert` with the manifest saying so and the indices ~4x smaller."""
    identities = _lfw_identities()
    enrolled = {uid: images[:2] for uid, images in identities.items()}
    report = build_database(engine, enrolled, {}, tmp_path / "f32")
    assert report.faces_added >= 2 * len(identities) - 2
    assert main(["db", "convert", "--storage", "e4m3", "--db", str(tmp_path / "f32"),
                 "--out", str(tmp_path / "e4m3")]) == 0
    images = [(uid, p) for uid, paths in identities.items() for p in paths[2:]]
    results = engine.analyze([p for _, p in images])
    queries = [(uid, result) for (uid, _), result in zip(images, results)]
    assert len(identities) >= 100 and len(queries) >= 450
    rank1 = {}
    for storage in ("f32", "e4m3"):
        db = load_database(tmp_path / storage, engine.pack)
        assert len(db.performers) == len(identities)
        rank1[storage] = _rank1(Matcher([db], engine.pack), queries)
    assert rank1["f32"] >= 0.98 and rank1["e4m3"] >= 0.98, rank1
    e4m3 = load_database(tmp_path / "e4m3", engine.pack)
    assert e4m3.storage() == "e4m3" and e4m3.manifest["storage"] == "e4m3"
    assert e4m3.manifest["converted_from"] == "float32"
    size = {s: (tmp_path / s / "face_mbf128.voy").stat().st_size for s in ("f32", "e4m3")}
    assert size["e4m3"] < 0.5 * size["f32"], size


# --- refusals ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_db(engine, tmp_path_factory) -> Path:
    """Three identities, two images each, built once for the tests that only read it."""
    out = tmp_path_factory.mktemp("small") / "db"
    people = {ADAM: "Adam_Sandler", ABEL: "Abel_Pacheco", ALI: "Ali_Naimi"}
    build_database(engine, {uid: _images(p)[:2] for uid, p in people.items()},
                   {uid: {"name": p.replace("_", " ")} for uid, p in people.items()}, out)
    return out


def _changed_recipe(pack):
    spec = pack.embedders[0]
    recipe = dataclasses.replace(spec.recipe, std=127.5)  # FaceNet's normalisation, not ArcFace's
    return dataclasses.replace(pack, embedders=(dataclasses.replace(spec, recipe=recipe),))


def test_database_of_another_recipe_is_refused(small_db, engine):
    with pytest.raises(DatabaseError, match="preprocessing recipe") as caught:
        load_database(small_db, _changed_recipe(engine.pack))
    assert "mbf128" in str(caught.value) and "rebuild the database" in str(caught.value)


def test_database_of_another_pack_is_refused(small_db):
    with pytest.raises(DatabaseError, match="built with model pack 'test-mbf128'") as caught:
        load_database(small_db, load_pack("stash-sense-v1"))
    assert "--pack test-mbf128" in str(caught.value)


def test_tampered_manifest_recipe_is_refused(small_db, engine, tmp_path):
    copy = shutil.copytree(small_db, tmp_path / "db")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["embedders"]["mbf128"]["recipe"] = "0" * 16
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatabaseError, match="preprocessing recipe 0000000000000000"):
        load_database(copy, engine.pack)


# --- a Stash Sense v1 release (no pack fields), with null gaps ---------------------------------------

def _legacy_release(folder: Path, detector: str = "retinaface_buffalo_sc") -> dict[str, np.ndarray]:
    """A release in Stash Sense's own layout: 2 x 512-d indices, faces.json with null gaps and an id
    beyond its end, manifest without pack/embedders. Returns each embedder's stored vectors."""
    folder.mkdir(parents=True)
    faces = ["stashdb.org:p1", None, "stashdb.org:p2", "stashdb.org:p1", None, "theporndb.net:p3"]
    rng = np.random.default_rng(0)
    vectors = {}
    for name, file in (("facenet512", "face_facenet.voy"), ("arcface", "face_arcface.voy")):
        raw = rng.standard_normal((len(faces) + 1, 512)).astype(np.float32)
        vectors[name] = raw / np.linalg.norm(raw, axis=1, keepdims=True)  # embedders give unit vectors
        index = new_index(512)
        index.add_items(vectors[name], ids=list(range(len(faces) + 1)))  # id 6: past the end of faces.json
        index.save(str(folder / file))
    (folder / "faces.json").write_text(json.dumps(faces))
    performers = {uid: {"name": uid.split(":")[1].upper(), "country": None, "image_url": None, "face_count": n}
                  for uid, n in (("stashdb.org:p1", 2), ("stashdb.org:p2", 1), ("theporndb.net:p3", 1))}
    (folder / "performers.json").write_text(json.dumps(performers, indent=2))
    manifest = {"version": "2026.02.12", "created_at": "2026-02-12T13:08:30Z", "performer_count": 3,
                "face_count": 4, "sources": ["stashdb", "theporndb"],
                "models": {"detector": detector, "alignment": "insightface_norm_crop_5point",
                           "facenet_dim": 512, "arcface_dim": 512, "flip_averaging": True},
                "checksums": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return vectors


def test_v1_release_is_stash_sense_v1_and_refused_for_test_pack(tmp_path):
    _legacy_release(tmp_path / "release")
    with pytest.raises(DatabaseError, match="model pack 'stash-sense-v1'") as caught:
        load_database(tmp_path / "release", load_pack("test-mbf128"))
    assert "--pack stash-sense-v1" in str(caught.value)
    db = load_database(tmp_path / "release", load_pack("stash-sense-v1"))
    assert db.pack_name == "stash-sense-v1" and db.version == "2026.02.12"
    assert db.info()["faces"] == 4 and db.info()["performers"] == 3
    assert set(db.indices) == {"facenet512", "arcface"}


def test_v1_release_with_another_detector_is_refused(tmp_path):
    """The seed's defect: a manifest saying yolov8 must not be searched with buffalo_sc queries."""
    _legacy_release(tmp_path / "release", detector="yolov8")
    with pytest.raises(DatabaseError, match="detector 'yolov8'"):
        load_database(tmp_path / "release", load_pack("stash-sense-v1"))


def test_null_gaps_and_ids_past_the_end_never_match(tmp_path):
    vectors = _legacy_release(tmp_path / "release")
    pack = load_pack("stash-sense-v1")
    db = load_database(tmp_path / "release", pack)
    matcher = Matcher([db], pack, k=10)
    assert db.face_ids("stashdb.org:p1") == [0, 3]
    assert db.has_performer(np.arange(-1, 8)).tolist() == [False, True, False, True, True, False, True, False, False]
    for gap in (1, 4, 6):  # the exact vector of a gap / past-the-end id is the nearest neighbour
        matches = matcher.match_faces({n: v[gap][None] for n, v in vectors.items()})[0]
        assert {m.universal_id for m in matches} == {"stashdb.org:p1", "stashdb.org:p2", "theporndb.net:p3"}
        assert all(m.similarity < 0.5 for m in matches)  # random 512-d vectors: nothing close
    exact = matcher.match_faces({n: v[3][None] for n, v in vectors.items()})[0]
    assert exact[0].universal_id == "stashdb.org:p1" and exact[0].similarity > 0.999
    assert matcher.fused_vectors("stashdb.org:p1").shape == (2, 1024)


@pytest.mark.parametrize("memory", ["full", "low"])
def test_a_face_missing_from_one_index_never_matches(tmp_path, memory):
    """An id in the searched index but not in the other (a damaged or hand-edited release) has no
    fused vector: it is left out instead of failing every query that meets it."""
    vectors = _legacy_release(tmp_path / "release")
    pack = load_pack("stash-sense-v1")
    damaged = new_index(512)
    kept = [i for i in range(len(vectors["arcface"])) if i != 2]  # face 2: p2's only face
    damaged.add_items(vectors["arcface"][kept], ids=kept)
    damaged.save(str(tmp_path / "release" / "face_arcface.voy"))
    db = load_database(tmp_path / "release", pack, memory=memory)
    assert db.face_ids("stashdb.org:p2") == []
    matcher = Matcher([db], pack, k=10)
    matches = matcher.match_faces({n: v[[2, 3]] for n, v in vectors.items()})
    assert all(m.universal_id != "stashdb.org:p2" for row in matches for m in row)
    assert matches[1][0].universal_id == "stashdb.org:p1" and matches[1][0].similarity > 0.999


# --- db build / db enroll through the CLI ---------------------------------------------------------------

def _identity_folder(root: Path, people: dict[str, list[Path]], records: dict | None = None) -> Path:
    for person, images in people.items():
        (root / person).mkdir(parents=True)
        for image in images:
            shutil.copy(image, root / person / image.name)
    if records:
        (root / "performers.json").write_text(json.dumps(records))
    return root


def _faces_added(output: str) -> int:
    """`N identities, M faces added, K images skipped` -> M."""
    return int(output.strip().splitlines()[-1].split(",")[1].split()[0])


def _assert_consistent(db) -> None:
    """Counts agree everywhere: manifest, faces.json, every index, performers' face_count."""
    faces = [f for f in db.faces if f is not None]
    assert db.manifest["face_count"] == len(faces) == len(db.faces)
    assert all(len(index) == len(faces) for index in db.indices.values())
    assert db.manifest["performer_count"] == len(db.performers)
    assert {uid: faces.count(uid) for uid in db.performers} == {
        uid: record["face_count"] for uid, record in db.performers.items()}


def test_cli_build_then_enroll(tmp_path, capsys, engine):
    first = _identity_folder(tmp_path / "first", {"Adam_Sandler": _images("Adam_Sandler")[:2],
                                                  "Ali_Naimi": _images("Ali_Naimi")[:3]},
                             {"Adam_Sandler": {"id": ADAM, "name": "Adam Sandler", "country": "US"}})
    db_path = tmp_path / "local_db"
    assert main(["db", "build", "--from-folder", str(first), "--db", str(db_path), "--pack", "test-mbf128"]) == 0
    built = _faces_added(capsys.readouterr().out)
    db = load_database(db_path, engine.pack)
    _assert_consistent(db)
    assert set(db.performers) == {ADAM, "local:Ali_Naimi"} and len(db.faces) == built == 5
    assert db.performers[ADAM]["name"] == "Adam Sandler" and db.performers[ADAM]["country"] == "US"
    assert db.performers["local:Ali_Naimi"]["name"] == "Ali Naimi"

    # Adam_Sandler_0004 holds two faces of similar size: left out, enrollment would skip it.
    more = _identity_folder(tmp_path / "more", {"Adam_Sandler": _images("Adam_Sandler")[2:3],
                                                "Abel_Pacheco": _images("Abel_Pacheco")[:2]},
                            {"Adam_Sandler": {"id": ADAM}})
    assert main(["db", "enroll", "--from-folder", str(more), "--db", str(db_path), "--pack", "test-mbf128"]) == 0
    added = _faces_added(capsys.readouterr().out)
    db = load_database(db_path, engine.pack)
    _assert_consistent(db)
    assert added == 3 and len(db.faces) == built + added
    assert set(db.performers) == {ADAM, "local:Ali_Naimi", "local:Abel_Pacheco"}
    assert db.performers[ADAM]["face_count"] == 3 and db.performers[ADAM]["name"] == "Adam Sandler"
    best = _query(Matcher([db], engine.pack), engine, _images("Abel_Pacheco")[3])[0]
    assert best.universal_id == "local:Abel_Pacheco"

    assert main(["db", "info", "--db", str(db_path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["pack"], info["faces"], info["performers"]) == ("test-mbf128", built + added, 3)


def test_enroll_attributes_a_group_photo_by_the_faces_already_enrolled(engine, tmp_path):
    """Adam_Sandler_0004 holds two faces of similar size: alone it tells nothing of whose face is
    whose, but Adam's faces already in the database do, and the face they pick is LFW's subject
    (the one centred in the frame), not the other person."""
    group = _images("Adam_Sandler")[3]
    faces = engine.analyze([group])[0].usable_faces
    assert len(faces) == 2
    alone = build_database(engine, {ADAM: [group]}, {}, tmp_path / "alone")
    assert alone.faces_added == 0 and "nothing to tell" in alone.skipped[0][1]

    build_database(engine, {ADAM: _images("Adam_Sandler")[:2]}, {}, tmp_path / "db")
    report = enroll(engine, load_database(tmp_path / "db", engine.pack), {ADAM: [group]}, {})
    assert report.faces_added == 1 and not report.skipped
    db = load_database(tmp_path / "db", engine.pack)
    stored = db.indices["mbf128"].get_vector(db.face_ids(ADAM)[-1])
    centre = np.array([125, 125])
    subject = min(faces, key=lambda f: np.linalg.norm((f.detection.bbox[:2] + f.detection.bbox[2:]) / 2 - centre))
    closest = max(faces, key=lambda f: float(np.dot(f.embeddings["mbf128"], stored)))
    assert closest is subject


def test_cli_enroll_creates_the_local_database(tmp_path, capsys, engine, isolated_data_dir):
    """A fresh install has no local database: the first `db enroll` creates it (empty, then
    extended), in the plugin data folder by default."""
    folder = _identity_folder(tmp_path / "people", {"Ali_Naimi": _images("Ali_Naimi")[:2]})
    assert main(["db", "enroll", "--from-folder", str(folder), "--pack", "test-mbf128"]) == 0
    assert _faces_added(capsys.readouterr().out) == 2
    db = load_database(isolated_data_dir / "local_db", engine.pack)
    _assert_consistent(db)
    assert list(db.performers) == ["local:Ali_Naimi"] and len(db.faces) == 2


def test_empty_database_loads_and_extends(tmp_path, engine):
    build_database(engine, {}, {}, tmp_path / "db")
    db = load_database(tmp_path / "db", engine.pack)
    assert len(db.faces) == 0 and all(len(i) == 0 for i in db.indices.values())
    assert Matcher([db], engine.pack).match_faces({"mbf128": np.ones((1, 128), np.float32)}) == [[]]


# --- several databases at once --------------------------------------------------------------------------

def _two_databases(engine, tmp_path: Path, link: bool) -> list:
    """A "release" (StashDB ids) and a local enrollment database holding other photos of the same
    people: Abel under the same universal id, Adam as a local performer (linked to StashDB or not)."""
    build_database(engine, {ADAM: _images("Adam_Sandler")[:2], ABEL: _images("Abel_Pacheco")[:2]},
                   {ADAM: {"name": "Adam Sandler", "country": "US"}, ABEL: {"name": "Abel Pacheco"}},
                   tmp_path / "release")
    links = [{"endpoint": "https://stashdb.org/graphql", "stash_id": ADAM.split(":", 1)[1]}] if link else []
    build_database(engine, {"local:42": _images("Adam_Sandler")[2:3], ABEL: _images("Abel_Pacheco")[2:3]},
                   {"local:42": {"name": "Adam S. (my Stash)", "stash_ids": links}}, tmp_path / "local")
    return [load_database(tmp_path / name, engine.pack) for name in ("release", "local")]


def test_several_databases_merge_per_performer(engine, tmp_path):
    databases = _two_databases(engine, tmp_path, link=True)
    matcher = Matcher(databases, engine.pack)
    query = _images("Adam_Sandler")[3]
    adam = _query(matcher, engine, query)
    ids = [m.universal_id for m in adam]
    assert ids[0] == ADAM and "local:42" not in ids and len(ids) == len(set(ids))
    alone = [_query(Matcher([db], engine.pack), engine, query) for db in databases]
    best_alone = {m.universal_id: m.similarity for matches in alone for m in matches}
    assert adam[0].similarity == pytest.approx(max(best_alone[ADAM], best_alone["local:42"]))
    assert matcher.fused_vectors(ADAM).shape[0] == 3 and matcher.fused_vectors("local:42").shape[0] == 3
    record = matcher.performer(ADAM)
    assert record["id"] == ADAM and record["name"] == "Adam Sandler" and record["country"] == "US"
    assert matcher.performer("local:42")["id"] == ADAM
    abel = _query(matcher, engine, _images("Abel_Pacheco")[3])
    assert abel[0].universal_id == ABEL and [m.universal_id for m in abel].count(ABEL) == 1
    assert matcher.fused_vectors(ABEL).shape[0] == 3


def test_unlinked_local_performer_stays_separate(engine, tmp_path):
    matcher = Matcher(_two_databases(engine, tmp_path, link=False), engine.pack)
    ids = [m.universal_id for m in _query(matcher, engine, _images("Adam_Sandler")[3])]
    assert {ADAM, "local:42"} <= set(ids)
    assert matcher.fused_vectors(ADAM).shape[0] == 2 and matcher.performer("local:42")["id"] == "local:42"


def test_saved_voyager_index_header_is_what_the_loader_reads(tmp_path):
    """Guards the empty-index workaround in database._load_index against a Voyager format change."""
    index = new_index(128, "e4m3")
    index.save(str(tmp_path / "x.voy"))
    header = (tmp_path / "x.voy").read_bytes()
    assert header[:4] == b"VOYA" and int.from_bytes(header[8:12], "little") == 128
    assert int.from_bytes(header[35:43], "little") == 0
    with pytest.raises(RuntimeError):
        Index.load(str(tmp_path / "x.voy"))  # why the workaround exists; if this stops raising, drop it
