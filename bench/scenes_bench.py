"""Scenes benchmark: seconds per scene for 60 frames, persons found, time-range accuracy.

Videos are built from real LFW photos (bench/scene_videos.py) at 1280x720 (and 1920x1080): 2-3
identities per scene at known times, a stretch with nobody, 24 fps, MPEG-4 Part 2 (the only fast
encoder in OpenCV's wheel) with the sync table thinned to one keyframe per 10 s, so every seek
decodes forward from a keyframe like in an x264 file (keyint 250). The reference database holds
*other* photos of the scene identities plus distractor identities.

    .venv/bin/python -m bench.scenes_bench            # full: 4 scenes of 2 min at 720p + 1 at 1080p, 3 repeats
    .venv/bin/python -m bench.scenes_bench --quick    # 2 short scenes at 720p, 1 repeat (smoke run)

(``STASH_SENSE_MODEL_DIR=../shared/models``; ``make`` exports it.) Videos and the database are
cached in bench/cache/scenes/. Writes bench/results/scenes.json (``--out``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime

from bench.common import LFW
from bench.scene_videos import Appearance, SceneSpec, range_iou, write_scene
from stash_sense.engine import Engine
from stash_sense.engine.builder import build_database
from stash_sense.engine.database import load_database
from stash_sense.engine.identify import Identifier
from stash_sense.engine.scenes import SceneResult, identify_scene
from stash_sense.engine.video import sample_frames

HERE = Path(__file__).resolve().parent

CACHE = HERE / "cache" / "scenes"
PACK = "test-mbf128"
ENROLL_PHOTOS = 5  # photos 0-4 of a scene identity go to the database, 5+ into the videos
DISTRACTORS = 80


def identity_pool() -> tuple[list[str], list[str]]:
    """Scene identities (>= 10 photos) and distractors (4-9 photos), sorted, disjoint."""
    counts = {d.name: len(list(d.glob("*.jpg"))) for d in LFW.iterdir() if d.is_dir()}
    scene = sorted(n for n, c in counts.items() if c >= 10)
    distractors = sorted(n for n, c in counts.items() if 4 <= c < 10)
    return scene, distractors[::max(1, len(distractors) // DISTRACTORS)][:DISTRACTORS]


def photos(name: str) -> list[Path]:
    return sorted((LFW / name).glob("*.jpg"))


def scene_spec(index: int, size: tuple[int, int], duration: float, pool: list[str]) -> SceneSpec:
    """2-3 identities, each on screen in 1-2 stretches, and 10-20% of the scene with nobody."""
    rng = np.random.default_rng(1000 + index)
    people = [pool[i] for i in rng.choice(len(pool), size=int(rng.integers(2, 4)), replace=False)]
    empty_from = duration * rng.uniform(0.8, 0.9)
    appearances = []
    for slot, name in enumerate(people):
        for _ in range(int(rng.integers(1, 3))):
            start = float(rng.uniform(0, empty_from * 0.7))
            end = float(min(empty_from, start + rng.uniform(0.15, 0.45) * duration))
            appearances.append(Appearance(name, round(start, 2), round(end, 2), photos(name)[ENROLL_PHOTOS:], slot))
    return SceneSpec(size=size, duration=duration, fps=24, appearances=appearances, slots=3,
                     shot_seconds=3.0, face_fraction=0.45, sync_every=20, seed=index)


def cached_video(spec: SceneSpec, tag: str) -> Path:
    key = hashlib.sha1(repr(spec).encode()).hexdigest()[:12]
    path = CACHE / f"{tag}-{key}.mp4"
    if not path.exists():
        write_scene(spec, path.with_suffix(f".{os.getpid()}.tmp.mp4")).rename(path)
    return path


def reference_database(engine: Engine, scene_ids: list[str], distractors: list[str]) -> Identifier:
    identities = {f"lfw:{n}": photos(n)[:ENROLL_PHOTOS] for n in scene_ids}
    identities |= {f"lfw:{n}": photos(n)[:2] for n in distractors}
    key = hashlib.sha1(json.dumps(sorted(identities)).encode()).hexdigest()[:12]
    folder = CACHE / f"db-{PACK}-{key}"
    if not (folder / "manifest.json").exists():
        build_database(engine, identities, {}, folder)
    return Identifier(engine, [load_database(folder, engine.pack)])


def score(result: SceneResult, spec: SceneSpec) -> dict:
    """Truth persons found with the right performer (review band or better), their range IoU,
    and persons named (review or better) who are not in the scene."""
    truth = spec.truth()
    named: dict[str, list] = {}
    for person in result.to_dict()["persons"]:
        if person["identified"] and person["identified"]["band"] != "low":
            named.setdefault(person["identified"]["id"].removeprefix("lfw:"), []).extend(person["time_ranges"])
    ious = {name: range_iou(named[name], ranges) for name, ranges in truth.items() if name in named}
    return {"truth": len(truth), "correct": len(ious), "false": len(set(named) - set(truth)),
            "ious": list(ious.values())}


def run_resolution(identifier: Identifier, specs: list[SceneSpec], tag: str, frames: int, repeats: int) -> dict:
    """Wall and CPU seconds per scene (median over repeats, then over scenes) and accuracy."""
    wall, cpu, sampling_wall, sampling_cpu, scores = [], [], [], [], []
    for spec in specs:
        path = cached_video(spec, tag)
        runs = [_timed(identify_scene, identifier, path, frames=frames) for _ in range(repeats)]
        wall.append(statistics.median(r[1] for r in runs))
        cpu.append(statistics.median(r[2] for r in runs))
        sampled = [_timed(sample_frames, path, frames, workers=identifier.engine.threads) for _ in range(repeats)]
        sampling_wall.append(statistics.median(r[1] for r in sampled))
        sampling_cpu.append(statistics.median(r[2] for r in sampled))
        scores.append(score(runs[-1][0], spec))
    truth = sum(s["truth"] for s in scores)
    ious = [iou for s in scores for iou in s["ious"]]
    return {"scenes": len(specs), "scene_seconds": specs[0].duration,
            "seconds_per_scene": round(statistics.median(wall), 3),
            "seconds_per_scene_each": [round(s, 3) for s in wall],
            "cpu_seconds_per_scene": round(statistics.median(cpu), 3),
            "sampling_seconds_per_scene": round(statistics.median(sampling_wall), 3),
            "sampling_cpu_seconds_per_scene": round(statistics.median(sampling_cpu), 3),
            "persons_correct_fraction": round(sum(s["correct"] for s in scores) / truth, 4),
            "false_persons": sum(s["false"] for s in scores), "truth_persons": truth,
            "time_range_iou": round(float(np.mean(ious)) if ious else 0.0, 4),
            "time_range_iou_min": round(float(np.min(ious)) if ious else 0.0, 4)}


def _timed(call, *args, **kwargs) -> tuple:
    """(result, wall seconds, CPU seconds of this process: all threads, so contention-robust)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 scenes of 30 s at 720p, 1 repeat")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--det-size", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scene-seconds", type=float, default=120.0, help="length of each built scene")
    parser.add_argument("--scenes", type=int, default=4, help="scenes at 1280x720 (plus 1 at 1920x1080)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scenes.json")
    args = parser.parse_args()
    scenes, duration, repeats = (2, 30.0, 1) if args.quick else (args.scenes, args.scene_seconds, args.repeats)
    resolutions = {"1280x720": scenes} if args.quick else {"1280x720": scenes, "1920x1080": 1}
    pool, distractors = identity_pool()
    load_before = os.getloadavg()
    engine = Engine(PACK, threads=args.threads, det_size=args.det_size)
    all_specs = {res: [scene_spec(i, tuple(map(int, res.split("x"))), duration, pool) for i in range(n)]
                 for res, n in resolutions.items()}
    used = sorted({a.identity for specs in all_specs.values() for s in specs for a in s.appearances})
    identifier = reference_database(engine, used, [d for d in distractors if d not in used])
    identify_scene(identifier, cached_video(all_specs["1280x720"][0], "1280x720"), frames=8)  # warm up
    by_resolution = {res: run_resolution(identifier, specs, res, args.frames, repeats)
                     for res, specs in all_specs.items()}
    main_run = by_resolution["1280x720"]
    report = {
        f"seconds_per_scene_{args.frames}_frames": main_run["seconds_per_scene"],
        f"cpu_seconds_per_scene_{args.frames}_frames": main_run["cpu_seconds_per_scene"],
        "persons_correct_fraction": main_run["persons_correct_fraction"],
        "time_range_iou": main_run["time_range_iou"],
        "video_resolution": "1280x720", "by_resolution": by_resolution,
        "frames": args.frames, "repeats": repeats, "statistic": "median over repeats, then over scenes",
        "quick": args.quick, "pack": PACK, "det_size": args.det_size, "threads": args.threads,
        "scene_seconds": duration, "video": {"codec": "mpeg4 (mp4v)", "fps": 24, "keyframe_interval_s": 10},
        "note": "wall seconds depend on load; cpu seconds / threads is the wall time on an idle machine",
        "database": {"identities": len(used) + len(distractors), "scene_identities": len(used)},
        "machine": {"cores": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()],
                    "python": platform.python_version(), "opencv": cv2.__version__,
                    "onnxruntime": onnxruntime.__version__},
    }
    engine.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
