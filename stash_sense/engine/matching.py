"""Matching faces against one or more face databases, fused over embedders, per performer.

Each embedder's vectors are unit length, so a fused face is the concatenation of its per-embedder
vectors scaled by sqrt(weight / total weight): the dot product of two fused faces is the weighted
mean of the per-embedder cosine similarities. Neighbours come from each searched Voyager index
(every one, or only the first embedder's in low-memory mode); their exact similarity in every
embedder is then recomputed from the stored vectors, so a face found by one embedder only is not
scored with a made-up penalty.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from stash_sense.engine.database import FaceDatabase
from stash_sense.engine.packs import Pack

DEFAULT_K = 50
FUSED_CACHE = 1024  # performers; ~14 KB each for two 512-d embedders and ~3.4 faces


def embedder_weights(pack: Pack) -> dict[str, float]:
    total = sum(e.weight for e in pack.embedders)
    return {e.name: e.weight / total for e in pack.embedders}


def fuse(embeddings: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Fused unit vector(s) of one face (1-D inputs) or many faces (2-D inputs)."""
    live = {n: w for n, w in weights.items() if w > 0}
    total = sum(live.values())
    parts = [np.asarray(embeddings[n], np.float32) * np.sqrt(w / total) for n, w in sorted(live.items())]
    return np.concatenate(parts, axis=-1)


def degenerate(distances: np.ndarray) -> bool:
    """Stash Sense's model health check: nearly identical tiny distances mean a broken embedder."""
    top = np.sort(np.asarray(distances, np.float64))[:20]
    if top.size == 0 or top[0] >= 0.20:
        return False
    spread, variance = float(top[-1] - top[0]), float(np.var(top))
    return (top[0] < 0.10 and (variance < 0.002 or spread < 0.05)) or (spread < 0.03 and variance < 0.001)


@dataclass
class PerformerMatch:
    """A performer's best similarity to one query face, and how many of its faces came close."""

    universal_id: str
    similarity: float
    close_faces: int


def stash_box_key(endpoint: str, stash_id: str) -> str:
    """``<domain>:<id>``, the universal-id form, from a Stash stash_id (GraphQL URL endpoint) or a
    release record (domain endpoint): both spellings of one stash-box performer give one key."""
    if "/" in endpoint:  # https://stashdb.org/graphql -> stashdb.org
        endpoint = endpoint.split("://", 1)[-1].split("/", 1)[0]
    return f"{endpoint.strip().lower()}:{stash_id}"


def linked_keys(universal_id: str, record: dict) -> set[str]:
    """Every id a performer record is known by: its universal id and its linked stash-box ids."""
    links = record.get("stash_ids")
    if not links:
        return {universal_id}
    keys = {universal_id}
    for link in links:
        if link.get("endpoint") and link.get("stash_id"):
            keys.add(stash_box_key(str(link["endpoint"]), str(link["stash_id"])))
    return keys


def canonical_ids(databases: list[FaceDatabase]) -> dict[str, list[str]]:
    """Groups of two or more universal ids that are one performer (shared universal id or linked
    stash-box id), keyed by the id the group is reported under: the first one met, databases in
    order. Only ids that collide reach the union-find, so a 100k-performer release stays cheap."""
    owner: dict[str, str] = {}  # id or stash-box key -> first universal id that claimed it
    parent: dict[str, str] = {}
    seen: dict[str, int] = {}  # universal id -> order of first appearance

    def find(uid: str) -> str:
        while parent.get(uid, uid) != uid:
            uid = parent[uid]
        return uid

    for db in databases:
        for uid, record in db.performers.items():
            seen.setdefault(uid, len(seen))
            for key in linked_keys(uid, record):
                claimed = owner.setdefault(key, uid)
                if claimed == uid:
                    continue
                first, second = find(claimed), find(uid)
                if first != second:
                    early, late = sorted((first, second), key=seen.__getitem__)
                    parent[late] = early
    groups: dict[str, list[str]] = {}
    for uid in sorted(parent, key=seen.__getitem__):
        groups.setdefault(find(uid), [find(uid)]).append(uid)
    return groups


class Matcher:
    """Searches several databases at once; results merge per performer (same universal id, or
    records linked by a stash-box id, e.g. a local performer linked to its StashDB entry)."""

    def __init__(self, databases: list[FaceDatabase], pack: Pack, k: int = DEFAULT_K) -> None:
        self.databases = databases
        self.pack = pack
        self.weights = embedder_weights(pack)
        self.adapter = pack.adapter
        self.k = k
        self._members = canonical_ids(databases)
        self._canonical = {member: uid for uid, members in self._members.items() for member in members}
        # An lru_cache of the bound method would refer back to the matcher: a cycle that keeps old
        # databases (and their open files) alive after a reload until Python's collector runs.
        self._fused: OrderedDict[str, np.ndarray] = OrderedDict()
        self._fused_lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(db.faces) for db in self.databases)

    def canonical(self, universal_id: str) -> str:
        """The id a performer's matches are merged and reported under."""
        return self._canonical.get(universal_id, universal_id)

    def members(self, universal_id: str) -> list[str]:
        return self._members.get(self.canonical(universal_id), [universal_id])

    def performer(self, universal_id: str) -> dict:
        """The merged record; earlier databases (the downloaded release) win on conflicts."""
        record: dict = {}
        for db in self.databases:
            for member in self.members(universal_id):
                if member in db.performers:
                    record = {**db.performer(member), **record}
        if record:
            record["id"] = self.canonical(universal_id)
        return record or {"id": universal_id, "name": universal_id}

    def adapt(self, embeddings: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A query face's embeddings as the pack's query adapter maps them (``engine.adapter``;
        unchanged for a pack without one). Database faces are never adapted."""
        return self.adapter.apply(embeddings) if self.adapter is not None else embeddings

    def match_faces(self, embeddings: dict[str, np.ndarray]) -> list[list[PerformerMatch]]:
        """For each query face (rows of ``embeddings[name]``, adapted: ``adapt``), performers best first."""
        count = len(next(iter(embeddings.values()))) if embeddings else 0
        per_face: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(count)]
        codes, _ = self._performer_codes
        for db, db_codes in zip(self.databases, codes):
            for row, (face_ids, similarities) in enumerate(self._search(db, embeddings)):
                per_face[row].append((db_codes[face_ids], similarities))
        return [self._rank(found) for found in per_face]

    @functools.cached_property
    def _performer_codes(self) -> tuple[list[np.ndarray], list[str]]:
        """Per database, face id -> number of its (canonical) performer, -1 for none; and the
        performers by number. Ranking then groups a face's neighbours with numpy, not dicts."""
        number: dict[str, int] = {}
        codes = []
        for db in self.databases:
            db_codes = np.full(len(db.faces), -1, np.int32)
            for face_id, uid in enumerate(db.faces):
                if uid is not None:
                    db_codes[face_id] = number.setdefault(self.canonical(uid), len(number))
            codes.append(db_codes)
        return codes, list(number)

    def fused_vectors(self, universal_id: str) -> np.ndarray:
        """Every stored face of a performer, fused (read-only): used to score persons exactly.

        Kept for the last FUSED_CACHE performers: a library's galleries keep meeting the same
        performers, and the databases a matcher searches never change under it.
        """
        with self._fused_lock:
            if universal_id in self._fused:
                self._fused.move_to_end(universal_id)
                return self._fused[universal_id]
        vectors = self._fused_vectors(universal_id)
        with self._fused_lock:
            self._fused[universal_id] = vectors
            if len(self._fused) > FUSED_CACHE:
                self._fused.popitem(last=False)
        return vectors

    def _fused_vectors(self, universal_id: str) -> np.ndarray:
        rows = []
        for db in self.databases:
            ids = [i for member in self.members(universal_id) for i in db.face_ids(member)]
            if ids:
                rows.append(fuse({n: np.asarray(index.get_vectors(ids), np.float32)
                                  for n, index in db.indices.items()}, self.weights))
        vectors = np.concatenate(rows) if rows else np.zeros((0, 1), np.float32)
        vectors.flags.writeable = False
        return vectors

    def _search(self, db: FaceDatabase, embeddings: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query face: the candidate face ids (with a performer) and their fused similarity."""
        rows = len(next(iter(embeddings.values())))
        searchable = db.searchable()
        nothing = (np.zeros(0, np.int64), np.zeros(0, np.float64))
        if not len(db.faces) or not any(len(i) for i in searchable.values()):
            return [nothing] * rows
        k = min(self.k, min(len(index) for index in searchable.values()))
        neighbours, broken = [], set()
        for name, index in searchable.items():
            ids, distances = index.query(np.asarray(embeddings[name], np.float32), k=k)
            neighbours.append(np.atleast_2d(ids))
            if degenerate(np.atleast_2d(distances)[0]):
                broken.add(name)
        found = np.concatenate(neighbours, axis=1).astype(np.int64)
        found = np.where(db.has_performer(found), found, -1)  # gaps, stray ids never match
        everyone = np.unique(found[found >= 0])
        if not everyone.size:
            return [nothing] * rows
        stored = {n: np.asarray(index.get_vectors(everyone.tolist()), np.float32) for n, index in db.indices.items()}
        results, checked = [], False
        for row in range(rows):
            candidates = np.unique(found[row][found[row] >= 0])
            if not candidates.size:
                results.append(nothing)
                continue
            at = np.searchsorted(everyone, candidates)
            cosines = {n: vectors[at] @ np.asarray(embeddings[n][row], np.float32) for n, vectors in stored.items()}
            if not checked:  # embedders not searched are checked on the candidates' similarities
                broken |= {n for n in cosines if n not in searchable and degenerate(1.0 - cosines[n])}
                checked = True
            results.append((candidates, self._weighted(cosines, broken).astype(np.float64)))
        return results

    def _weighted(self, cosines: dict[str, np.ndarray], broken: set[str]) -> np.ndarray:
        """Weighted mean of the embedders' cosines; a degenerate embedder is left out while a
        healthy one remains (Stash Sense's fallback). In low memory this can only re-score the
        searched embedder's candidates: if that embedder is the broken one, its search is too."""
        weights = {n: self.weights[n] for n in cosines if n not in broken} or {n: self.weights[n] for n in cosines}
        total = sum(weights.values())
        return np.sum([cosines[n] * (w / total) for n, w in weights.items()], axis=0)

    def _rank(self, found: list[tuple[np.ndarray, np.ndarray]]) -> list[PerformerMatch]:
        """Per performer: best similarity, and how many of its faces came within 0.1 of it."""
        codes = np.concatenate([c for c, _ in found]) if found else np.zeros(0, np.int32)
        if not codes.size:
            return []
        similarities = np.concatenate([s for _, s in found])
        order = np.lexsort((-similarities, codes))  # by performer, best first
        codes, similarities = codes[order], similarities[order]
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        best = similarities[starts]
        close = np.add.reduceat(similarities >= np.repeat(best, np.diff(np.r_[starts, codes.size])) - 0.1, starts)
        names = self._performer_codes[1]
        matches = [PerformerMatch(names[c], b, n) for c, b, n in
                   zip(codes[starts].tolist(), best.tolist(), close.tolist())]
        return sorted(matches, key=lambda m: (-m.similarity, -m.close_faces, m.universal_id))
