"""Bulk gallery task benchmark (issue 7): throughput cold (empty embedding cache) and warm (cache
filled), with 1 and 2 engine threads, and tag precision/recall against the seeded truth.

A demo Stash (``devtools.demo``) is seeded with galleries of real LFW faces: each gallery holds
1-2 people of the reference database (2-4 images each, never an image the database was built
from, never an image of another gallery) and, in some, a stranger who is in no database. Every
measured run starts from a freshly seeded Stash, so cold and warm do the same writes; only the
cache differs. The job runs in this process, as ``python -m stash_sense bulk`` runs it.

Warm figures are the median of three forced re-runs; cold is one run (it takes a minute).
Writes ``bench/results/bulk.json`` (``--quick``: ``bench/cache/bulk.quick.json``). Only comparable
on a quiet machine: the load average before and after each run is recorded. Not a test.

    python -m bench.bulk_bench              # 200 galleries, 1 and 2 threads
    python -m bench.bulk_bench --quick      # 30 galleries, 2 threads only
    python -m bench.bulk_bench --packs prod # only the replica pack's cold run (``*_prod_pack`` keys)

``--packs both`` (default) adds to the test pack's runs one cold run with the production-shaped
replica pack (random weights: time and memory only; its reference database is noise).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import (
    LFW,
    PROD_PACK,
    QUICK_RESULTS,
    REPO,
    RESULTS,
    add_packs_argument,
    loadavg,
    pack_names,
    under_load,
)
from bench.common import TEST_PACK as PACK

REFERENCE_IMAGES = 4
WARM_REPEATS = 3  # a warm run takes seconds: the median of three (a cold run, a minute, is run once)
ENDPOINT = "https://stashdb.org/graphql"
API_KEY = "bench-api-key"


# --- the library ---------------------------------------------------------------------------------------


def _folders(min_images: int, max_images: int = 10**6) -> list[tuple[str, list[Path]]]:
    out = []
    for folder in sorted(p for p in LFW.iterdir() if p.is_dir()):
        images = sorted(folder.glob("*.jpg"))
        if min_images <= len(images) <= max_images:
            out.append((folder.name, images))
    return out


def build_library(galleries: int, folder: Path, seed: int = 7) -> dict:
    """Seed input, truth, reference images and records for ``galleries`` galleries (deterministic).

    LFW has only a few images per person, so gallery images past the originals are variants
    (mirrored, slightly cropped, re-encoded) written to ``folder``: other bytes, so other cache
    keys and real inference, of the same person. Reference images are never used in galleries.
    """
    rng = random.Random(seed)
    known = _folders(REFERENCE_IMAGES + 2)
    strangers = _folders(1, REFERENCE_IMAGES + 1)
    rng.shuffle(strangers)
    pool = {name: images[REFERENCE_IMAGES:] for name, images in known}
    uses: dict[Path, int] = {}
    lib = enrolled_library(known, lambda: rng.random() < 0.7)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(galleries):
        paths, truth = [], set()
        for name in rng.sample(sorted(pool), k=rng.choice((1, 1, 2))):
            for _ in range(rng.randint(4, 8)):
                paths.append(_variant(rng.choice(pool[name]), uses, folder))
            truth.add(name.replace("_", " "))
        if rng.random() < 0.3 and strangers:
            paths += strangers.pop()[1][:2]
        title = f"Bench gallery {index + 1:04d}"
        lib["galleries"].append({"title": title, "images": [str(p) for p in paths]})
        lib["truth"][title] = truth
    return lib


def enrolled_library(known: list[tuple[str, list[Path]]], local: Callable[[], bool]) -> dict:
    """An empty library whose reference database and Stash know the ``known`` people: each one's first
    ``REFERENCE_IMAGES`` images enrolled under a StashDB id, and a Stash performer, local when ``local()``."""
    import uuid

    lib: dict = {"galleries": [], "performers": [], "truth": {}, "reference": {}, "records": {}}
    for name, images in known:
        stash_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"stash-sense-bench/{name}"))
        uid = f"stashdb.org:{stash_id}"
        lib["reference"][uid] = images[:REFERENCE_IMAGES]
        lib["records"][uid] = {"name": name.replace("_", " "),
                               "stash_ids": [{"endpoint": "stashdb.org", "stash_id": stash_id}]}
        lib["performers"].append({"name": name.replace("_", " "), "stash_ids": [stash_id], "local": local()})
    return lib


def _variant(path: Path, uses: dict[Path, int], folder: Path) -> Path:
    """The original the first time, then a new variant each time the same image is used again."""
    from PIL import Image, ImageOps

    count = uses.get(path, 0)
    uses[path] = count + 1
    if count == 0:
        return path
    target = folder / f"{path.stem}_v{count}.jpg"
    if not target.exists():
        with Image.open(path) as image:
            image = ImageOps.mirror(image) if count % 2 else image
            margin = 2 * (count % 5)
            image = image.crop((margin, margin, image.width - margin, image.height - margin))
            image.save(target, "JPEG", quality=90 - (count % 7))
    return target


def seed_stash(folder: Path, lib: dict) -> StashProcess:
    """A demo Stash with the library (fresh database file), served by its own process.

    Its own process, as a real Stash is: in this one, its GraphQL work would take the GIL from
    the job being measured.
    """
    from devtools.demo.seed import seed

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "stash.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    seed(db, lib["galleries"], lib["performers"], stash_boxes=[{"endpoint": ENDPOINT, "name": "StashDB"}],
         api_key=API_KEY)
    return StashProcess(db)


SERVE = """
import sys
from devtools.demo.server import DemoStash
server = DemoStash(sys.argv[1], session="bench", api_key=sys.argv[2])
print(server.start(), flush=True)
sys.stdin.read()
server.stop()
"""


class StashProcess:
    def __init__(self, db: Path):
        import subprocess

        self.process = subprocess.Popen([sys.executable, "-c", SERVE, str(db), API_KEY], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=REPO)
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise RuntimeError("the demo Stash did not start")

    def query(self, query: str) -> dict:
        from stash_sense.stash.client import StashClient

        return StashClient.from_url(self.url, API_KEY).call(query)

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


# --- one measured run ----------------------------------------------------------------------------------


def run_job(server, identifier, data_dir: Path, force: bool = False, adaptive: bool = True) -> dict:
    """The bulk job over the whole library, with the plugin data folder ``data_dir``."""
    from stash_sense.engine.calibration import load_calibration
    from stash_sense.jobs.galleries import run_bulk
    from stash_sense.jobs.options import BulkOptions
    from stash_sense.library.journal import Journal
    from stash_sense.service.inprocess import InProcessService
    from stash_sense.stash.client import StashClient

    os.environ["STASH_SENSE_DATA_DIR"] = str(data_dir)
    logging.getLogger("stash_sense").setLevel(logging.WARNING)  # no per-gallery lines in the bench output
    calibration = load_calibration(identifier.engine.pack)
    options = BulkOptions(force=force, auto=calibration.auto_threshold, review=calibration.review_threshold,
                          pack=identifier.engine.pack.name, adaptive=adaptive)
    client = StashClient.from_url(server.url, API_KEY)
    journal = Journal()
    service = InProcessService(identifier.engine.pack.name, identifier=identifier)
    load_before = loadavg()[0]
    try:
        summary = run_bulk(client, journal, service, options)
    finally:
        journal.close()
    summary["loadavg_before"], summary["loadavg_after"] = load_before, loadavg()[0]
    summary["images_per_s"] = round(summary["images"] / max(summary["seconds"], 1e-9), 2)
    summary["galleries_per_min"] = round(summary["processed"] * 60 / max(summary["seconds"], 1e-9), 1)
    print(f"  {summary['processed']} galleries, {summary['images_per_s']} images/s", file=sys.stderr, flush=True)
    return summary


def precision_recall(server, truth: dict[str, set[str]]) -> dict:
    """Performers on each gallery after the run against the people really in it."""
    found = server.query("{ findGalleries(filter: {per_page: -1}) { galleries { title performers { name } } } }")
    tp = fp = 0
    for gallery in found["findGalleries"]["galleries"]:
        names = {p["name"] for p in gallery["performers"]}
        tp += len(names & truth.get(gallery["title"], set()))
        fp += len(names - truth.get(gallery["title"], set()))
    total = sum(len(t) for t in truth.values())
    return {"tag_precision": round(tp / max(tp + fp, 1), 4), "tag_recall": round(tp / max(total, 1), 4),
            "true_positives": tp, "false_positives": fp, "truth_links": total}


# --- main ----------------------------------------------------------------------------------------------


def measure(lib: dict, threads: int, work: Path, reference: Path, fresh_warm: bool = False) -> dict:
    from stash_sense.engine.database import load_database
    from stash_sense.engine.identify import Identifier
    from stash_sense.engine.pipeline import Engine

    engine = Engine(PACK, threads=threads)
    identifier = Identifier(engine, [load_database(reference, engine.pack)])
    data = work / f"data-{threads}"
    shutil.rmtree(data, ignore_errors=True)
    out = {}
    server = seed_stash(work / f"stash-{threads}", lib)
    try:
        print(f"threads={threads} cold (empty cache, fresh library):", file=sys.stderr, flush=True)
        out["cold"] = run_job(server, identifier, data)
        out["quality"] = precision_recall(server, lib["truth"])
        warm = []
        for repeat in range(WARM_REPEATS):
            print(f"threads={threads} warm {repeat + 1}/{WARM_REPEATS} (cache; same library again, forced):",
                  file=sys.stderr, flush=True)
            warm.append(run_job(server, identifier, data, force=True))
        out["warm"] = sorted(warm, key=lambda r: r["images_per_s"])[len(warm) // 2]  # the median run
        out["warm_images_per_s_runs"] = [r["images_per_s"] for r in warm]
    finally:
        server.stop()
    if fresh_warm:
        server = seed_stash(work / f"stash-{threads}-fresh", lib)
        try:
            for name in ("bulk.sqlite", "journal.sqlite"):  # the cache stays, the rest starts over
                (data / name).unlink(missing_ok=True)
            print(f"threads={threads} warm_fresh (cache; a fresh library: every write again):", file=sys.stderr,
                  flush=True)
            out["warm_fresh"] = run_job(server, identifier, data)
        finally:
            server.stop()
    engine.close()
    return out


def measure_prod_pack(lib: dict, work: Path) -> dict:
    """One cold run (empty cache, fresh library, 2 threads) with the replica pack: what the first run
    over a library costs users of the production pack. Warm runs do no inference, so they do not
    depend on the pack and are not repeated. The replicas' embeddings are noise, so their reference
    database holds noise too (the same people, no image embedded) and their tags mean nothing:
    this run measures time and memory only."""
    import resource

    from stash_sense.engine.database import load_database
    from stash_sense.engine.identify import Identifier
    from stash_sense.engine.pipeline import Engine

    engine = Engine(PROD_PACK, threads=2)
    reference = noise_reference(lib, engine.pack, work / "reference-prod-pack")
    identifier = Identifier(engine, [load_database(reference, engine.pack)])
    data = work / "data-prod-pack"
    shutil.rmtree(data, ignore_errors=True)
    server = seed_stash(work / "stash-prod-pack", lib)
    try:
        print(f"{PROD_PACK} cold (empty cache, fresh library, 2 threads):", file=sys.stderr, flush=True)
        cold = run_job(server, identifier, data)
    finally:
        server.stop()
        engine.close()
    return {"cold": cold, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def noise_reference(lib: dict, pack, out: Path) -> Path:
    """``lib``'s reference people with random unit vectors as their faces (``REFERENCE_IMAGES`` each)."""
    import numpy as np

    from stash_sense.engine.builder import add_faces

    rng = np.random.default_rng(16)

    def unit(dim: int) -> np.ndarray:
        vector = rng.standard_normal(dim).astype(np.float32)
        return vector / np.linalg.norm(vector)

    chosen = {uid: [{e.name: unit(e.dim) for e in pack.embedders} for _ in images]
              for uid, images in lib["reference"].items()}
    add_faces(pack, out, chosen, lib["records"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 galleries, 2 threads (checks the bench works)")
    parser.add_argument("--galleries", type=int, default=None)
    parser.add_argument("--threads", type=int, nargs="+", default=None)
    add_packs_argument(parser)
    args = parser.parse_args(argv)
    packs = pack_names(args.packs)
    galleries = args.galleries or (30 if args.quick else 200)
    threads = args.threads or ([2] if args.quick else [1, 2])
    with tempfile.TemporaryDirectory(prefix="stash-sense-bulk-bench-") as tmp:
        work = Path(tmp)
        lib = build_library(galleries, work / "images")
        runs, prod = {}, None
        if PACK in packs:
            reference = build_reference(lib, work / "reference")
            runs = {t: measure(lib, t, work, reference, fresh_warm=t == max(threads)) for t in threads}
        if PROD_PACK in packs:
            prod = measure_prod_pack(lib, work)
    result = {**(summarise(lib, runs, args.quick) if runs else {}), **(prod_pack_keys(lib, prod) if prod else {})}
    folder = QUICK_RESULTS if args.quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("bulk.quick.json" if args.quick else "bulk.json")
    if path.exists():  # bench.adaptive_bench writes its *_adaptive / *_fixed keys into the same file
        kept = json.loads(path.read_text())
        mine = set(result)
        result.update({k: v for k, v in kept.items() if k not in mine and (not runs or _foreign(k))})
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=2))
    print(f"written to {path}", file=sys.stderr)
    return 0


def build_reference(lib: dict, out: Path) -> Path:
    from stash_sense.engine.builder import build_database
    from stash_sense.engine.pipeline import Engine

    engine = Engine(PACK, threads=2)
    try:
        build_database(engine, lib["reference"], lib["records"], out, version="bench")
    finally:
        engine.close()
    return out


def _foreign(key: str) -> bool:
    """Keys another run owns in bulk.json: adaptive_bench's, and the replica pack's."""
    return key.endswith(("_adaptive", "_fixed", "_prod_pack")) or "adaptive" in key or "prod_pack" in key


def prod_pack_keys(lib: dict, prod: dict) -> dict:
    cold = prod["cold"]
    return {"images_per_s_cold_prod_pack": cold["images_per_s"],
            "galleries_per_min_cold_prod_pack": cold["galleries_per_min"],
            "seconds_per_image_cold_prod_pack": round(cold["seconds"] / max(cold["images"], 1), 4),
            "peak_rss_mb_prod_pack": prod["peak_rss_mb"],
            "prod_pack": {"pack": PROD_PACK, "galleries": len(lib["galleries"]), "threads": 2, **prod,
                          "under_load": under_load([cold["loadavg_before"]], [cold["loadavg_after"]]),
                          "note": "random-weight replicas: time and memory only; the reference database is "
                                  "noise, so the tags this run wrote mean nothing"}}


def summarise(lib: dict, runs: dict, quick: bool) -> dict:
    main_threads = max(runs)
    best = runs[main_threads]
    cold, warm = best["cold"], best["warm"]
    images = sum(len(g["images"]) for g in lib["galleries"])
    return {
        "galleries": len(lib["galleries"]), "images": images, "pack": PACK, "threads": main_threads,
        "images_per_s_cold": cold["images_per_s"], "images_per_s_warm": warm["images_per_s"],
        "warm_speedup": round(warm["images_per_s"] / max(cold["images_per_s"], 1e-9), 1),
        "galleries_per_min_cold": cold["galleries_per_min"], "galleries_per_min_warm": warm["galleries_per_min"],
        "images_per_s_warm_fresh_library": best.get("warm_fresh", {}).get("images_per_s"),
        **{f"images_per_s_cold_{t}_threads": r["cold"]["images_per_s"] for t, r in runs.items()},
        **{f"images_per_s_warm_{t}_threads": r["warm"]["images_per_s"] for t, r in runs.items()},
        "tag_precision": best["quality"]["tag_precision"], "tag_recall": best["quality"]["tag_recall"],
        "quick": quick, "cores": os.cpu_count(), "loadavg": [round(v, 2) for v in os.getloadavg()],
        "runs": {f"threads_{t}": r for t, r in runs.items()},
    }


if __name__ == "__main__":
    sys.exit(main())
