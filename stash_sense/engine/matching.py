"""Matching faces against one or more face databases, fused over embedders, per performer.

Each embedder's vectors are unit length, so a fused face is the concatenation of its per-embedder
vectors scaled by sqrt(weight / total weight): the dot product of two fused faces is the weighted
mean of the per-embedder cosine similarities. Neighbours come from each Voyager index; their exact
similarity in every embedder is then recomputed from the stored vectors, so a face found by one
embedder only is not scored with a made-up penalty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stash_sense.engine.database import FaceDatabase
from stash_sense.engine.packs import Pack

DEFAULT_K = 50


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
        self.k = k
        self._members = canonical_ids(databases)
        self._canonical = {member: uid for uid, members in self._members.items() for member in members}

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

    def match_faces(self, embeddings: dict[str, np.ndarray]) -> list[list[PerformerMatch]]:
        """For each query face (rows of ``embeddings[name]``), performers best first."""
        count = len(next(iter(embeddings.values()))) if embeddings else 0
        per_face: list[dict[str, list[float]]] = [{} for _ in range(count)]
        for db in self.databases:
            for row, sims in enumerate(self._search(db, embeddings)):
                for uid, similarity in sims:
                    per_face[row].setdefault(self.canonical(uid), []).append(similarity)
        return [self._rank(found) for found in per_face]

    def fused_vectors(self, universal_id: str) -> np.ndarray:
        """Every stored face of a performer, fused: used to score persons exactly."""
        rows = []
        for db in self.databases:
            ids = [i for member in self.members(universal_id) for i in db.face_ids(member)]
            if ids:
                rows.append(fuse({n: np.asarray(index.get_vectors(ids), np.float32)
                                  for n, index in db.indices.items()}, self.weights))
        return np.concatenate(rows) if rows else np.zeros((0, 1), np.float32)

    def _search(self, db: FaceDatabase, embeddings: dict[str, np.ndarray]) -> list[list[tuple[str, float]]]:
        if not len(db.faces) or not any(len(i) for i in db.indices.values()):
            return [[] for _ in range(len(next(iter(embeddings.values()))))]
        k = min(self.k, min(len(index) for index in db.indices.values()))
        neighbours, weights = {}, dict(self.weights)
        for name, index in db.indices.items():
            ids, distances = index.query(np.asarray(embeddings[name], np.float32), k=k)
            neighbours[name] = np.atleast_2d(ids)
            if degenerate(np.atleast_2d(distances)[0]) and len(db.indices) > 1:
                weights[name] = 0.0  # fall back to the healthy embedder(s)
        results = []
        for row in range(len(next(iter(neighbours.values())))):
            candidates = sorted({int(i) for ids in neighbours.values() for i in ids[row]})
            candidates = [i for i in candidates if db.universal_id(i) is not None]
            if not candidates:
                results.append([])
                continue
            stored = fuse({n: np.asarray(index.get_vectors(candidates), np.float32)
                           for n, index in db.indices.items()}, weights)
            query = fuse({n: embeddings[n][row] for n in db.indices}, weights)
            similarities = stored @ query
            results.append([(db.universal_id(i), float(s)) for i, s in zip(candidates, similarities)])
        return results

    @staticmethod
    def _rank(found: dict[str, list[float]]) -> list[PerformerMatch]:
        matches = []
        for uid, sims in found.items():
            best = max(sims)
            matches.append(PerformerMatch(uid, best, sum(1 for s in sims if s >= best - 0.1)))
        return sorted(matches, key=lambda m: (-m.similarity, -m.close_faces, m.universal_id))
