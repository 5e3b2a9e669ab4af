"""Recurring unknown people: the library's faces that matched no performer, grouped into people.

The "Find recurring unknown people" task clusters every unknown face of the library index with the
gallery persons' rule (average linkage at the pack's calibrated cluster threshold, never two faces
of one image or frame in one person) over the index's k-NN graph (``engine.face_groups``), and
keeps the groups seen in at least ``MIN_ITEMS`` galleries/scenes/images: a face seen once is not a
recurring person. Groups are stored beside the side table; a new clustering replaces the open
groups but keeps what the user decided: a group hidden as "not interesting" stays hidden (a new
group made mostly of its faces is hidden too), and named groups are settled.

Naming a group ("this is performer X" / "new performer named ...") adds the performer to every
gallery, scene and image the group was seen in through the journalled write-back (one run,
undoable), enrolls the group's faces into the local reference database (so the next runs
recognise them) and marks them known in the side table.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stash_sense.jobs.library_index import LibraryIndex
from stash_sense.progress import report_progress

log = logging.getLogger(__name__)

K = 24  # neighbours per face in the clustering graph
MIN_ITEMS = 2  # a person must be seen in this many galleries/scenes/images to be "recurring"
SAMPLES = 6
# Blurred, tiny or cut-off background faces resemble each other more than they resemble anyone
# (see builder.ENROLL_MIN_QUALITY): across a whole library they chain strangers into one "person".
# Only faces at least this good are grouped; in the demo library every subject face is above it,
# while the bystanders that formed mixed pairs were at 0.0-0.31.
MIN_QUALITY = 0.35
# Added to the pack's calibrated cluster threshold. That threshold lets 0.1% of different-person
# pairs through, which is right for the tens of faces of one gallery; across a library every face
# meets its nearest neighbours among thousands of strangers, and at the gallery threshold single
# faces of strangers joined people (B-cubed precision 0.96 on LFW). The margin is chosen on a tuning
# split of LFW disjoint from the one reported (``bench/library_index_bench.py``).
LIBRARY_MARGIN = 0.1


def library_threshold(calibrated: float) -> float:
    """The average-linkage similarity two groups of library faces need to be one person."""
    return calibrated + LIBRARY_MARGIN

SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT NOT NULL DEFAULT 'open',
    universal_id TEXT, performer_id TEXT, journal_run_id INTEGER, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS people_faces (person_id INTEGER NOT NULL, face_id INTEGER NOT NULL,
    PRIMARY KEY (person_id, face_id));
CREATE INDEX IF NOT EXISTS people_faces_face ON people_faces (face_id);
"""


class UnknownPersonError(LookupError):
    """No such group, or it was already named."""


@dataclass
class Summary:
    unknown_faces: int
    groups: int
    hidden: int
    grouped_faces: int
    seconds: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def ensure_schema(index: LibraryIndex) -> None:
    index.table.db.executescript(SCHEMA)


def find_unknown_people(index: LibraryIndex, calibrated: float, k: int = K, min_items: int = MIN_ITEMS,
                        min_quality: float = MIN_QUALITY) -> Summary:
    """Cluster the unknown faces and store the recurring groups (open ones replaced, decisions kept).

    ``calibrated``: the pack's cluster threshold (``library_threshold`` raises it for a library).
    """
    from stash_sense.engine.face_groups import EDGE_MARGIN, cluster_graph, knn_edges

    started = time.monotonic()
    threshold = library_threshold(calibrated)
    ensure_schema(index)
    named = {r[0] for r in index.table.db.execute("SELECT f.face_id FROM people_faces f JOIN people p"
                                                  " ON p.id = f.person_id WHERE p.status = 'named'")}
    rows = [r for r in index.table.unknown_faces(min_quality) if r[0] not in named and r[0] in index.index]
    ids = np.array([r[0] for r in rows], np.int64)
    report_progress(log, 0.05)
    clusters: list[list[int]] = []
    if len(ids):
        vectors = index.vectors(list(ids))
        found, sims = index.index.neighbours(vectors, k=k + 1)
        report_progress(log, 0.6)
        edges = knn_edges(ids, found, sims, threshold - EDGE_MARGIN)
        images = [f"{r[1]}:{r[2]}:{r[3]}" for r in rows]
        clusters = cluster_graph(index.index.fused(list(ids)), edges, images, threshold)
    recurring = [[int(ids[i]) for i in c] for c in clusters
                 if len({(rows[i][1], rows[i][2]) for i in c}) >= min_items]
    hidden = _store(index, recurring)
    report_progress(log, 1.0)
    summary = Summary(len(ids), len(recurring) - hidden, hidden, sum(len(c) for c in recurring),
                      round(time.monotonic() - started, 2))
    log.info(f"Stash Sense: {summary.groups} recurring unknown people ({summary.grouped_faces} faces) among "
             f"{summary.unknown_faces} unknown faces; {hidden} group(s) stay hidden")
    return summary


def _store(index: LibraryIndex, clusters: list[list[int]]) -> int:
    """Replace the open groups; a cluster made mostly of a hidden group's faces joins that group."""
    db = index.table.db
    hidden_of = dict(db.execute("SELECT f.face_id, p.id FROM people_faces f JOIN people p ON p.id = f.person_id"
                                " WHERE p.status = 'hidden'").fetchall())
    kept_hidden = 0
    with index.table.transaction():
        db.execute("DELETE FROM people_faces WHERE person_id IN (SELECT id FROM people WHERE status = 'open')")
        db.execute("DELETE FROM people WHERE status = 'open'")
        for faces in clusters:
            votes = Counter(hidden_of[f] for f in faces if f in hidden_of)
            person, count = votes.most_common(1)[0] if votes else (None, 0)
            if person is not None and count * 2 >= len(faces):
                kept_hidden += 1
            else:
                person = db.execute("INSERT INTO people (status, created_at) VALUES ('open', ?)",
                                    (time.time(),)).lastrowid
            db.executemany("INSERT OR IGNORE INTO people_faces VALUES (?, ?)", [(person, f) for f in faces])
    return kept_hidden


def list_people(index: LibraryIndex, status: str = "open") -> list[dict]:
    """The groups with their size, where they were seen and their best faces, largest first."""
    ensure_schema(index)
    people = index.table.db.execute("SELECT id FROM people WHERE status = ?", (status,)).fetchall()
    out = [describe(index, int(p[0])) for p in people]
    return sorted(out, key=lambda p: (-p["faces"], p["id"]))


def describe(index: LibraryIndex, person_id: int) -> dict:
    """One group: "Unknown person 12: 57 faces in 14 galleries and 3 scenes", items, sample faces."""
    faces = list(index.table.faces(face_ids(index, person_id)).values())
    items = sorted({(f["item_type"], f["item_id"]) for f in faces}, key=lambda t: (t[0], _number(t[1])))
    counts = Counter(t for t, _ in items)
    samples = sorted(faces, key=lambda f: -f["quality"])[:SAMPLES]
    label = f"Unknown person {person_id}: {len(faces)} faces in " + _places(counts)
    return {"id": person_id, "label": label, "faces": len(faces), "galleries": counts.get("gallery", 0),
            "scenes": counts.get("scene", 0), "images": counts.get("image", 0),
            "items": [{"type": t, "id": i} for t, i in items],
            "samples": [{"item_type": f["item_type"], "item_id": f["item_id"], "image": f["image"],
                         "time": _frame_time(f), "box": json.loads(f["box"] or "[]"),
                         "quality": round(f["quality"], 3)} for f in samples]}


def _frame_time(face: dict) -> float | None:
    """Seconds into the video of a scene frame ("12.500s"); None for images and screenshots."""
    image = str(face["image"])
    if face["item_type"] != "scene" or not image.endswith("s"):
        return None
    try:
        return float(image[:-1])
    except ValueError:
        return None


def _places(counts: Counter) -> str:
    parts = [f"{n} {noun if n == 1 else plural}" for kind, noun, plural in
             (("gallery", "gallery", "galleries"), ("scene", "scene", "scenes"), ("image", "image", "images"))
             if (n := counts.get(kind, 0))]
    return " and ".join([", ".join(parts[:-1]), parts[-1]]) if len(parts) > 1 else (parts[0] if parts else "nothing")


def _number(value: str) -> tuple:
    return (0, int(value)) if value.isdigit() else (1, value)


def face_ids(index: LibraryIndex, person_id: int) -> list[int]:
    return [r[0] for r in index.table.db.execute("SELECT face_id FROM people_faces WHERE person_id = ? ORDER BY"
                                                 " face_id", (person_id,))]


def status_of(index: LibraryIndex, person_id: int) -> str:
    ensure_schema(index)
    row = index.table.db.execute("SELECT status FROM people WHERE id = ?", (person_id,)).fetchone()
    if row is None:
        raise UnknownPersonError(f"There is no unknown person {person_id} (run \"Find recurring unknown people\" "
                                 "again: groups are renumbered by each run)")
    return str(row[0])


def hide(index: LibraryIndex, person_id: int) -> dict:
    """"Not interesting": the group is no longer listed, now or after the next clustering."""
    if status_of(index, person_id) == "named":
        raise UnknownPersonError(f"Unknown person {person_id} was already named")
    with index.table.transaction():
        index.table.db.execute("UPDATE people SET status = 'hidden' WHERE id = ?", (person_id,))
    return {"id": person_id, "hidden": True}


def name_person(index: LibraryIndex, person_id: int, client: Any, writeback: Any, performer: dict,
                local_db: Any, pack: Any) -> dict:
    """The group is ``performer`` (a Stash performer dict): add it everywhere, enroll the faces.

    ``writeback`` is a journalled ``WriteBack`` (its run is finished here); ``local_db`` the path of
    the local reference database.
    """
    from stash_sense.engine.builder import add_faces
    from stash_sense.library.performers import universal_id_for

    if status_of(index, person_id) != "open":
        raise UnknownPersonError(f"Unknown person {person_id} was already named or hidden")
    ids = face_ids(index, person_id)
    faces = index.table.faces(ids)
    performer_id = str(performer["id"])
    added: dict[str, list[str]] = {}
    for kind in ("gallery", "scene", "image"):
        targets = sorted({f["item_id"] for f in faces.values() if f["item_type"] == kind}, key=_number)
        if targets:
            plan = writeback.add(kind, targets, performer_ids=[performer_id])
            added[kind] = sorted((i for i, p in plan.items() if p["performer"]), key=_number)
    uid = universal_id_for(performer)
    enrolled = 0
    if not writeback.dry_run:
        vectors = index.vectors(ids)
        chosen = {uid: [{name: vectors[name][row] for name in vectors} for row in range(len(ids))]}
        record = {"name": performer.get("name"), "disambiguation": performer.get("disambiguation"),
                  "local_id": performer_id, "stash_ids": [{"endpoint": s["endpoint"], "stash_id": s["stash_id"]}
                                                          for s in performer.get("stash_ids") or []]}
        enrolled = add_faces(pack, local_db, chosen, {uid: record})
        index.table.mark_known(ids, uid)
        with index.table.transaction():
            index.table.db.execute("UPDATE people SET status = 'named', universal_id = ?, performer_id = ?,"
                                   " journal_run_id = ? WHERE id = ?", (uid, performer_id, writeback.run_id,
                                                                         person_id))
    writeback.finish({"unknown_person": person_id, "performer_id": performer_id, "added": added})
    log.info(f"Stash Sense: unknown person {person_id} is {performer.get('name')}: added to "
             f"{sum(len(v) for v in added.values())} item(s), {enrolled} face(s) enrolled")
    return {"id": person_id, "performer_id": performer_id, "universal_id": uid, "added": added,
            "enrolled_faces": enrolled, "journal_run_id": writeback.run_id, "dry_run": bool(writeback.dry_run)}


def reconcile_undone(index: LibraryIndex, journal: Any, local_db: Any, pack: Any) -> list[int]:
    """Groups whose naming run was undone are unknown again: their faces leave the local database
    (so the next runs do not recognise a performer the user took back) and the group reopens."""
    from stash_sense.engine.builder import forget_identity

    ensure_schema(index)
    reopened = []
    for person_id, uid, run_id in index.table.db.execute(
            "SELECT id, universal_id, journal_run_id FROM people WHERE status = 'named'").fetchall():
        run = journal.db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if run is None or run[0] not in ("undone", "rolled_back"):
            continue
        others = index.table.db.execute("SELECT COUNT(*) FROM people WHERE status = 'named' AND universal_id = ?"
                                        " AND id != ?", (uid, person_id)).fetchone()[0]
        if not others and uid and Path(local_db).joinpath("manifest.json").exists():
            forget_identity(pack, local_db, uid)
        with index.table.transaction():
            index.table.db.execute("UPDATE people SET status = 'open', universal_id = NULL, performer_id = NULL,"
                                   " journal_run_id = NULL WHERE id = ?", (person_id,))
            index.table.db.execute("UPDATE faces SET unknown = 1, best_uid = NULL, best_confidence = 0 WHERE id IN"
                                   " (SELECT face_id FROM people_faces WHERE person_id = ?)", (person_id,))
        reopened.append(int(person_id))
    if reopened:
        log.info(f"Stash Sense: naming of unknown person(s) {', '.join(map(str, reopened))} was undone; "
                 "their faces left the local database")
    return reopened


def new_performer(client: Any, writeback: Any, name: str) -> dict:
    """A performer created by name for a group, journalled so that undo deletes it (unless used)."""
    name = name.strip()
    if not name:
        raise ValueError("a new performer needs a name")
    existing = [p for p in client.find_performers_by_name(name) if p["name"].lower() == name.lower()]
    if existing:
        return existing[0]
    if writeback.dry_run:
        log.info(f"[dry run] would create performer {name}")
        return {"id": "new", "name": name, "stash_ids": []}
    created = client.create_performer(name=name)
    writeback.journal.created(writeback.run_id, str(created["id"]), None, created.get("name"))
    log.info(f"Created performer {created['name']} (id {created['id']})")
    return created
