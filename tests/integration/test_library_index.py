"""The library face index on real faces: incremental updates, a killed run, a re-analysed item, another
engine, a rebuild from the embedding cache, and the k-NN clustering's cannot-link rule."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import LFW

from stash_sense.engine.face_groups import cluster_vectors
from stash_sense.engine.face_index import FaceIndex
from stash_sense.jobs.cache import EmbeddingCache
from stash_sense.jobs.library_index import LibraryIndex, item_faces, layout_for
from stash_sense.service.codec import image_to_dict

PEOPLE = {"Hans_Blix": 5, "Winona_Ryder": 5, "Tiger_Woods": 5}


@pytest.fixture(scope="module")
def analysed(engine) -> dict[str, list[dict]]:
    """person -> analysed images (codec form, as the cache stores them), named by file."""
    out = {}
    for person, count in PEOPLE.items():
        paths = sorted((LFW / person).glob("*.jpg"))[:count]
        out[person] = [{**image_to_dict(r), "image": p.name} for p, r in zip(paths, engine.analyze(paths))]
    return out


def gallery(results: list[dict]) -> SimpleNamespace:
    """An item as the runner hands it over: its analysed images and their cache keys, nobody matched."""
    return SimpleNamespace(results=results, cache_keys={r["image"]: f"md5:{r['image']}" for r in results},
                           group={"persons": []})


def add(index: LibraryIndex, cache: EmbeddingCache, item_id: str, results: list[dict]) -> list[int]:
    item = gallery(results)
    cache.put_many({key: r for r, key in zip(results, item.cache_keys.values())})
    rows, vectors = item_faces("gallery", {"id": item_id}, item, review=0.5)
    return index.replace_item("gallery", item_id, rows, vectors)


def nearest(index: LibraryIndex, face_id: int) -> int:
    found, _ = index.index.neighbours(index.vectors([face_id]), k=1)
    return int(found[0][0])


def test_killed_run_replaced_item_engine_change_and_rebuild(analysed, tmp_path):
    folder, layout = tmp_path / "library_index", layout_for("test-mbf128")
    cache = EmbeddingCache("engine-a", tmp_path / "cache.sqlite")
    index = LibraryIndex("engine-a", layout, folder, cache)
    first = add(index, cache, "1", analysed["Hans_Blix"])
    index.save()
    second = add(index, cache, "2", analysed["Winona_Ryder"])
    third = add(index, cache, "1", analysed["Hans_Blix"][:3])  # item 1 analysed again, now 3 images
    assert set(third) < set(first)  # a face analysed again keeps its id (hidden/named groups survive a re-run)
    assert len(index.index) == len(second) + len(third)
    index.table.close()  # killed: no save after the last two items

    reopened = LibraryIndex("engine-a", layout, folder, cache)  # caught up from the table and the cache
    assert len(reopened.index) == len(second) + len(third) == reopened.table.count()
    assert all(face_id not in reopened.index for face_id in set(first) - set(third))  # the images it lost
    assert all(nearest(reopened, face_id) == face_id for face_id in second + third)
    reopened.close()

    again = LibraryIndex("engine-a", layout, folder, cache)
    assert not again.dirty and len(again.index) == again.table.count()  # the close saved it
    assert again.rebuild() == again.table.count()
    assert all(nearest(again, face_id) == face_id for face_id in second)
    again.close()

    other = LibraryIndex("engine-b", layout, folder, EmbeddingCache("engine-b", tmp_path / "cache-b.sqlite"))
    assert len(other.index) == 0 and other.table.count() == 0  # another pack or detector: refused, restarted
    other.close()


def test_a_faulty_generation_is_never_loaded(analysed, tmp_path):
    folder, layout = tmp_path / "library_index", layout_for("test-mbf128")
    cache = EmbeddingCache("engine-a", tmp_path / "cache.sqlite")
    index = LibraryIndex("engine-a", layout, folder, cache)
    saved = add(index, cache, "1", analysed["Tiger_Woods"])
    index.save()
    # a save killed half way: a new generation folder exists, the pointer still names the old one
    (folder / "index" / "gen-99").mkdir()
    (folder / "index" / "gen-99" / "mbf128.voy").write_bytes(b"half a file")
    index.table.close()
    loaded = FaceIndex.load(folder / "index", layout)
    assert loaded is not None and len(loaded[0]) == len(saved) > 0
    reopened = LibraryIndex("engine-a", layout, folder, cache)
    assert len(reopened.index) == reopened.table.count() == len(saved)
    reopened.close()


def test_two_faces_of_one_image_are_never_one_person(analysed):
    faces = [(r["image"], f) for r in analysed["Hans_Blix"] for f in r["faces"] if f["embeddings"]]
    from stash_sense.service.codec import decode_vector

    vectors = np.stack([decode_vector(f["embeddings"]["mbf128"]) for _, f in faces])
    images = [name for name, _ in faces]
    assert len(cluster_vectors(vectors, images, threshold=0.35)[0]) >= 4  # one person
    same_photo = ["one photo"] * len(images)  # as if every face were in the same image
    clusters = cluster_vectors(vectors, same_photo, threshold=0.35)
    assert len(clusters) == len(images) and all(len(c) == 1 for c in clusters)
