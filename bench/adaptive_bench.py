"""Adaptive sampling on the bulk task (issue 16): long galleries (50-200 images), adaptive against
a fixed 200-image sample, cold (empty cache), test-mbf128 on real LFW faces.

The demo Stash is seeded as in bench/bulk_bench.py, but each gallery holds 1-2 enrolled people
(and sometimes a stranger) over 50-200 images: LFW has at most 24 images a person, so the rest are
variants (mirrored, cropped, re-encoded: other bytes, real inference). Each mode runs on a freshly
seeded Stash with an empty cache; precision/recall are against the seeded truth. Single runs on a
shared machine: the load average is recorded with every figure. Adds the ``*_adaptive`` and
``*_fixed`` keys to ``bench/results/bulk.json``. Not a test.

Only with test-mbf128: the stopping rule decides on real matches, and the production-shaped
replicas (random weights, time and memory only) would feed it noise. What adaptive sampling gives
users of the production pack is ``images_per_gallery_adaptive`` (measured here, on real faces)
times the replicas' seconds per image (``bench.engine_bench``): ``python -m bench.projection``.

    python -m bench.adaptive_bench --galleries 8
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

from bench.bulk_bench import (
    REFERENCE_IMAGES,
    _folders,
    _variant,
    build_reference,
    enrolled_library,
    precision_recall,
    run_job,
    seed_stash,
)
from bench.common import RESULTS
from bench.common import TEST_PACK as PACK


def long_library(galleries: int, folder: Path, seed: int = 16) -> dict:
    """Like bulk_bench.build_library, with 50-200 images per gallery."""
    rng = random.Random(seed)
    known = _folders(REFERENCE_IMAGES + 6)
    strangers = _folders(1, REFERENCE_IMAGES + 1)
    rng.shuffle(strangers)
    uses: dict[Path, int] = {}
    lib = enrolled_library(known, lambda: True)
    pool = {name: images[REFERENCE_IMAGES:] for name, images in known}
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(galleries):
        size = rng.randint(50, 200)
        people = rng.sample(sorted(pool), k=rng.choice((1, 1, 2)))
        paths = [_variant(rng.choice(pool[people[i % len(people)]]), uses, folder) for i in range(size)]
        if rng.random() < 0.3 and strangers:
            paths += strangers.pop()[1][:2]
        title = f"Long gallery {index + 1:04d}"
        lib["galleries"].append({"title": title, "images": [str(p) for p in paths]})
        lib["truth"][title] = {p.replace("_", " ") for p in people}
    return lib


def main(argv: list[str] | None = None) -> int:
    from stash_sense.engine.database import load_database
    from stash_sense.engine.identify import Identifier
    from stash_sense.engine.pipeline import Engine

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--galleries", type=int, default=8)
    args = parser.parse_args(argv)
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="stash-sense-adaptive-bench-") as tmp:
        work = Path(tmp)
        lib = long_library(args.galleries, work / "images")
        reference = build_reference(lib, work / "reference")
        engine = Engine(PACK, threads=2)
        identifier = Identifier(engine, [load_database(reference, engine.pack)])
        try:
            for mode, adaptive in (("adaptive", True), ("fixed", False)):
                server = seed_stash(work / f"stash-{mode}", lib)
                data = work / f"data-{mode}"
                shutil.rmtree(data, ignore_errors=True)
                try:
                    print(f"{mode}:", file=sys.stderr, flush=True)
                    out[mode] = {**run_job(server, identifier, data, adaptive=adaptive),
                                 **precision_recall(server, lib["truth"])}
                finally:
                    server.stop()
        finally:
            engine.close()
    sizes = [len(g["images"]) for g in lib["galleries"]]
    summary = {
        "adaptive_bench_galleries": len(sizes), "adaptive_bench_images": sum(sizes),
        "adaptive_bench_gallery_sizes": [min(sizes), max(sizes)],
        "galleries_per_min_adaptive": out["adaptive"]["galleries_per_min"],
        "galleries_per_min_fixed": out["fixed"]["galleries_per_min"],
        "adaptive_speedup": round(out["adaptive"]["galleries_per_min"]
                                  / max(out["fixed"]["galleries_per_min"], 1e-9), 2),
        "tag_precision_adaptive": out["adaptive"]["tag_precision"],
        "tag_recall_adaptive": out["adaptive"]["tag_recall"],
        "tag_precision_fixed": out["fixed"]["tag_precision"], "tag_recall_fixed": out["fixed"]["tag_recall"],
        "images_per_gallery_adaptive": round(out["adaptive"]["images"] / max(out["adaptive"]["processed"], 1), 1),
        "images_per_gallery_fixed": round(out["fixed"]["images"] / max(out["fixed"]["processed"], 1), 1),
        "adaptive_bench_runs": out,
    }
    path = RESULTS / "bulk.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    result.update(summary)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "adaptive_bench_runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
