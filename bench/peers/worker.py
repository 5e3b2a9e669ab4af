"""One engine, one job, in its own process: ``python -m bench.peers.worker SPEC_JSON OUT_JSON``.

A fresh process per engine and job makes peak RSS (ru_maxrss) belong to that engine alone and
keeps one engine's caches and threads from slowing the other.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from bench.common import SHARED
from bench.peers import datasets, scoring
from bench.peers.face_recognition_engine import TOLERANCE, FaceRecognitionEngine


def make_engine(spec: dict):
    """Our Engine (pack, threads) or the peer (detector); OpenCV gets the same thread budget."""
    if spec["kind"] == "face_recognition":
        return FaceRecognitionEngine(spec["detector"])
    import cv2

    from stash_sense.engine import Engine

    cv2.setNumThreads(spec["threads"])
    return Engine(spec["pack"], threads=spec["threads"])


def embed(engine, images: list[Path]) -> scoring.Vectors:
    """One vector per image: the primary face's (fused) embedding, or None."""
    if isinstance(engine, FaceRecognitionEngine):
        faces = [r.primary_face() for r in engine.analyze(images)]
        return {p: f.encoding if f else None for p, f in zip(images, faces)}
    from devtools.evaluation.pairs import best_face_embeddings

    return best_face_embeddings(engine, images)


def similarity_and_threshold(engine) -> tuple[scoring.Similarity, float]:
    """Each engine's own metric and default threshold (ours: the calibrated cluster threshold)."""
    if isinstance(engine, FaceRecognitionEngine):
        return scoring.negative_euclidean, -TOLERANCE
    from stash_sense.engine.calibration import load_calibration

    return scoring.cosine, load_calibration(engine.pack).cluster_threshold


def accuracy(engine, name: str, sample: str) -> dict:
    similarity, threshold = similarity_and_threshold(engine)
    if name == "identification":
        return identification(engine, datasets.identification_split(sample), similarity, threshold)
    pairs = datasets.lfw_devtest_pairs(sample) if name == "lfw_devtest" else datasets.deepface_pairs()
    return scoring.verification(pairs, embed(engine, datasets.pair_images(pairs)), similarity, threshold)


def identification(engine, split, similarity, threshold) -> dict:
    """Ours: the eval command's own protocol (Voyager database, persons, calibrated confidence).
    Peer: nearest enrolled encoding, tagged within tolerance 0.6, as the peer plugins match."""
    if isinstance(engine, FaceRecognitionEngine):
        return scoring.identification(split, embed(engine, datasets.split_images(split)), similarity, threshold)
    from devtools.evaluation.harness import run_protocol
    from stash_sense.engine.calibration import load_calibration

    metrics = run_protocol(engine, split, load_calibration(engine.pack)).metrics(len(split.galleries), 0.0)
    return {k: metrics[k] for k in ("face_rank1", "open_set_false_tag_rate", "gallery_precision",
                                    "gallery_recall")} | {"queries": sum(map(len, split.queries.values()))}


def timing(engine, name: str, quick: bool, detector: str | None) -> dict:
    """Wall and CPU time of one pass, file path to embeddings, after a short warm-up."""
    images = datasets.timing_images(name, quick, detector)
    engine.analyze(images[:1] if detector == "cnn" else images[:3])
    cpu_start, started = _cpu_seconds(), time.perf_counter()
    results = engine.analyze(images)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_start
    faces = sum(len(r.faces) if isinstance(engine, FaceRecognitionEngine) else len(r.usable_faces)
                for r in results)
    return {"images": len(images), "faces": faces, "seconds": seconds, "cpu_seconds": cpu}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(spec: dict) -> dict:
    engine = make_engine(spec["engine"])
    started = time.perf_counter()
    if spec["job"] == "timing":
        out = timing(engine, spec["set"], spec["quick"], spec["engine"].get("detector"))
    else:
        out = accuracy(engine, spec["set"], spec["sample"])
    out["wall_seconds"] = round(time.perf_counter() - started, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


if __name__ == "__main__":
    os.environ.setdefault("STASH_SENSE_MODEL_DIR", str(SHARED / "models"))
    Path(sys.argv[2]).write_text(json.dumps(run(json.loads(sys.argv[1]))))
