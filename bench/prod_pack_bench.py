"""What users will see: the engine with the production-shaped pack (issue 16).

The pack is ``stash-sense-v1-replica`` (bench/replicas.py): FaceNet512 and ArcFace replicas with
RANDOM WEIGHTS, the real layers and shapes. They measure TIME AND MEMORY ONLY; every accuracy
figure here (``accuracy_change_points``, ``mirror_skipped_fraction``) comes from the real test
pack on real faces (``python -m devtools eval`` on the LFW eval split, full mirroring against
``--mirror-band 2.0``), read from the two JSON files that command wrote.

Measured, on the replicas: end-to-end images/s on full-size photos (deepface_testset, 1-2 MP) and
LFW thumbnails, full mirroring and mirror on demand (the replicas' matches are noise, so their
gate mirrors exactly the fraction of faces the real gate mirrored on LFW, chosen evenly); the 2-core
compute bound (single-thread cost of detection and embedding per image, summed, divided by the
threads); peak RSS of the process. Modes run interleaved, ``--repeats`` times, and the fastest run
of each is kept (on a shared machine the least disturbed one); every run's figure and the load
average are recorded. Not a test.

    python -m bench.prod_pack_bench --eval-full bench/cache/mirror/eval_none.json \\
        --eval-gated bench/cache/mirror/eval_2.0.json

Memory (issue 16): each pack (test-mbf128 and the replicas) in each memory mode runs in a fresh
process of its own (``CHILD``: the engine decodes the files itself, as in production; warm-up,
then the photos and the thumbnails) and reports its peak RSS, its RSS once loaded and at the end,
wall and CPU seconds. ``--baseline-root DIR`` (a checkout of the code before a change, e.g.
``git archive <commit> | tar -x -C DIR``) runs the same child on that code, interleaved with this
code's, so a change's memory and speed are compared under the same load. ``--memory-only`` runs
just this part and merges its keys into the existing JSON:

    python -m bench.replicas && nice -n 10 python -m bench.prod_pack_bench --memory-only \\
        --baseline-root /tmp/stash-sense-base --memory-repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import CHILD_MEMORY_PROBE, LFW, PHOTOS, REPO, RESULTS, TEST_PACK
from bench.replicas import REPLICA_NOTE, build, replica_pack
from stash_sense.engine import Engine, load_rgb


def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def timed(engine: Engine, images: list) -> dict:
    load = loadavg()
    started = time.perf_counter()
    results = engine.analyze(images)
    seconds = time.perf_counter() - started
    faces = sum(len(r.usable_faces) for r in results)
    return {"images_per_s": round(len(images) / seconds, 2), "images": len(images), "faces": faces,
            "seconds": round(seconds, 2), "loadavg_before": load, "loadavg_after": loadavg()}


class FractionGate:
    """Mirrors ``fraction`` of the faces, evenly spread: the measured real gate's rate, on noise."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.credit = 0.0

    def __call__(self, embeddings: dict[str, np.ndarray]) -> np.ndarray:
        need = np.zeros(len(next(iter(embeddings.values()))), bool)
        for i in range(len(need)):
            self.credit += self.fraction
            if self.credit >= 1.0:
                need[i], self.credit = True, self.credit - 1.0
        return need


def compute_bound(images: list[np.ndarray], pack) -> float:
    """Images/s if two threads were perfectly busy: single-thread detection + embedding per image."""
    engine = Engine(pack, threads=1, keep_crops=True)
    try:
        engine.analyze(images[:2])
        started = time.perf_counter()
        results = [engine._detect_one(image, "x") for image in images]
        detect = time.perf_counter() - started
        crops = [f.crop for r in results for f in r.faces if f.crop is not None]
        started = time.perf_counter()
        for embedder in engine.embedders.values():
            embedder.embed(crops)
        embed = time.perf_counter() - started
    finally:
        engine.close()
    return round(2 * len(images) / (detect + embed), 2)


# One engine run in a process of its own; argv: pack (name or pack file), photos, thumbnails. Only
# the engine API that every version has, so a baseline checkout runs it too.
CHILD = CHILD_MEMORY_PROBE + r"""
pack, photos, thumbs = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
engine = Engine(load_pack_file(Path(pack)) if pack.endswith(".json") else pack, threads=2)
out = {"rss_loaded_mb": round(rss(), 1)}
engine.analyze(photos[:2] + thumbs[:2])
for name, images in (("full_size", photos), ("lfw", thumbs)):
    load, wall, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
    engine.analyze(images)
    out[name] = {"images_per_s": round(len(images) / (time.perf_counter() - wall), 2),
                 "cpu_s_per_image": round((time.process_time() - cpu) / len(images), 3),
                 "loadavg_before": round(load, 2)}
out["rss_end_mb"] = round(rss(), 1)
out["peak_rss_mb"] = round(status_mb("VmHWM"), 1)
print(json.dumps(out))
"""
MEMORY_MODES = ("full", "low")


def memory_run(root: Path, pack: str, memory: str, photos: list[str], thumbs: list[str]) -> dict:
    """CHILD on the code at ``root`` with ``STASH_SENSE_MEMORY=memory``: its own peak, nobody else's."""
    env = {**os.environ, "STASH_SENSE_MEMORY": memory, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", CHILD, pack, json.dumps(photos), json.dumps(thumbs)],
                          cwd=root, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_section(args: argparse.Namespace) -> dict:
    """Peak RSS per pack and memory mode, this code and (optionally) a baseline, interleaved."""
    photos = [str(p) for p in sorted(PHOTOS.glob("person*/*.jpg"))[:args.photos]]
    thumbs = [str(p) for p in sorted(LFW.glob("*/*.jpg"))[::97][:args.thumbnails]]
    packs = {"test_pack": TEST_PACK, "replica": str(build())}
    roots = {"": REPO, "_baseline": args.baseline_root} if args.baseline_root else {"": REPO}
    runs: dict[str, list[dict]] = {}
    for _ in range(args.memory_repeats):
        for pack_key, pack in packs.items():
            for code, root in roots.items():
                for memory in MEMORY_MODES:
                    runs.setdefault(f"{pack_key}_{memory}{code}", []).append(
                        memory_run(root, pack, memory, photos, thumbs))
    out: dict = {"memory_runs": runs, "memory_photos": len(photos), "memory_thumbnails": len(thumbs)}
    for key, measured in runs.items():  # memory is the same run to run; the worst peak is kept
        out[f"peak_rss_mb_{key}"] = max(m["peak_rss_mb"] for m in measured)
    out["peak_rss_mb"] = out["peak_rss_mb_replica_full"]  # the key: what users of the real pack see
    out["peak_rss_mb_test_pack"] = out["peak_rss_mb_test_pack_full"]
    out["peak_rss_mb_low_memory"] = out["peak_rss_mb_replica_low"]
    out["peak_rss_mb_test_pack_low_memory"] = out["peak_rss_mb_test_pack_low"]
    out["memory_note"] = ("peak RSS of a fresh engine process (models, onnxruntime buffers, decoding) analysing "
                          "the photos then the thumbnails from their files; speeds measured under load, "
                          "cpu_s_per_image is the load-robust comparison")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--thumbnails", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eval-full", type=Path)
    parser.add_argument("--eval-gated", type=Path)
    parser.add_argument("--memory-only", action="store_true", help="only the memory section, merged into the JSON")
    parser.add_argument("--memory-repeats", type=int, default=1)
    parser.add_argument("--baseline-root", type=Path, help="a checkout of older code to compare with")
    args = parser.parse_args(argv)
    if args.memory_only:
        return write({**json.loads((RESULTS / "prod_pack.json").read_text()), **memory_section(args),
                      "loadavg_end_memory": loadavg()})
    if not (args.eval_full and args.eval_gated):
        parser.error("--eval-full and --eval-gated are needed unless --memory-only")
    full_eval, gated_eval = json.loads(args.eval_full.read_text()), json.loads(args.eval_gated.read_text())
    skipped = gated_eval["mirror_skipped_fraction"]
    pack = replica_pack()
    photos = [load_rgb(p) for p in sorted(PHOTOS.glob("person*/*.jpg"))[:args.photos]]
    thumbs = [load_rgb(p) for p in sorted(LFW.glob("*/*.jpg"))[::97][:args.thumbnails]]
    engine = Engine(pack, threads=2)
    out: dict = {"pack": pack.name, "note": REPLICA_NOTE, "threads": 2, "cores": os.cpu_count()}
    try:
        engine.analyze(photos[:2] + thumbs[:2])  # warm-up
        runs: dict[str, list[dict]] = {}
        for _ in range(args.repeats):  # interleaved, so a burst of load hits every mode alike
            for mode, gate in (("", None), ("_mirror_on_demand", FractionGate(1.0 - skipped))):
                engine.mirror_gate = gate
                for name, images in (("full_size", photos), ("lfw", thumbs)):
                    runs.setdefault(name + mode, []).append(timed(engine, images))
        for name, timings in runs.items():  # the least disturbed run of each mode
            out[name] = {**max(timings, key=lambda t: t["images_per_s"]),
                         "images_per_s_runs": [t["images_per_s"] for t in timings]}
    finally:
        engine.close()
    out["peak_rss_mb_in_bench_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out.update(memory_section(args))
    out["images_per_s_full_size"] = out["full_size"]["images_per_s"]
    out["images_per_s_lfw"] = out["lfw"]["images_per_s"]
    out["images_per_s_full_size_compute_bound"] = compute_bound(photos, pack)
    out["speedup_mirror_on_demand"] = round(out["full_size_mirror_on_demand"]["images_per_s"]
                                            / out["images_per_s_full_size"], 2)
    out["speedup_mirror_on_demand_lfw"] = round(out["lfw_mirror_on_demand"]["images_per_s"]
                                                / out["images_per_s_lfw"], 2)
    out["mirror_skipped_fraction"] = skipped
    keys = ("face_rank1", "open_set_false_tag_rate", "gallery_precision", "gallery_recall")
    out["accuracy_change_points"] = round(max(abs(gated_eval[k] - full_eval[k]) * 100 for k in keys), 2)
    out["accuracy"] = {"full_mirroring": {k: full_eval[k] for k in keys},
                       "mirror_on_demand": {k: gated_eval[k] for k in keys}, "pack": "test-mbf128",
                       "split": "LFW eval split (bench/lfw_splits.py)"}
    out["loadavg_end"] = loadavg()
    return write(out)


def write(out: dict) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "prod_pack.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
