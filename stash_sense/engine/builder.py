"""Building and extending face databases from labelled images with our own engine.

Enrollment only takes a face when it is clear whose face it is: images with exactly one usable
face, and multi-face images only when one face clearly matches the identity's other faces.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stash_sense.engine.database import FaceDatabase, load_database, new_index, write_database
from stash_sense.engine.disk_vectors import DiskVectors
from stash_sense.engine.pipeline import Engine, ImageResult

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
# A face in a multi-face image is attributed to the identity when it is this similar to the
# identity's single-face centroid and beats every other face of the image by the margin.
ATTRIBUTE_MIN_SIMILARITY = 0.35
ATTRIBUTE_MARGIN = 0.15
DOMINANCE = 1.5
# Blurred or cut-off background faces resemble each other more than they resemble anyone: let one
# into a reference and it attracts every blurry face of every gallery (a "hub" performer).
ENROLL_MIN_QUALITY = 0.25


@dataclass
class EnrollReport:
    identities: int = 0
    faces_added: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (image, reason)

    def to_dict(self) -> dict:
        return {"identities": self.identities, "faces_added": self.faces_added,
                "skipped": [{"image": i, "reason": r} for i, r in self.skipped]}


def identities_from_folder(folder: Path) -> tuple[dict[str, list[Path]], dict[str, dict]]:
    """One sub-folder per identity; an optional performers.json maps folder name -> record."""
    folder = Path(folder)
    records_file = folder / "performers.json"
    records = json.loads(records_file.read_text()) if records_file.exists() else {}
    identities, performers = {}, {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        images = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            continue
        record = dict(records.get(sub.name, {}))
        uid = record.pop("id", None) or f"local:{sub.name}"
        record.setdefault("name", sub.name.replace("_", " "))
        identities[uid] = images
        performers[uid] = record
    return identities, performers


def enrollment_faces(engine: Engine, identities: Mapping[str, list],
                     known: Mapping[str, list[dict]] | None = None) -> tuple[dict[str, list[dict]], EnrollReport]:
    """Per identity, the embeddings of the faces that can be attributed to it. ``known`` holds the
    embeddings an identity already has in the database: they tell whose face a group photo shows
    when the new images hold no portrait of their own."""
    report = EnrollReport(identities=len(identities))
    chosen: dict[str, list[dict]] = {}
    for uid, images in identities.items():
        results = engine.analyze(images, names=[str(i) for i in images])
        chosen[uid] = _attribute(results, report, (known or {}).get(uid, []))
    return chosen, report


def _attribute(results: list[ImageResult], report: EnrollReport, known: list[dict]) -> list[dict]:
    centroid = _identity_centroid(results, known)
    picked = []
    for result in results:
        faces = _enrollable(result)
        if result.error or not faces:
            report.skipped.append((result.source, result.error or "no clear face"))
        elif len(faces) == 1:
            picked.append(faces[0].embeddings)
        elif centroid is None:
            report.skipped.append((result.source, f"{len(faces)} faces and nothing to tell whose they are"))
        else:
            similarities = sorted((float(np.dot(_concat(f.embeddings), centroid)), i) for i, f in enumerate(faces))
            best, runner_up = similarities[-1], similarities[-2]
            if best[0] >= ATTRIBUTE_MIN_SIMILARITY and best[0] - runner_up[0] >= ATTRIBUTE_MARGIN:
                picked.append(faces[best[1]].embeddings)
            else:
                report.skipped.append((result.source, f"{len(faces)} faces, none clearly this performer"))
    report.faces_added += len(picked)
    return picked


def _identity_centroid(results: list[ImageResult], known: list[dict]) -> np.ndarray | None:
    """Who this identity is: its faces already enrolled and its new single-face images; failing
    that, the face that recurs across its multi-face images; failing that, a face that dominates
    its only image."""
    singles = known + [_enrollable(r)[0].embeddings for r in results if len(_enrollable(r)) == 1]
    if singles:
        return _centroid(singles)
    groups = [[_concat(f.embeddings) for f in _enrollable(r)] for r in results if _enrollable(r)]
    if len(groups) >= 2:
        recurring = []
        for i, faces in enumerate(groups):
            others = np.stack([v for j, g in enumerate(groups) if j != i for v in g])
            scores = [float(np.max(others @ v)) for v in faces]
            if max(scores) >= ATTRIBUTE_MIN_SIMILARITY:
                recurring.append(faces[int(np.argmax(scores))])
        return _normalise(np.mean(recurring, axis=0)) if recurring else None
    dominant = _dominant_face(results)
    return _concat(dominant.embeddings) if dominant else None


def _dominant_face(results: list[ImageResult]):
    """A face at least DOMINANCE times larger than every other face of the image (a portrait)."""
    for result in results:
        faces = sorted(_enrollable(result), key=lambda f: -f.detection.size)
        if len(faces) >= 2 and faces[0].detection.size >= DOMINANCE * faces[1].detection.size:
            return faces[0]
    return None


def _enrollable(result: ImageResult) -> list:
    return [f for f in result.usable_faces if f.detection.quality >= ENROLL_MIN_QUALITY]


def _normalise(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _concat(embeddings: dict[str, np.ndarray]) -> np.ndarray:
    return _normalise(np.concatenate([embeddings[name] for name in sorted(embeddings)]))


def _centroid(embeddings: list[dict[str, np.ndarray]]) -> np.ndarray:
    return _normalise(np.mean([_concat(e) for e in embeddings], axis=0))


def build_database(engine: Engine, identities: Mapping[str, list], performers: dict[str, dict], out: Path,
                   version: str | None = None, storage: str = "float32") -> EnrollReport:
    """A complete new database from labelled images (written to a staging folder, then moved)."""
    chosen, report = enrollment_faces(engine, identities)
    faces: list[str | None] = []
    vectors: dict[str, list[np.ndarray]] = {e.name: [] for e in engine.pack.embedders}
    for uid, embeddings in chosen.items():
        for embedding in embeddings:
            faces.append(uid)
            for name in vectors:
                vectors[name].append(embedding[name])
    records = {uid: {**performers.get(uid, {}), "face_count": len(chosen[uid])} for uid in chosen if chosen[uid]}
    indices = {}
    for spec in engine.pack.embedders:
        index = new_index(spec.dim, storage)
        if vectors[spec.name]:
            index.add_items(np.stack(vectors[spec.name]), ids=list(range(len(faces))))
        indices[spec.name] = index
    _write_staged(Path(out), lambda staging: write_database(staging, engine.pack, faces, records, indices, version))
    return report


def enroll(engine: Engine, db: FaceDatabase, identities: Mapping[str, list],
           performers: dict[str, dict]) -> EnrollReport:
    """Add identities (or more faces of known ones) to an existing database without rebuilding it.

    ``db`` is consumed (its indices are extended in place); load the folder again to search it.
    """
    chosen, report = enrollment_faces(engine, identities, {uid: _stored_embeddings(db, uid) for uid in identities})
    _extend(engine.pack, db, chosen, performers)
    return report


def add_faces(pack, path: Path, chosen: Mapping[str, list[dict]], performers: dict[str, dict]) -> int:
    """Faces whose identity is already settled (embeddings per embedder, e.g. a library person the
    user named) into the database at ``path``, created empty when missing; no image is analysed."""
    path = Path(path)
    if not (path / "manifest.json").exists():
        indices = {spec.name: new_index(spec.dim) for spec in pack.embedders}
        _write_staged(path, lambda staging: write_database(staging, pack, [], {}, indices))
    _extend(pack, load_database(path, pack), chosen, performers)
    return sum(len(v) for v in chosen.values())


def forget_identity(pack, path: Path, universal_id: str) -> int:
    """Take an identity's faces out of a database (they become null gaps, which never match)."""
    db = load_database(Path(path), pack)
    ids = [i for i, uid in enumerate(db.faces) if uid == universal_id]
    if not ids and universal_id not in db.performers:
        return 0
    faces = [None if uid == universal_id else uid for uid in db.faces]
    records = {uid: dict(r) for uid, r in db.performers.items() if uid != universal_id}
    extra = {k: db.manifest[k] for k in ("sources",) if k in db.manifest}
    _write_staged(db.path, lambda staging: write_database(staging, pack, faces, records, db.indices, extra=extra))
    return len(ids)


def _extend(pack, db: FaceDatabase, chosen: Mapping[str, list[dict]], performers: dict[str, dict]) -> None:
    """Append faces to ``db``'s indices and records and write it back (staged, then swapped in)."""
    faces = list(db.faces)
    records = {uid: dict(record) for uid, record in db.performers.items()}
    for uid, embeddings in chosen.items():
        if not embeddings:
            continue
        ids = list(range(len(faces), len(faces) + len(embeddings)))
        faces.extend([uid] * len(embeddings))
        for name, index in db.indices.items():
            assert not isinstance(index, DiskVectors), "a database opened in low memory is read-only"
            index.add_items(np.stack([e[name] for e in embeddings]), ids=ids)
        record = records.setdefault(uid, {})
        record.update({k: v for k, v in performers.get(uid, {}).items() if k not in record})
        record["face_count"] = record.get("face_count", 0) + len(embeddings)
    extra = {k: db.manifest[k] for k in ("sources",) if k in db.manifest}
    _write_staged(db.path, lambda staging: write_database(staging, pack, faces, records, db.indices, extra=extra))


def _stored_embeddings(db: FaceDatabase, uid: str) -> list[dict]:
    """The embeddings of a performer's faces in ``db``, one dict per face like a fresh analysis's."""
    ids = db.face_ids(uid)
    if not ids:
        return []
    vectors = {name: np.asarray(index.get_vectors(ids), np.float32) for name, index in db.indices.items()}
    return [{name: vectors[name][i] for name in vectors} for i in range(len(ids))]


def _write_staged(target: Path, write) -> None:
    """Write a whole database beside ``target`` and swap it in, so readers never see half of one."""
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    write(staging)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def open_or_create(engine: Engine, path: Path) -> FaceDatabase:
    """The local enrollment database, created empty on first use."""
    if not (Path(path) / "manifest.json").exists():
        build_database(engine, {}, {}, path)
    return load_database(path, engine.pack)
