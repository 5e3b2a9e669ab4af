"""Find this performer everywhere: the galleries, scenes and images whose faces match a performer
and that do not have them yet, ranked with the same calibrated confidence as a bulk run.

The performer's reference faces (every database's: the downloaded release and the local one,
under every id the performer is known by) are searched in the library face index; each item with a
face close enough is then identified again from its cached analysis (``identify_analyzed``: no
inference), exactly as the bulk run would, and listed with the confidence and band of this
performer's candidate there. Adding goes through the journalled write-back (one undoable run).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import numpy as np

from stash_sense.contracts import Service, Thresholds
from stash_sense.jobs.library_index import LibraryIndex
from stash_sense.library.performers import universal_id_for

log = logging.getLogger(__name__)

NEIGHBOURS = 200  # library faces per reference face
MAX_ITEMS = 500  # items identified again, most similar first


def performer_keys(performer: dict) -> set[str]:
    """Every universal id a Stash performer can have in a database: stash-box ids and ``local:<id>``."""
    from stash_sense.engine.matching import stash_box_key

    keys = {universal_id_for(performer), f"local:{performer['id']}"}
    for sid in performer.get("stash_ids") or []:
        if sid.get("endpoint") and sid.get("stash_id"):
            keys.add(stash_box_key(str(sid["endpoint"]), str(sid["stash_id"])))
    return keys


def reference_vectors(databases: list[Any], keys: set[str]) -> dict[str, np.ndarray]:
    """Per embedder, the stored faces of the performer across the databases."""
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    for db in databases:
        ids = [i for key in sorted(keys) for i in db.face_ids(key)]
        if ids:
            for name, index in db.indices.items():
                parts[name].append(np.asarray(index.get_vectors(ids), np.float32).reshape(len(ids), -1))
    return {name: np.concatenate(rows) for name, rows in parts.items()}


def candidate_items(index: LibraryIndex, reference: dict[str, np.ndarray], floor: float) -> list[tuple[str, str]]:
    """(item type, item id) with a face at least ``floor`` similar to a reference face, closest first."""
    if not reference or not len(index.index) or any(n not in reference for n in index.layout.dims):
        return []
    found, sims = index.index.neighbours({n: reference[n] for n in index.layout.dims}, k=NEIGHBOURS)
    best: dict[int, float] = {}
    for ids, row in zip(found, sims):
        for face_id, sim in zip(ids, row):
            if face_id >= 0 and sim >= floor:
                best[int(face_id)] = max(best.get(int(face_id), -1.0), float(sim))
    rows = index.table.faces(list(best))
    items: dict[tuple[str, str], float] = {}
    for face_id, row in rows.items():
        key = (row["item_type"], row["item_id"])
        items[key] = max(items.get(key, -1.0), best[face_id])
    return sorted(items, key=lambda k: -items[k])[:MAX_ITEMS]


def find_everywhere(index: LibraryIndex, service: Service, client: Any, performer: dict, databases: list[Any],
                    thresholds: Thresholds, floor: float) -> dict:
    """The items to offer, best first: ``{"performer", "items": [{type, id, confidence, band, images}]}``."""
    from stash_sense.engine.decide import band

    keys = performer_keys(performer)
    reference = reference_vectors(databases, keys)
    if not reference:
        return {"performer": _summary(performer), "items": [], "reference_faces": 0,
                "message": f"{performer.get('name')} has no face in any database yet: enroll the performer "
                           "(\"Build local reference\") or name an unknown person first"}
    candidates = candidate_items(index, reference, floor)
    have = _has_performer(client, candidates, str(performer["id"]))
    out = []
    for item_type, item_id in candidates:
        if (item_type, item_id) in have:
            continue
        scored = _score_item(index, service, item_type, item_id, keys)
        if scored is None:
            continue
        confidence, images = scored
        if confidence < thresholds["review"]:
            continue
        out.append({"type": item_type, "id": item_id, "confidence": round(confidence, 4),
                    "band": band(confidence, thresholds["auto"], thresholds["review"]), "images": images})
    out.sort(key=lambda i: (-i["confidence"], i["type"], i["id"]))
    return {"performer": _summary(performer), "items": out, "reference_faces": len(next(iter(reference.values()))),
            "thresholds": thresholds}


def _summary(performer: dict) -> dict:
    return {"id": str(performer["id"]), "name": performer.get("name")}


def _has_performer(client: Any, items: list[tuple[str, str]], performer_id: str) -> set[tuple[str, str]]:
    have: set[tuple[str, str]] = set()
    by_type: dict[str, list[str]] = defaultdict(list)
    for item_type, item_id in items:
        by_type[item_type].append(item_id)
    for item_type, ids in by_type.items():
        for start in range(0, len(ids), 200):
            links = client.links(item_type, ids[start:start + 200])
            have.update((item_type, i) for i, link in links.items() if performer_id in link["performer"])
    return have


def _score_item(index: LibraryIndex, service: Service, item_type: str, item_id: str,
                keys: set[str]) -> tuple[float, list[str]] | None:
    """This performer's confidence in the item (identified again from the cache) and its images."""
    rows = index.table.db.execute("SELECT DISTINCT image, cache_key FROM faces WHERE item_type = ? AND item_id = ?"
                                  " AND cache_key IS NOT NULL ORDER BY id", (item_type, item_id)).fetchall()
    cached = index.cache.get_many(key for _, key in rows)
    results = [{**cached[key], "image": image} for image, key in rows if key in cached]
    if not results:
        return None
    group = service.identify_analyzed(results)
    best: tuple[float, list[str]] | None = None
    for person in group.get("persons") or []:
        for candidate in [person.get("identified"), *(person.get("candidates") or [])]:
            if candidate and candidate["id"] in keys and (best is None or candidate["confidence"] > best[0]):
                images = [str(i) for i in person.get("images") or []] if item_type == "gallery" else []
                best = (float(candidate["confidence"]), images)
    return best


def add_to_items(writeback: Any, performer_id: str, items: list[dict]) -> dict:
    """Add the performer to the chosen items (one journalled run); returns what was added per type."""
    added: dict[str, list[str]] = {}
    by_type: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_type[str(item["type"])].append(str(item["id"]))
    for item_type, ids in by_type.items():
        if item_type not in ("gallery", "scene", "image"):
            raise ValueError(f"cannot add a performer to a {item_type!r}")
        plan = writeback.add(item_type, ids, performer_ids=[performer_id])
        added[item_type] = [i for i, p in plan.items() if p["performer"]]
    writeback.finish({"find_everywhere": performer_id, "added": added})
    return added
