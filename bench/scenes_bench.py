"""Scenes benchmark: seconds per scene for 60 frames (sampling vs inference), persons found, ranges.

Parts (``--parts``, all by default):

- ``short``: 2-minute scenes built from real LFW photos (bench/scene_videos.py) at 1280x720 (and
  one at 1920x1080), 2-3 identities at known times, 24 fps MPEG-4 Part 2 with the sync table
  thinned to a keyframe every 10 s (OpenCV's writer);
- ``long``: 20/30/40-minute 1080p H.264 scenes (x264 ``superfast``, default keyint 250) and a
  20-minute 4K HEVC scene (x265 ``ultrafast``, keyint 250), encoded by Debian's ffmpeg from real
  faces (bench/long_scenes.py: distinct shots encoded once, joined by stream copy);
- ``prod``: the long scenes again with the production-shaped replica pack (bench/replicas.py;
  random weights: time and memory only, never accuracy);
- ``passes``: inference time and accuracy with the detector's second passes on faceless frames
  as the engine does now (``probe``), on every faceless frame (``always``, before) and never (``off``);
- ``degraded``: 60 s scenes of motion-blurred, dark+noisy, 60-degree-tilted and small (~30 px)
  faces -> ``persons_correct_fraction_degraded`` (per kind and policy).

The reference database holds *other* photos of the scene identities plus distractor identities.

    python -m bench.scenes_bench            # everything (~1 h on a quiet 2-core machine, videos cached)
    python -m bench.scenes_bench --quick    # smoke run: short scenes, first long scene per set -> bench/cache/

(``STASH_SENSE_MODEL_DIR=../shared/models``; ``make`` exports it.) Needs ``ffmpeg`` (Debian's, with
libx264 and libx265). Videos and databases are cached in bench/cache/scenes/. Writes
bench/results/scenes.json (``--out``; ``--merge`` updates only the parts run).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import time
from dataclasses import astuple, replace
from pathlib import Path

import cv2
import numpy as np
import onnxruntime

from bench.common import LFW, QUICK_RESULTS
from bench.long_scenes import LongScene, build, file_facts, plan
from bench.replicas import REPLICA_NOTE, replica_pack
from bench.scene_videos import Appearance, Encoding, SceneSpec, range_iou, write_scene
from stash_sense.engine import Engine
from stash_sense.engine.builder import build_database
from stash_sense.engine.database import load_database
from stash_sense.engine.identify import Identifier
from stash_sense.engine.scenes import ScenePerson, SceneResult, analyze_frames, frame_name, identify_scene, time_ranges
from stash_sense.engine.video import sample_frames

HERE = Path(__file__).resolve().parent

CACHE = HERE / "cache" / "scenes"
PACK = "test-mbf128"
REPLICA = "stash-sense-v1-replica"
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


# Long scenes: (tag, size, minutes of each scene, encoding); see bench/long_scenes.py.
LONG_SETS = {
    "1080p_h264_long": ("1920x1080-h264", (1920, 1080), (20, 30, 40), Encoding("libx264", "superfast")),
    "4k_hevc_long": ("3840x2160-hevc", (3840, 2160), (20,), Encoding("libx265", "ultrafast")),
}


def long_scenes(name: str, pool: list[str], quick: bool = False) -> list[LongScene]:
    """The long scenes of one set (``--quick``: the first one only)."""
    tag, size, minutes, encoding = LONG_SETS[name]
    base = 100 * (1 + list(LONG_SETS).index(name))  # other people in each set
    scenes = [plan(base + i, tag, size, m, encoding, pool, lambda n: photos(n)[ENROLL_PHOTOS:])
              for i, m in enumerate(minutes)]
    return scenes[:1] if quick else scenes


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
    folder = CACHE / f"db-{engine.pack.name}-{key}"
    if not (folder / "manifest.json").exists():
        build_database(engine, identities, {}, folder)
    return Identifier(engine, [load_database(folder, engine.pack)])


def score(result: SceneResult, truth: dict[str, list[tuple[float, float]]]) -> dict:
    """Truth persons found with the right performer (review band or better), their range IoU,
    and persons named (review or better) who are not in the scene."""
    named: dict[str, list] = {}
    for person in result.to_dict()["persons"]:
        if person["identified"] and person["identified"]["band"] != "low":
            named.setdefault(person["identified"]["id"].removeprefix("lfw:"), []).extend(person["time_ranges"])
    ious = {name: range_iou(named[name], ranges) for name, ranges in truth.items() if name in named}
    return {"truth": len(truth), "correct": len(ious), "false": len(set(named) - set(truth)),
            "ious": list(ious.values())}


def run_scenes(identifier: Identifier, videos: list[tuple[Path, dict]], frames: int, repeats: int,
               accuracy: bool = True) -> dict:
    """Wall and CPU seconds per scene, split into sampling (seek + decode) and inference
    (detection, embedding, matching), median over repeats then over scenes; and accuracy."""
    runs_by_scene = [[_timed(identify_scene, identifier, path, frames=frames) for _ in range(repeats)]
                     for path, _ in videos]

    def median_of(pick) -> float:
        return round(statistics.median(statistics.median(pick(r) for r in runs) for runs in runs_by_scene), 3)

    out = {"scenes": len(videos),
           "seconds_per_scene": median_of(lambda r: r[1]),
           "seconds_per_scene_each": [round(statistics.median(r[1] for r in runs), 3) for runs in runs_by_scene],
           "cpu_seconds_per_scene": median_of(lambda r: r[2]),
           "sampling_seconds_per_scene": median_of(lambda r: r[0].seconds["sampling"]),
           "inference_seconds_per_scene": median_of(lambda r: r[0].seconds["inference"]),
           "sampling_cpu_seconds_per_scene": median_of(lambda r: r[0].seconds["sampling_cpu"]),
           "inference_cpu_seconds_per_scene": median_of(lambda r: r[0].seconds["inference_cpu"]),
           "frames_read": [len(runs[-1][0].sampling.frames) for runs in runs_by_scene]}
    if accuracy:
        out |= accuracy_of([score(runs[-1][0], truth) for runs, (_, truth) in zip(runs_by_scene, videos)])
    return out


def accuracy_of(scores: list[dict]) -> dict:
    truth = sum(s["truth"] for s in scores)
    ious = [iou for s in scores for iou in s["ious"]]
    return {"persons_correct_fraction": round(sum(s["correct"] for s in scores) / truth, 4),
            "false_persons": sum(s["false"] for s in scores), "truth_persons": truth,
            "time_range_iou": round(float(np.mean(ious)) if ious else 0.0, 4),
            "time_range_iou_min": round(float(np.min(ious)) if ious else 0.0, 4)}


def _timed(call, *args, **kwargs) -> tuple:
    """(result, wall seconds, CPU seconds of this process: all threads, so contention-robust)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


# --- second detector passes on scene frames (issue 17.4) -------------------------------------------

POLICIES = ("probe", "always", "off")  # probe: engine.scenes.analyze_frames (default); always: every
# faceless frame gets the second passes (before); off: never


def policy_run(identifier: Identifier, path: Path, frames: int, policy: str) -> tuple[SceneResult, float, float]:
    """The scene identified with one second-pass policy: (result, inference wall s, inference CPU s)."""
    sampling = sample_frames(path, frames, workers=identifier.engine.threads)
    images = [f.image for f in sampling.frames]
    names = [frame_name(f.time) for f in sampling.frames]
    wall, cpu = time.perf_counter(), time.process_time()
    if policy == "probe":
        analysed = analyze_frames(identifier.engine, images, names)
    else:
        analysed = list(identifier.engine.analyze_iter(images, names=names, search_faceless=policy == "always"))
    group = identifier.identify_results(analysed)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    by_name = dict(zip(names, sampling.frames))
    samples = [f.time for f in sampling.frames]
    persons = [ScenePerson(p, time_ranges(samples, [by_name[f.image].time for f in p.faces if f.image in by_name],
                                          sampling.info.duration), {}) for p in group.persons]
    return SceneResult(sampling, group, persons), wall, cpu


def compare_policies(identifier: Identifier, videos: list[tuple[Path, dict]], frames: int) -> dict:
    """Inference seconds per scene (wall and CPU) and accuracy for each second-pass policy,
    interleaved per scene so a burst of load hits every policy alike."""
    found: dict[str, list] = {p: [] for p in POLICIES}
    for path, truth in videos:
        for policy in POLICIES:
            result, wall, cpu = policy_run(identifier, path, frames, policy)
            faceless = sum(1 for r in result.group.images if r.error is None and not r.usable_faces)
            found[policy].append((wall, cpu, score(result, truth), faceless))
    return {policy: {"inference_seconds_per_scene": round(statistics.median(r[0] for r in rows), 3),
                     "inference_cpu_seconds_per_scene": round(statistics.median(r[1] for r in rows), 3),
                     "faceless_frames_per_scene": round(statistics.mean(r[3] for r in rows), 1),
                     **accuracy_of([r[2] for r in rows])} for policy, rows in found.items()}


# --- degraded scene frames (issue 17.4) ---------------------------------------------------------------

DEGRADED_KINDS = {  # kind: (frame size, face tile as a fraction of the frame height)
    "motion_blur": ((1280, 720), 0.35), "dark": ((1280, 720), 0.35), "tilt": ((1280, 720), 0.35),
    "small_faces": ((1920, 1080), 0.1)}  # 108 px tiles: faces ~30 px once frames are cut to 1280 wide


def degraded_spec(kind: str, index: int, pool: list[str], duration: float) -> SceneSpec:
    size, fraction = DEGRADED_KINDS[kind]
    spec = scene_spec(300 + index, size, duration, pool)
    return replace(spec, fps=12, sync_every=1, face_fraction=fraction,
                   degrade="" if kind == "small_faces" else kind)


# --- long scenes -------------------------------------------------------------------------------------

def long_videos(name: str, pool: list[str], quick: bool) -> tuple[list[tuple[Path, dict]], list[dict]]:
    """(path, truth) of each long scene of the set, built on first use, and each file's facts."""
    scenes = long_scenes(name, pool, quick)
    paths = [build(scene, CACHE) for scene in scenes]
    return [(p, s.truth()) for p, s in zip(paths, scenes)], [file_facts(p) for p in paths]


def replica_identifier(pool_ids: list[str]) -> Identifier:
    """The production-shaped replica pack (bench/replicas.py) with a database of the scene
    identities: its matches are noise, only its time counts."""
    engine = Engine(replica_pack(), threads=ARGS_THREADS)
    return reference_database(engine, pool_ids, [])


ARGS_THREADS = 2


def main() -> None:
    global ARGS_THREADS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="2 scenes of 30 s at 720p, the first long scene of each set, 1 repeat; "
                             "writes bench/cache/scenes.quick.json")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--det-size", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-repeats", type=int, default=2)
    parser.add_argument("--scene-seconds", type=float, default=120.0, help="length of each short scene")
    parser.add_argument("--scenes", type=int, default=4, help="short scenes at 1280x720 (plus 1 at 1920x1080)")
    parser.add_argument("--parts", default="short,long,prod,passes,degraded",
                        help="comma-separated: short, long, prod (replica pack), passes, degraded")
    parser.add_argument("--degraded-scenes", type=int, default=2, help="degraded scenes per kind")
    parser.add_argument("--degraded-seconds", type=float, default=20.0, help="length of each degraded scene")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--merge", action="store_true", help="update the parts run in an existing --out file")
    args = parser.parse_args()
    ARGS_THREADS = args.threads
    parts = set(args.parts.split(","))
    out_path = args.out or (QUICK_RESULTS / "scenes.quick.json" if args.quick else HERE / "results" / "scenes.json")
    scenes, duration, repeats = (2, 30.0, 1) if args.quick else (args.scenes, args.scene_seconds, args.repeats)
    long_repeats = 1 if args.quick else args.long_repeats
    resolutions = {"1280x720": scenes} if args.quick else {"1280x720": scenes, "1920x1080": 1}
    pool, distractors = identity_pool()
    load_before = os.getloadavg()
    all_specs = {res: [scene_spec(i, tuple(map(int, res.split("x"))), duration, pool) for i in range(n)]
                 for res, n in resolutions.items()}
    per_kind, degraded_seconds = (1, 20.0) if args.quick else (args.degraded_scenes, args.degraded_seconds)
    degraded = {kind: [degraded_spec(kind, i, pool, degraded_seconds) for i in range(per_kind)]
                for kind in DEGRADED_KINDS}
    long_sets = {name: long_videos(name, pool, args.quick) for name in LONG_SETS if parts & {"long", "prod", "passes"}}
    used = sorted({a.identity for specs in [*all_specs.values(), *degraded.values()] for s in specs
                   for a in s.appearances} | {n for videos, _ in long_sets.values() for _, t in videos for n in t})
    engine = Engine(PACK, threads=args.threads, det_size=args.det_size)
    identifier = reference_database(engine, used, [d for d in distractors if d not in used])
    identify_scene(identifier, cached_video(all_specs["1280x720"][0], "1280x720"), frames=8)  # warm up
    report: dict = {"pack": PACK, "quick": args.quick, "frames": args.frames, "threads": args.threads,
                    "det_size": args.det_size, "statistic": "median over repeats, then over scenes"}
    if "short" in parts:
        by_resolution = {res: {"scene_seconds": duration,
                               **run_scenes(identifier, [(cached_video(s, res), s.truth()) for s in specs],
                                            args.frames, repeats)}
                         for res, specs in all_specs.items()}
        main_run = by_resolution["1280x720"]
        report |= {f"seconds_per_scene_{args.frames}_frames": main_run["seconds_per_scene"],
                   f"cpu_seconds_per_scene_{args.frames}_frames": main_run["cpu_seconds_per_scene"],
                   "persons_correct_fraction": main_run["persons_correct_fraction"],
                   "time_range_iou": main_run["time_range_iou"], "video_resolution": "1280x720",
                   "by_resolution": by_resolution, "repeats": repeats, "scene_seconds": duration,
                   "video": {"codec": "mpeg4 (mp4v)", "fps": 24, "keyframe_interval_s": 10}}
    report["long"] = {}
    for name, (videos, facts) in long_sets.items():
        entry: dict = {"files": facts, "encoding": dict(zip(("codec", "preset", "crf"),
                                                            astuple(LONG_SETS[name][3]))), "repeats": long_repeats}
        if "long" in parts:
            entry[PACK] = run_scenes(identifier, videos, args.frames, long_repeats)
            report[f"seconds_per_scene_{name}"] = entry[PACK]["seconds_per_scene"]
        report["long"][name] = entry
    if "prod" in parts:
        replica = replica_identifier(used)
        try:
            identify_scene(replica, long_sets["1080p_h264_long"][0][0][0], frames=8)  # warm up
            for name, (videos, _) in long_sets.items():
                report["long"][name][REPLICA] = {**run_scenes(replica, videos, args.frames, long_repeats,
                                                              accuracy=False), "note": REPLICA_NOTE}
                report[f"seconds_per_scene_{name}_prod_pack"] = report["long"][name][REPLICA]["seconds_per_scene"]
        finally:
            replica.engine.close()
    if "passes" in parts:
        report["second_passes"] = {
            "note": "inference seconds per scene (sampling excluded) by policy; probe = the default "
                    "(engine.scenes.analyze_frames), always = before this change, off = never",
            "1080p_h264_long": compare_policies(identifier, long_sets["1080p_h264_long"][0], args.frames)}
        if "short" in parts:
            short = [(cached_video(s, "1280x720"), s.truth()) for s in all_specs["1280x720"]]
            report["second_passes"]["short_1280x720"] = compare_policies(identifier, short, args.frames)
    if "degraded" in parts:
        by_kind = {kind: compare_policies(identifier, [(cached_video(s, f"degraded-{kind}"), s.truth()) for s in specs],
                                          args.frames) for kind, specs in degraded.items()}
        report["degraded"] = {"by_kind": by_kind, "scenes_per_kind": len(next(iter(degraded.values()))),
                              "scene_seconds": next(iter(degraded.values()))[0].duration}
        for policy in POLICIES:
            scores_all = [by_kind[k][policy] for k in by_kind]
            correct = sum(s["persons_correct_fraction"] * s["truth_persons"] for s in scores_all)
            truth = sum(s["truth_persons"] for s in scores_all)
            report["degraded"][f"persons_correct_fraction_{policy}"] = round(correct / truth, 4)
        report["persons_correct_fraction_degraded"] = report["degraded"]["persons_correct_fraction_probe"]
    engine.close()
    report["database"] = {"identities": len(used) + len(distractors), "scene_identities": len(used)}
    report["note"] = ("wall seconds depend on load (see machine.load_average_*): figures taken at a load "
                      "above the core count are measured under load; cpu seconds / threads is the wall "
                      "time on an idle machine")
    report["machine"] = {"parts": sorted(parts), "cores": os.cpu_count(),
                         "load_average_before": [round(x, 2) for x in load_before],
                         "load_average_after": [round(x, 2) for x in os.getloadavg()],
                         "python": platform.python_version(), "opencv": cv2.__version__,
                         "onnxruntime": onnxruntime.__version__, "ffmpeg": ffmpeg_version(), "av": av_version()}
    if args.merge and out_path.exists():
        report = merged(json.loads(out_path.read_text()), report)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def merged(old: dict, new: dict) -> dict:
    """``old`` updated with ``new``, nested dicts merged (parts measured in separate runs); each
    run's machine/load record is kept under ``machine_by_run``."""
    out = _deep_update(old, new)
    out["machine_by_run"] = old.get("machine_by_run", [old.get("machine")]) + [new["machine"]]
    return out


def _deep_update(old: dict, new: dict) -> dict:
    out = dict(old)
    for key, value in new.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _deep_update(out[key], value) if both else value
    return out


def av_version() -> str | None:
    """PyAV's version: with it, long scenes are sampled from keyframes (engine/keyframes.py)."""
    try:
        return importlib.metadata.version("av")
    except importlib.metadata.PackageNotFoundError:
        return None


def ffmpeg_version() -> str:
    first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True).stdout.split("\n")[0]
    return first.split(" Copyright")[0]


if __name__ == "__main__":
    main()
