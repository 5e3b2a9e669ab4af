"""Library face index: scale (synthetic vectors) and unknown-people clustering quality (real faces).

    python -m bench.library_index_bench [--scale 100000,1000000] [--identities 120] [--quick]

Scale: build time, one 200-image gallery (about 300 faces) added to the full index plus the side
table rows, save time and resident size, with random unit vectors of the test pack's dimension.
Quality: LFW identities that are in no database and were not used to calibrate (``eval_ids``
minus the demo's), their images spread over many galleries together with single-image
distractors; every image's subject face (``ImageResult.primary_face``) is indexed, the
library clustering runs with the pack's calibrated cluster threshold, and B-cubed precision and
recall are computed over all faces (distractors included, each its own person).

Writes ``bench/results/library_index.json`` (``bench/cache/`` with --quick).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import LFW, QUICK_RESULTS, RESULTS, TEST_PACK

CACHE = Path(__file__).resolve().parent / "cache" / "library_lfw"
log = logging.getLogger("bench.library_index")
DEMO = {"Tony_Blair", "Donald_Rumsfeld", "Jacques_Chirac", "Gerhard_Schroeder", "Hugo_Chavez", "Colin_Powell",
        "Serena_Williams"}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale(faces: int, dim: int = 128, gallery_faces: int = 300, checkpoint: int = 250_000,
          on_checkpoint: Callable[[dict], None] | None = None) -> dict:
    """Build, update and save a library index of ``faces`` synthetic faces (side table included).

    Every ``checkpoint`` faces (and at the end) the build clock stops while one gallery's faces are
    added and timed and the resident size is read; ``on_checkpoint`` gets the figures so far, so a
    build stopped early still leaves measured figures for the size it reached.
    """
    from stash_sense.engine.face_index import FaceIndex, Layout
    from stash_sense.jobs.library_index import SideTable

    rng = np.random.default_rng(1)
    layout = Layout({"mbf128": dim}, {"mbf128": 1.0})
    before = rss_mb()
    with tempfile.TemporaryDirectory(prefix="library-index-bench-") as tmp:
        table = SideTable(Path(tmp) / "faces.sqlite")
        index = FaceIndex(layout)
        build, loads, checkpoints = 0.0, [], []
        for start in range(0, faces, 50_000):
            count = min(50_000, faces - start)
            started = time.perf_counter()
            index.add(table.insert_synthetic(start, count), {"mbf128": _unit(rng.standard_normal((count, dim),
                                                                                                np.float32))})
            build += time.perf_counter() - started
            loads.append(os.getloadavg()[0])
            log.info(f"{start + count} faces in {build:.0f} s, {rss_mb() - before:.0f} MB, load {loads[-1]:.1f}")
            if (start + count) % checkpoint == 0 or start + count == faces:
                resident = rss_mb() - before
                started = time.perf_counter()
                ids = table.insert_synthetic(10**9 + start, gallery_faces)  # one gallery more, then go on
                index.add(ids, {"mbf128": _unit(rng.standard_normal((gallery_faces, dim), np.float32))})
                update = time.perf_counter() - started
                checkpoints.append({"faces": start + count, "build_s": round(build, 1), "resident_mb": round(resident),
                                    "incremental_update_s": round(update, 3),
                                    "load_average_1min": round(loads[-1], 1)})
                if on_checkpoint:
                    on_checkpoint({**checkpoints[-1], "checkpoints": checkpoints})
        started = time.perf_counter()
        index.save(Path(tmp) / "index", {"max_face_id": table.max_id()})
        save = time.perf_counter() - started
        started = time.perf_counter()
        index.neighbours({"mbf128": _unit(rng.standard_normal((1000, dim), np.float32))}, k=20)
        query = (time.perf_counter() - started) / 1000
        table.close()
    return {**checkpoints[-1], "save_s": round(save, 1), "incremental_faces": gallery_faces,
            "query_ms_per_face_k20": round(query * 1000, 3),
            "load_average_1min_during_build": [round(min(loads), 1), round(max(loads), 1)],
            "checkpoints": checkpoints}


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def lfw_library(identities: int, per_identity: int, distractors: int, split: str = "eval") -> dict:
    """Subject-face embeddings of the chosen LFW images (cached under bench/cache).

    ``split="tune"`` takes the next ``identities`` identities by name and the other half of the
    single-image ones: disjoint from "eval", for choosing the library margin without seeing eval.
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    file = CACHE / f"lfw_{split}_{identities}_{per_identity}_{distractors}_q.npz"
    if file.exists():
        data = np.load(file, allow_pickle=False)
        return {k: data[k] for k in data.files}
    people = sorted(d for d in LFW.iterdir() if d.is_dir() and d.name not in DEMO)
    counts = {d: len(list(d.glob("*.jpg"))) for d in people}
    start = 0 if split == "eval" else identities
    chosen = [d for d in people if counts[d] >= 4][start:start + identities]
    singles = [d for d in people if counts[d] == 1][(0 if split == "eval" else 1)::2][:distractors]
    paths, labels = [], []
    for person in chosen:
        for image in sorted(person.glob("*.jpg"))[:per_identity]:
            paths.append(image)
            labels.append(person.name)
    for person in singles:
        paths.append(next(person.glob("*.jpg")))
        labels.append(f"distractor:{person.name}")
    from stash_sense.engine import Engine

    engine = Engine(TEST_PACK, threads=2)
    vectors, kept, names, quality = [], [], [], []
    for path, label, result in zip(paths, labels, engine.analyze_iter(paths)):
        face = result.primary_face()
        if face is not None:
            vectors.append(face.embeddings["mbf128"])
            kept.append(label)
            names.append(path.name)
            quality.append(face.detection.quality)
    engine.close()
    data = {"vectors": np.stack(vectors).astype(np.float32), "labels": np.array(kept), "images": np.array(names),
            "quality": np.array(quality, np.float32)}
    np.savez(file, **data)
    return data


QUALITY_KEYS = ("tuning", "unknown_clusters_bcubed_precision", "unknown_clusters_bcubed_recall", "clustering_s",
                "cluster_threshold", "calibrated_cluster_threshold", "library_margin", "set")
MARGINS = (0.0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15)


def tune(identities: int, per_identity: int, distractors: int) -> dict:
    """B-cubed precision/recall per library margin on the tuning split (disjoint from eval)."""
    from stash_sense.engine.calibration import load_calibration
    from stash_sense.engine.face_groups import bcubed, cluster_vectors
    from stash_sense.engine.packs import load_pack
    from stash_sense.jobs.unknown_people import MIN_QUALITY

    data = lfw_library(identities, per_identity, distractors, split="tune")
    good = data["quality"] >= MIN_QUALITY
    calibrated = load_calibration(load_pack(TEST_PACK)).cluster_threshold
    labels, images = [str(x) for x in data["labels"][good]], [str(x) for x in data["images"][good]]
    sweep = {}
    for margin in MARGINS:
        clusters = cluster_vectors(data["vectors"][good], images, calibrated + margin)
        sweep[str(margin)] = [round(x, 4) for x in bcubed(clusters, labels)]
    return {"split": "tune: the next identities by name and the other half of the single-image ones",
            "faces": len(labels), "margin_to_bcubed_precision_recall": sweep}


def quality(identities: int, per_identity: int, distractors: int, galleries: int) -> dict:
    """B-cubed precision/recall of the library clustering on real LFW faces."""
    from stash_sense.engine.calibration import load_calibration
    from stash_sense.engine.face_groups import bcubed, cluster_vectors
    from stash_sense.engine.packs import load_pack
    from stash_sense.jobs.unknown_people import LIBRARY_MARGIN, MIN_QUALITY, library_threshold

    data = lfw_library(identities, per_identity, distractors)
    good = data["quality"] >= MIN_QUALITY  # the task groups only faces this good
    excluded = int((~good).sum())
    data = {k: v[good] for k, v in data.items()}
    calibrated = load_calibration(load_pack(TEST_PACK)).cluster_threshold
    threshold = library_threshold(calibrated)
    rng = random.Random(7)
    gallery_of = [rng.randrange(galleries) for _ in data["labels"]]  # spread over many galleries
    started = time.perf_counter()
    clusters = cluster_vectors(data["vectors"], [str(i) for i in data["images"]], threshold)
    seconds = time.perf_counter() - started
    precision, recall = bcubed(clusters, [str(label) for label in data["labels"]])
    labels = [str(label) for label in data["labels"]]
    return {"unknown_clusters_bcubed_precision": round(precision, 4),
            "unknown_clusters_bcubed_recall": round(recall, 4),
            "clustering_s": round(seconds, 2), "cluster_threshold": round(threshold, 4),
            "calibrated_cluster_threshold": round(calibrated, 4), "library_margin": LIBRARY_MARGIN,
            "set": {"source": "LFW deep-funneled, identities with >= 4 images not used for calibration and not in "
                              "the demo database (first N by name), up to M images each, plus single-image "
                              "distractor identities; one subject face per image (ImageResult.primary_face)",
                    "pack": TEST_PACK, "identities": len({x for x in labels if not x.startswith("distractor:")}),
                    "distractors": sum(x.startswith("distractor:") for x in labels), "faces": len(labels),
                    "galleries": len(set(gallery_of)), "images_per_identity_max": per_identity,
                    "faces_below_min_quality_excluded": excluded, "min_quality": MIN_QUALITY}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="100000", help="comma-separated face counts (1000000 measures 1M)")
    parser.add_argument("--identities", type=int, default=150)
    parser.add_argument("--per-identity", type=int, default=12)
    parser.add_argument("--distractors", type=int, default=400)
    parser.add_argument("--galleries", type=int, default=120)
    parser.add_argument("--quick", action="store_true", help="small sizes; results go to bench/cache")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sizes = [int(s) for s in args.scale.split(",") if s] if not args.quick else [20_000]
    out: dict = {"pack_dim": 128, "scale": {}, "machine": f"{os.cpu_count()} cores, shared",
                 "load_average_before": [round(x, 1) for x in os.getloadavg()]}
    target = (QUICK_RESULTS if args.quick else RESULTS) / "library_index.json"
    kept = json.loads(target.read_text()) if args.skip_quality and target.exists() else {}

    def partial(size: int, figures: dict) -> None:
        """Results so far, written at each checkpoint: a build stopped early leaves measured figures."""
        stopped = {**out, "scale": {**kept.get("scale", {}), **out["scale"], str(size): figures},
                   "in_progress": f"build of {size} faces stopped or still running at {figures['faces']} faces: "
                                  f"the figures under scale.{size} were measured at that size"}
        stopped.update({k: v for k, v in kept.items() if k in QUALITY_KEYS})
        target.write_text(json.dumps(stopped, indent=2) + "\n")

    for faces in sizes:
        out["scale"][str(faces)] = scale(faces, on_checkpoint=lambda figures, n=faces: partial(n, figures))
        print(json.dumps(out["scale"][str(faces)]), file=sys.stderr)
    largest = out["scale"][str(max(sizes))]
    if max(sizes) >= 1_000_000:
        out["faces_1m_build_s"] = largest["build_s"]
        out["faces_1m_resident_mb"] = largest["resident_mb"]
        out["incremental_update_s"] = largest["incremental_update_s"]
    else:  # HNSW insertion costs ~log(n) each: n log n to build, log n per added face; memory is linear
        n = max(sizes)
        growth = np.log(1_000_000) / np.log(n)
        out["faces_1m_build_s"] = round(largest["build_s"] * (1_000_000 / n) * growth)
        out["faces_1m_resident_mb"] = round(largest["resident_mb"] * 1_000_000 / n)
        out["incremental_update_s"] = round(largest["incremental_update_s"] * growth, 3)
        out["faces_1m_extrapolated_from"] = n
        out["faces_1m_note"] = (f"EXTRAPOLATED, not measured: building 1,000,000 faces on this shared 2-core "
                                f"machine takes over half an hour, beyond the time a bench may take here; the "
                                f"1M keys are the {n}-face measurement scaled by n log n (build), log n (update) "
                                f"and n (memory)")
    if kept:  # --skip-quality: keep the quality figures of the last full run
        out.update({k: v for k, v in kept.items() if k in QUALITY_KEYS})
        out["scale"] = {**kept.get("scale", {}), **out["scale"]}  # sizes not re-measured keep their run
    if not args.skip_quality:
        if not args.quick:
            out["tuning"] = tune(args.identities, args.per_identity, args.distractors)
        out.update(quality(args.identities if not args.quick else 30, args.per_identity,
                           args.distractors if not args.quick else 60, args.galleries))
    out["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
