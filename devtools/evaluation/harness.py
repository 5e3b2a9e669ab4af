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

from devtools.evaluation.analysis_cache import CachedEngine, analyze_cached
from stash_sense.engine.adapter import QueryAdapter, fit_adapter
from stash_sense.engine.builder import IMAGE_SUFFIXES, build_database
from stash_sense.engine.calibration import AGREE_FALSE_MERGE, Calibration, cluster_threshold_from_pairs, fit_calibration
from stash_sense.engine.database import load_database
from stash_sense.engine.matching import Matcher, fuse
from stash_sense.engine.mirror import MirrorGate
from stash_sense.engine.persons import auto_applies, identify_persons, query_faces
from stash_sense.engine.pipeline import Engine, ImageResult

DISTRACTORS_PER_GALLERY = 3
UNKNOWN_EVERY = 3  # calibration: every third identity is left out of the database
KIND_SEPARATOR = "__"  # bench/hard_set.py names degraded photos <kind>__<original name>
MISS_REASONS = ("below_auto", "bystander", "never_named")
PAIR_ORIGINAL = "clean.jpg"  # the clear photo of an adapter pair folder (bench/hard_set.py)


def kind_of(path: Path | str) -> str:
    """The degradation kind a file name carries (``clean`` when it carries none)."""
    name = Path(path).name
    return name.split(KIND_SEPARATOR, 1)[0] if KIND_SEPARATOR in name else "clean"


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
    face_queries: int = 0  # every query image: one whose face is not found counts as a miss
    faces_found: int = 0  # query images with a face: the detector's share of the misses
    distractor_faces: int = 0
    distractor_tagged: int = 0
    tags_correct: int = 0
    tags_total: int = 0
    tags_expected: int = 0
    faces: int = 0
    galleries: int = 0
    mirror_skipped_fraction: float = 0.0
    samples: list[dict] = field(default_factory=list)
    # Expected tags not made, by why: the right performer below the auto threshold, the right
    # performer at auto confidence on a one-image bystander, no person naming them at all.
    missed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MISS_REASONS, 0))
    kinds: dict[str, Run] = field(default_factory=dict)  # the same counts per degradation kind

    def of(self, kind: str | None) -> list[Run]:
        """This run and, when the item has a kind, that kind's run: the counters to update."""
        return [self] if kind is None else [self, self.kinds.setdefault(kind, Run())]

    def metrics(self, galleries: int, seconds: float) -> dict:
        precision = self.tags_correct / self.tags_total if self.tags_total else 1.0
        recall = self.tags_correct / self.tags_expected if self.tags_expected else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"face_rank1": _ratio(self.face_hits, self.face_queries),
                "face_found": _ratio(self.faces_found, self.face_queries),
                "open_set_false_tag_rate": _ratio(self.distractor_tagged, self.distractor_faces),
                "gallery_precision": round(precision, 4), "gallery_recall": round(recall, 4),
                "gallery_f1": round(f1, 4), "missed_tags": dict(self.missed), "faces": self.faces,
                "galleries": galleries,
                "seconds": round(seconds, 1)}

    def metrics_by_kind(self) -> dict[str, dict]:
        """Per degradation kind: faces of that kind; galleries whose queries are all of that kind."""
        out = {}
        for kind, run in sorted(self.kinds.items()):
            figures = run.metrics(run.galleries, 0.0)
            figures.pop("seconds")
            # A kind with no single faces (``pairs``: two-person galleries) has no face figures.
            if not run.face_queries:
                figures.pop("face_rank1")
                figures.pop("face_found")
            if not run.distractor_faces:
                figures.pop("open_set_false_tag_rate")
            out[kind] = figures
        return out


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def run_protocol(engine: Engine, split: Split, calibration: Calibration, mirror_band: float | None = None) -> Run:
    """Enroll, analyse every query/distractor image once, then score faces and galleries.

    ``mirror_band``: queries use mirror on demand with that band (enrollment always mirrors)."""
    with tempfile.TemporaryDirectory() as tmp:
        build_database(CachedEngine(engine), split.enrolled, {}, Path(tmp) / "db")  # type: ignore[arg-type]
        matcher = Matcher([load_database(Path(tmp) / "db", engine.pack)], engine.pack)
        images = sorted({p for paths in split.queries.values() for p in paths} | set(split.distractors)
                        | {p for paths, _ in split.galleries for p in paths})
        gate = MirrorGate(matcher, calibration, mirror_band) if mirror_band is not None else None
        engine.mirror_gate = gate
        try:
            analysed = dict(zip(images, analyze_cached(engine, images)))
        finally:
            engine.mirror_gate = None
        owner = {p: uid for uid, paths in split.queries.items() for p in paths}
        run = Run()
        run.mirror_skipped_fraction = round(gate.skipped_fraction, 4) if gate else 0.0
        _score_faces(run, split, analysed, owner, matcher, calibration)
        for paths, expected in split.galleries:
            kinds = {kind_of(p) for p in paths if p in owner}
            counters = run.of(kinds.pop() if len(kinds) == 1 else "pairs" if len(expected) > 1 else None)
            _score_gallery(counters, [analysed[p] for p in paths], owner, expected, matcher, calibration)
        return run


def _score_faces(run: Run, split: Split, analysed: dict[Path, ImageResult], owner: dict, matcher: Matcher,
                 calibration: Calibration) -> None:
    for path in sorted(owner) + split.distractors:
        face = analysed[path].primary_face()
        counters = run.of(kind_of(path))
        if face is None:
            if path in owner:
                for counter in counters:
                    counter.face_queries += 1  # a query face we could not find counts as a miss
            continue
        if path in owner:
            matches = matcher.match_faces({n: v[None] for n, v in matcher.adapt(face.embeddings).items()})[0]
            hit = bool(matches) and matches[0].universal_id == owner[path]
            for counter in counters:
                counter.face_queries += 1
                counter.faces_found += 1
                counter.face_hits += hit
        else:
            persons = identify_persons(query_faces([_only(analysed[path], face)], matcher),
                                       matcher, calibration)
            tagged = any(auto_applies(p, calibration) for p in persons)
            for counter in counters:
                counter.distractor_faces += 1
                counter.distractor_tagged += tagged


def _only(result: ImageResult, face) -> ImageResult:
    return ImageResult(source=result.source, faces=[face], size=result.size)


def _score_gallery(counters: list[Run], results: list[ImageResult], owner: dict, expected: set[str],
                   matcher: Matcher, calibration: Calibration) -> None:
    run = counters[0]  # samples for calibration go to the whole run only
    faces = query_faces(results, matcher)
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
    reasons = [_miss_reason(uid, persons, calibration) for uid in sorted(expected - tagged)]
    for counter in counters:
        for reason in reasons:
            counter.missed[reason] += 1
        counter.galleries += 1
        counter.faces += len(faces)
        counter.tags_total += len(tagged)
        counter.tags_correct += len(tagged & expected)
        counter.tags_expected += len(expected)


def _miss_reason(uid: str, persons: list, calibration: Calibration) -> str:
    named = [p for p in persons if p.identified is not None and p.identified.universal_id == uid]
    if any(p.incidental and calibration.band(p.identified.confidence) == "auto" for p in named):
        return "bystander"
    return "below_auto" if named else "never_named"


def evaluate(engine: Engine, identities_dir: Path, distractors_dir: Path | None, enroll: int,
             calibration: Calibration, by_kind: bool = False, mirror_band: float | None = None,
             self_fitted: bool = False) -> dict:
    """The metrics of the split; with ``by_kind`` also ``by_kind``: the same per degradation kind;
    with ``mirror_band`` queries use mirror on demand and the skipped fraction is reported.

    ``self_fitted``: the confidence model is refitted on this split's own persons and answers
    first (thresholds as ``calibration``'s): an upper bound on what any confidence model could do
    with these persons and features, not a method (it has seen the answers)."""
    started = time.perf_counter()
    distractors = read_identities(distractors_dir) if distractors_dir else {}
    split = make_split(read_identities(identities_dir), distractors, enroll)
    if self_fitted:
        samples = _fit_samples(engine, split, calibration.cluster_threshold, calibration.agree_threshold)
        calibration = fit_calibration(samples, calibration.cluster_threshold, {"self_fitted": True},
                                      agree_threshold=calibration.agree_threshold)
    run = run_protocol(engine, split, calibration, mirror_band)
    metrics: dict = run.metrics(len(split.galleries), time.perf_counter() - started)
    if by_kind:
        metrics["by_kind"] = run.metrics_by_kind()
    if mirror_band is not None:
        metrics["mirror_skipped_fraction"] = run.mirror_skipped_fraction
    return metrics


def calibrate(engine: Engine, identities_dir: Path | list[Path], distractors_dir: Path | list[Path | None] | None,
              enroll: int) -> Calibration:
    """Fit the cluster threshold on face pairs, then the confidence model on labelled persons.

    Several (identities, distractors) folder pairs are fitted together: the clean split and the
    same kind of split with degraded photos (bench/hard_set.py), so that confidence stays honest
    on both.
    """
    id_dirs = identities_dir if isinstance(identities_dir, list) else [identities_dir]
    dis_dirs = distractors_dir if isinstance(distractors_dir, list) else [distractors_dir] * len(id_dirs)
    if len(dis_dirs) != len(id_dirs):
        raise ValueError("give one --distractors per --identities (or one for all)")
    samples: list[dict] = []
    # Face pairs of the first (clean) split: the cluster threshold keeps its meaning on clean photos.
    threshold, agree = _pair_thresholds(engine, read_identities(id_dirs[0]))
    counts = {"identities": 0, "unknown_identities": 0, "distractor_identities": 0}
    for ids_dir, dis_dir in zip(id_dirs, dis_dirs):
        distractors = read_identities(dis_dir) if dis_dir else {}
        identities = read_identities(ids_dir)
        ordered = sorted(identities)
        unknown = {uid for i, uid in enumerate(ordered) if i % UNKNOWN_EVERY == UNKNOWN_EVERY - 1}
        split = make_split({uid: identities[uid] for uid in ordered if uid not in unknown}, distractors, enroll)
        # People seen in several images who are not in the database: without them, "more faces" would
        # look like proof of identity (every multi-face person of the fit data would be a right answer).
        split.galleries += [(identities[uid], set()) for uid in sorted(unknown)]
        counts["identities"] += len(identities) - len(unknown)
        counts["unknown_identities"] += len(unknown)
        counts["distractor_identities"] += len(distractors)
        samples += _fit_samples(engine, split, threshold, agree)
    return fit_calibration(samples, threshold, {
        **counts, "enroll": enroll,
        "identities_dir": "+".join(_short(d) for d in id_dirs),
        "distractors_dir": "+".join(_short(d) for d in dis_dirs if d) or None}, agree_threshold=agree)


def fit_query_adapter(engine: Engine, pairs_dir: Path) -> tuple[QueryAdapter, int]:
    """The pack's query adapter (``engine.adapter``) and the number of pairs it was fitted on.

    Every sub-folder of ``pairs_dir`` holds one clear photo, ``clean.jpg``, and degraded copies of
    it (``bench/hard_set.py`` builds them from the calibration split's photos only).
    """
    folders = sorted(p for p in Path(pairs_dir).iterdir() if p.is_dir())
    images = [image for folder in folders for image in sorted(folder.iterdir())]
    analysed = dict(zip(images, analyze_cached(engine, images)))
    poor: dict[str, list[np.ndarray]] = {}
    clear: dict[str, list[np.ndarray]] = {}
    for folder in folders:
        original = analysed[folder / PAIR_ORIGINAL].primary_face()
        if original is None:
            continue
        for image in sorted(folder.iterdir()):
            copy = analysed[image].primary_face() if image.name != PAIR_ORIGINAL else None
            if copy is None:
                continue  # the original itself, or a copy whose face was lost (a crop without it)
            for name, vector in copy.embeddings.items():
                poor.setdefault(name, []).append(vector)
                clear.setdefault(name, []).append(original.embeddings[name])
    if not poor:
        raise ValueError(f"no degraded copy with a face found under {pairs_dir}")
    pairs = len(next(iter(poor.values())))
    return fit_adapter({n: np.stack(v) for n, v in poor.items()}, {n: np.stack(v) for n, v in clear.items()}), pairs


def _short(folder: Path) -> str:
    """``calib_ids`` or ``hard/calib_ids``: the folder name and, for the degraded set, its parent."""
    folder = Path(folder)
    return f"{folder.parent.name}/{folder.name}" if folder.parent.name.startswith("hard") else folder.name


def _fit_samples(engine: Engine, split: Split, cluster_threshold: float, agree_threshold: float | None) -> list[dict]:
    # Features only: with no weights and thresholds above 1, no tag is decided while fitting.
    provisional = Calibration(weights={}, bias=0.0, cluster_threshold=cluster_threshold,
                              auto_threshold=2.0, review_threshold=2.0, agree_threshold=agree_threshold)
    return run_protocol(engine, split, provisional).samples


def _pair_thresholds(engine: Engine, identities: dict[str, list[Path]]) -> tuple[float, float]:
    """Cluster threshold and agreement floor (persons.merge_agreeing) from the split's face pairs."""
    images = [p for paths in identities.values() for p in paths]
    owners = [uid for uid, paths in identities.items() for _ in paths]
    vectors, labels = [], []
    for owner, result in zip(owners, analyze_cached(engine, images)):
        face = result.primary_face()
        if face is not None:
            vectors.append(fuse(face.embeddings, {e.name: e.weight for e in engine.pack.embedders}))
            labels.append(owner)
    matrix = np.stack(vectors) @ np.stack(vectors).T
    same = np.array([[a == b for b in labels] for a in labels])
    upper = np.triu(np.ones_like(same), 1).astype(bool)
    same_pairs, different_pairs = matrix[upper & same], matrix[upper & ~same]
    return (cluster_threshold_from_pairs(same_pairs, different_pairs),
            cluster_threshold_from_pairs(same_pairs, different_pairs, AGREE_FALSE_MERGE))
