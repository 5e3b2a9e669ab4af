"""Faces of one gallery or scene -> persons -> identified performers with calibrated confidence.

Deciding per face is what made the seed report one person as "several different people". Here
the faces are first grouped into persons (average-linkage clustering on fused embeddings, never
merging two faces of the same image; then clusters that name the same performer first are joined,
so the poor faces of one person add up instead of staying apart), each person is scored against
every candidate performer using all of its faces, and each performer is given to at most one person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stash_sense.engine.calibration import Calibration
from stash_sense.engine.matching import Matcher, fuse

CANDIDATES_PER_PERSON = 8
# A person seen in one image while someone else is seen in at least this many is a bystander:
# the gallery is not "theirs", so they are offered for review but never tagged automatically.
SUBJECT_MIN_IMAGES = 2


@dataclass
class QueryFace:
    """One usable face of the gallery: which image it is in, its fused embedding, its matches."""

    image: str
    embeddings: dict[str, np.ndarray]  # unit vector per embedder
    vector: np.ndarray  # fused unit vector (dot product = weighted cosine)
    quality: float = 0.0
    box: list[float] | None = None
    index: int = 0  # position in the caller's face list
    size: float = 160.0  # px, shorter side of the detector box
    det_score: float = 1.0
    sharpness: float = 0.0  # detector.crop_sharpness of the aligned crop
    frontal: float = 1.0


@dataclass
class Candidate:
    universal_id: str
    similarity: float  # mean over the person's faces of the best similarity to this performer
    votes: float  # fraction of the person's faces whose top performer this is
    confidence: float = 0.0
    best_similarity: float = 0.0  # the highest of the person's faces' similarities to this performer
    evidence: dict = field(default_factory=dict)  # what the confidence was computed from
    performer: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"id": self.universal_id, "similarity": round(self.similarity, 4), "votes": round(self.votes, 3),
                "confidence": round(self.confidence, 4), "performer": self.performer}


@dataclass
class Person:
    faces: list[QueryFace]
    candidates: list[Candidate] = field(default_factory=list)
    identified: Candidate | None = None  # the performer assigned to this person, if any
    incidental: bool = False  # a one-off face beside the group's subjects: review only, never auto

    @property
    def images(self) -> list[str]:
        return sorted({f.image for f in self.faces})

    @property
    def best_face(self) -> QueryFace:
        return max(self.faces, key=lambda f: f.quality)

    def to_dict(self) -> dict:
        return {"faces": len(self.faces), "images": self.images, "incidental": self.incidental,
                "face_indices": [f.index for f in self.faces],
                "best_face": {"image": self.best_face.image, "box": self.best_face.box},
                "identified": self.identified.to_dict() if self.identified else None,
                "candidates": [c.to_dict() for c in self.candidates]}


def cluster_faces(faces: list[QueryFace], threshold: float) -> list[list[int]]:
    """Average-linkage agglomerative clustering; clusters never contain two faces of one image.

    Merges the most similar pair of clusters while their mean pairwise cosine is >= threshold.
    Deterministic: ties break on the lowest cluster index.
    """
    n = len(faces)
    if n == 0:
        return []
    vectors = np.stack([f.vector for f in faces]).astype(np.float64)
    sums = vectors @ vectors.T  # sum of pairwise similarities between clusters
    sizes = np.ones(n)
    images = [f.image for f in faces]
    conflict = np.array([[a == b for b in images] for a in images])
    alive = np.ones(n, bool)
    members = [[i] for i in range(n)]
    while True:
        linkage = sums / np.outer(sizes, sizes)
        linkage[conflict | ~alive[:, None] | ~alive[None, :]] = -np.inf
        np.fill_diagonal(linkage, -np.inf)
        a, b = np.unravel_index(int(np.argmax(linkage)), linkage.shape)
        if linkage[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)
        sums[a, :] += sums[b, :]
        sums[:, a] = sums[a, :]
        sums[a, a] = 0
        sizes[a] += sizes[b]
        conflict[a, :] |= conflict[b, :]
        conflict[:, a] = conflict[a, :]
        alive[b] = False
        members[a].extend(members[b])
        members[b] = []
    return sorted((sorted(m) for m in members if m), key=lambda m: (-len(m), m[0]))


def merge_agreeing(clusters: list[list[int]], faces: list[QueryFace], answer: list[str | None],
                   floor: float) -> list[list[int]]:
    """Clusters whose best candidate is the same performer are one person, unless they share an
    image or their faces are less alike (average linkage) than ``floor``.

    The cluster threshold is strict (different people almost never merge on clean photos), so the
    poor faces of one person (thumbnails, small or blurred faces) stay apart: each too weak to be
    tagged alone, and a lone face beside a larger cluster is even taken for a bystander. That they
    all point to the same performer is evidence they are one person; the calibrated confidence of
    the merged person weighs it (faces, images, votes, similarities). ``clusters`` largest first, as
    ``cluster_faces`` returns them, ``answer[i]`` the best candidate of cluster i: a smaller cluster
    joins the largest one that agrees with it. The floor keeps two unlike strangers who happen to
    resemble the same performer apart (calibration.AGREE_FALSE_MERGE).
    """
    vectors = np.stack([f.vector for f in faces]).astype(np.float64) if faces else np.zeros((0, 0))
    merged: list[list[int]] = []
    answers: list[str | None] = []

    def joins(cluster: list[int], uid: str | None, target: list[int], other: str | None) -> bool:
        if uid is None or other != uid or {faces[i].image for i in cluster} & {faces[i].image for i in target}:
            return False
        return float(np.mean(vectors[cluster] @ vectors[target].T)) >= floor

    for cluster, uid in zip(clusters, answer):
        target = next((m for m, other in zip(merged, answers) if joins(cluster, uid, m, other)), None)
        if target is None:
            merged.append(list(cluster))
            answers.append(uid)
        else:
            target.extend(cluster)
    return sorted((sorted(m) for m in merged), key=lambda m: (-len(m), m[0]))


def identify_persons(faces: list[QueryFace], matcher: Matcher, calibration: Calibration) -> list[Person]:
    """Cluster, join clusters that agree on their performer, score every person against its
    candidate performers, assign performers once each."""
    clusters = cluster_faces(faces, calibration.cluster_threshold)
    if not clusters or not len(matcher):
        persons = [Person([faces[i] for i in cluster]) for cluster in clusters]
        _mark_incidental(persons)
        return persons
    per_face = matcher.match_faces({name: np.stack([f.embeddings[name] for f in faces])
                                    for name in matcher.weights})
    top_of = [m[0].universal_id if m else None for m in per_face]

    def scored(cluster: list[int]) -> Person:
        person = Person([faces[i] for i in cluster])
        person.candidates = _score_person(person, cluster, per_face, top_of, matcher, calibration)
        return person

    persons = [scored(cluster) for cluster in clusters]
    if calibration.agree_threshold is not None:  # None: a calibration fitted before the agreement step
        answers = [p.candidates[0].universal_id if p.candidates else None for p in persons]
        joined = merge_agreeing(clusters, faces, answers, calibration.agree_threshold)
        if len(joined) < len(clusters):
            persons = [scored(cluster) for cluster in joined]
    _mark_incidental(persons)
    _assign(persons)
    return persons


def _mark_incidental(persons: list[Person]) -> None:
    for person in persons:
        person.incidental = len(person.images) == 1 and any(
            len(other.images) >= SUBJECT_MIN_IMAGES for other in persons if other is not person)


def auto_applies(person: Person, calibration: Calibration) -> bool:
    """Whether the person's performer is tagged without asking: confident, and not a bystander."""
    return person.identified is not None and calibration.band(
        person.identified.confidence, person.incidental) == "auto"


def _score_person(person: Person, rows: list[int], per_face, top_of, matcher: Matcher,
                  calibration: Calibration) -> list[Candidate]:
    best_seen: dict[str, float] = {}
    for row in rows:
        for match in per_face[row][:CANDIDATES_PER_PERSON]:
            best_seen[match.universal_id] = max(best_seen.get(match.universal_id, -1.0), match.similarity)
    shortlist = sorted(best_seen, key=lambda uid: (-best_seen[uid], uid))[:CANDIDATES_PER_PERSON]
    queries = np.stack([f.vector for f in person.faces])
    candidates = []
    for uid in shortlist:
        stored = matcher.fused_vectors(uid)
        if not len(stored):
            continue
        per_face_best = np.max(queries @ stored.T, axis=1)
        votes = sum(1 for r in rows if top_of[r] == uid) / len(rows)
        candidates.append(Candidate(uid, float(np.mean(per_face_best)), votes,
                                    best_similarity=float(per_face_best.max())))
    candidates.sort(key=lambda c: (-c.similarity, c.universal_id))
    for i, candidate in enumerate(candidates):
        runner_up = candidates[1].similarity if i == 0 and len(candidates) > 1 else (
            candidates[0].similarity if i > 0 else calibration.floor_similarity)
        candidate.evidence = {"similarity": candidate.similarity, "margin": candidate.similarity - runner_up,
                              "faces": len(person.faces), "images": len(person.images),
                              "votes": candidate.votes, "best_similarity": candidate.best_similarity,
                              **_face_evidence(person.best_face)}
        candidate.confidence = calibration.confidence(**candidate.evidence)
        candidate.performer = matcher.performer(candidate.universal_id)
    return candidates


def _face_evidence(face: QueryFace) -> dict:
    """What the person's best face says about how far its matches can be trusted."""
    return {"quality": face.quality, "size": face.size, "det_score": face.det_score,
            "sharpness": face.sharpness, "frontal": face.frontal}


def _assign(persons: list[Person]) -> None:
    """Greedy by confidence: each performer goes to at most one person, each person gets one."""
    options = sorted(((c.confidence, -i, c) for i, p in enumerate(persons) for c in p.candidates),
                     key=lambda o: (-o[0], -o[1], o[2].universal_id))
    taken: set[str] = set()
    for _, neg_index, candidate in options:
        person = persons[-neg_index]
        if person.identified is None and candidate.universal_id not in taken:
            person.identified = candidate
            taken.add(candidate.universal_id)


def query_faces(results, matcher: Matcher) -> list[QueryFace]:
    """Usable faces of analysed images (``ImageResult`` list) as clustering and matching input,
    their embeddings adapted as queries (``Matcher.adapt``)."""
    faces: list[QueryFace] = []
    for result in results:
        for face in result.usable_faces:
            if face.embeddings:
                embeddings = matcher.adapt(face.embeddings)
                faces.append(QueryFace(image=result.source, embeddings=embeddings,
                                       vector=fuse(embeddings, matcher.weights),
                                       quality=face.detection.quality,
                                       box=[round(float(v), 1) for v in face.detection.bbox], index=len(faces),
                                       size=face.detection.size, det_score=face.detection.score,
                                       sharpness=face.detection.sharpness, frontal=face.detection.frontal))
    return faces

