"""The identification protocol behind `eval` and `calibrate`.

Identities: the first N images (by file name) of each identity are enrolled into a fresh
database, the rest are queries. Distractors: identities that are never enrolled. Galleries are
built deterministically: one per identity (its queries plus up to 3 distractor images) and one per
pair of consecutive identities (both identities' queries mixed).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stash_sense.engine.builder import IMAGE_SUFFIXES, build_database
from stash_sense.engine.calibration import Calibration, cluster_threshold_from_pairs, fit_calibration
from stash_sense.engine.database import load_database
from stash_sense.engine.matching import Matcher, fuse
from stash_sense.engine.mirror import MirrorGate
from stash_sense.engine.persons import auto_applies, identify_persons, query_faces
from stash_sense.engine.pipeline import Engine, ImageResult

DISTRACTORS_PER_GALLERY = 3
UNKNOWN_EVERY = 3  # calibration: every third identity is left out of the database


@dataclass
class Split:
    enrolled: dict[str, list[Path]]  # uid -> enrollment images
    queries: dict[str, list[Path]]  # uid -> query images
    distractors: list[Path]
    galleries: list[tuple[list[Path], set[str]]] = field(default_factory=list)  # images, expected uids


def read_identities(folder: Path) -> dict[str, list[Path]]:
    """``local:<sub-folder>`` -> sorted images, for every sub-folder holding images."""
    identities = {}
    for sub in sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        images = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            identities[f"local:{sub.name}"] = images
    return identities


def make_split(identities: dict[str, list[Path]], distractors: dict[str, list[Path]], enroll: int) -> Split:
    enrolled = {uid: images[:enroll] for uid, images in identities.items()}
    queries = {uid: images[enroll:] for uid, images in identities.items() if images[enroll:]}
    distractor_images = [image for uid in sorted(distractors) for image in distractors[uid]]
    split = Split(enrolled, queries, distractor_images)
    ordered = sorted(queries)
    for i, uid in enumerate(ordered):
        extra = [distractor_images[(i * DISTRACTORS_PER_GALLERY + j) % len(distractor_images)]
                 for j in range(DISTRACTORS_PER_GALLERY)] if distractor_images else []
        split.galleries.append((queries[uid] + extra, {uid}))
    for first, second in zip(ordered, ordered[1:]):
        mixed = [p for pair in zip(queries[first], queries[second]) for p in pair]
        longer = queries[first] if len(queries[first]) > len(queries[second]) else queries[second]
        mixed += longer[min(len(queries[first]), len(queries[second])):]
        split.galleries.append((mixed, {first, second}))
    return split


@dataclass
class Run:
    """Everything measured on one split; ``samples`` feed calibration."""

    face_hits: int = 0
    face_queries: int = 0
    distractor_faces: int = 0
    distractor_tagged: int = 0
    tags_correct: int = 0
    tags_total: int = 0
    tags_expected: int = 0
    faces: int = 0
    mirror_skipped_fraction: float = 0.0
    samples: list[dict] = field(default_factory=list)

    def metrics(self, galleries: int, seconds: float) -> dict:
        precision = self.tags_correct / self.tags_total if self.tags_total else 1.0
        recall = self.tags_correct / self.tags_expected if self.tags_expected else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"face_rank1": _ratio(self.face_hits, self.face_queries),
                "open_set_false_tag_rate": _ratio(self.distractor_tagged, self.distractor_faces),
                "gallery_precision": round(precision, 4), "gallery_recall": round(recall, 4),
                "gallery_f1": round(f1, 4), "faces": self.faces, "galleries": galleries,
                "seconds": round(seconds, 1)}


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def run_protocol(engine: Engine, split: Split, calibration: Calibration, mirror_band: float | None = None) -> Run:
    """Enroll, analyse every query/distractor image once, then score faces and galleries.

    ``mirror_band``: queries use mirror on demand with that band (enrollment always mirrors)."""
    with tempfile.TemporaryDirectory() as tmp:
        build_database(engine, split.enrolled, {}, Path(tmp) / "db")
        matcher = Matcher([load_database(Path(tmp) / "db", engine.pack)], engine.pack)
        images = sorted({p for paths in split.queries.values() for p in paths} | set(split.distractors)
                        | {p for paths, _ in split.galleries for p in paths})
        gate = MirrorGate(matcher, calibration, mirror_band) if mirror_band is not None else None
        engine.mirror_gate = gate
        try:
            analysed = dict(zip(images, engine.analyze(images, names=[str(p) for p in images])))
        finally:
            engine.mirror_gate = None
        owner = {p: uid for uid, paths in split.queries.items() for p in paths}
        run = Run()
        run.mirror_skipped_fraction = round(gate.skipped_fraction, 4) if gate else 0.0
        _score_faces(run, split, analysed, owner, matcher, calibration)
        for paths, expected in split.galleries:
            _score_gallery(run, [analysed[p] for p in paths], owner, expected, matcher, calibration)
        return run


def _score_faces(run: Run, split: Split, analysed: dict[Path, ImageResult], owner: dict, matcher: Matcher,
                 calibration: Calibration) -> None:
    for path in sorted(owner) + split.distractors:
        face = analysed[path].primary_face()
        if face is None:
            if path in owner:
                run.face_queries += 1  # a query face we could not find counts as a miss
            continue
        if path in owner:
            matches = matcher.match_faces({n: v[None] for n, v in face.embeddings.items()})[0]
            run.face_queries += 1
            run.face_hits += bool(matches) and matches[0].universal_id == owner[path]
        else:
            persons = identify_persons(query_faces([_only(analysed[path], face)], matcher.weights),
                                       matcher, calibration)
            run.distractor_faces += 1
            run.distractor_tagged += any(auto_applies(p, calibration) for p in persons)


def _only(result: ImageResult, face) -> ImageResult:
    return ImageResult(source=result.source, faces=[face], size=result.size)


def _score_gallery(run: Run, results: list[ImageResult], owner: dict, expected: set[str], matcher: Matcher,
                   calibration: Calibration) -> None:
    faces = query_faces(results, matcher.weights)
    run.faces += len(faces)
    primary = {id(r.primary_face()): owner.get(Path(r.source)) for r in results if r.primary_face()}
    truth_of_face = [primary.get(id(face_obj)) for r in results for face_obj in r.usable_faces if face_obj.embeddings]
    persons = identify_persons(faces, matcher, calibration)
    tagged = set()
    for person in persons:
        truths = [truth_of_face[f.index] for f in person.faces if truth_of_face[f.index]]
        truth = max(set(truths), key=truths.count) if truths else None
        if person.candidates:
            top = person.candidates[0]
            run.samples.append({**top.evidence, "correct": top.universal_id == truth})
        if auto_applies(person, calibration):
            tagged.add(person.identified.universal_id)
    run.tags_total += len(tagged)
    run.tags_correct += len(tagged & expected)
    run.tags_expected += len(expected)


def evaluate(engine: Engine, identities_dir: Path, distractors_dir: Path | None, enroll: int,
             calibration: Calibration, mirror_band: float | None = None) -> dict:
    started = time.perf_counter()
    distractors = read_identities(distractors_dir) if distractors_dir else {}
    split = make_split(read_identities(identities_dir), distractors, enroll)
    run = run_protocol(engine, split, calibration, mirror_band)
    metrics = run.metrics(len(split.galleries), time.perf_counter() - started)
    if mirror_band is not None:
        metrics["mirror_skipped_fraction"] = run.mirror_skipped_fraction
    return metrics


def calibrate(engine: Engine, identities_dir: Path, distractors_dir: Path | None, enroll: int) -> Calibration:
    """Fit the cluster threshold on face pairs, then the confidence model on labelled persons."""
    distractors = read_identities(distractors_dir) if distractors_dir else {}
    identities = read_identities(identities_dir)
    ordered = sorted(identities)
    unknown = {uid for i, uid in enumerate(ordered) if i % UNKNOWN_EVERY == UNKNOWN_EVERY - 1}
    split = make_split({uid: identities[uid] for uid in ordered if uid not in unknown}, distractors, enroll)
    # People seen in several images who are not in the database: without them, "more faces" would
    # look like proof of identity (every multi-face person of the fit data would be a right answer).
    split.galleries += [(identities[uid], set()) for uid in sorted(unknown)]
    threshold = _pair_threshold(engine, identities)
    # Features only: with no weights and thresholds above 1, no tag is decided while fitting.
    provisional = Calibration(weights={}, bias=0.0, cluster_threshold=threshold, auto_threshold=2.0,
                              review_threshold=2.0)
    run = run_protocol(engine, split, provisional)
    return fit_calibration(run.samples, threshold, {
        "identities": len(identities) - len(unknown), "unknown_identities": len(unknown),
        "distractor_identities": len(distractors), "enroll": enroll,
        "identities_dir": Path(identities_dir).name,
        "distractors_dir": Path(distractors_dir).name if distractors_dir else None})


def _pair_threshold(engine: Engine, identities: dict[str, list[Path]]) -> float:
    images = [p for paths in identities.values() for p in paths]
    owners = [uid for uid, paths in identities.items() for _ in paths]
    vectors, labels = [], []
    for owner, result in zip(owners, engine.analyze(images, names=[str(p) for p in images])):
        face = result.primary_face()
        if face is not None:
            vectors.append(fuse(face.embeddings, {e.name: e.weight for e in engine.pack.embedders}))
            labels.append(owner)
    matrix = np.stack(vectors) @ np.stack(vectors).T
    same = np.array([[a == b for b in labels] for a in labels])
    upper = np.triu(np.ones_like(same), 1).astype(bool)
    return cluster_threshold_from_pairs(matrix[upper & same], matrix[upper & ~same])
