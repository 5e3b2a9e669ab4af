"""Stash Sense vs face_recognition (the engine of FaceStash and Star Identifier) on the same images.

``python -m bench.peers_bench [--quick] [--packs test|prod|both]`` (or ``make bench-peers``).
Accuracy: LFW pairsDevTest,
the eval command's LFW identification protocol and the deepface test pairs. Speed: repeated
timing runs interleaved across engines (one fresh process each, so peak RSS is per engine and a
load spike on this shared machine hits every engine alike), reported as medians. Writes
bench/results/peers.json and peers.md (``--quick``: peers-quick.*).

The production-shaped replica pack (bench/replicas.py, random weights) is timed beside test-mbf128
and never scored for accuracy: replicas measure time and memory only. ``--packs prod`` times only it
and face_recognition HOG (the ratio's denominator) and merges them into the existing report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

from bench.common import PROD_PACK, SHARED, add_packs_argument, pack_names
from bench.peers.report import markdown

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
OUR_THREADS = (1, 2)  # dlib is single-threaded; our default is 2 threads
HOG = {"kind": "face_recognition", "detector": "hog", "label": "face_recognition HOG", "threads": 1}
CNN = {"kind": "face_recognition", "detector": "cnn", "label": "face_recognition CNN", "threads": 1}


def our_packs() -> tuple[list[str], list[str]]:
    """test-mbf128 always; stash-sense-v1 only when its models are already local (no download)."""
    from stash_sense.engine.packs import ModelUnavailable, load_pack, resolve_model

    present, missing = ["test-mbf128"], []
    pack = load_pack("stash-sense-v1")
    try:
        for spec in [pack.detector.model] + [e.model for e in pack.embedders]:
            resolve_model(spec, fetch=False)
        present.append(pack.name)
    except ModelUnavailable as exc:
        missing.append(f"stash-sense-v1 skipped: {exc}")
    return present, missing


def our_spec(pack: str, threads: int) -> dict:
    return {"kind": "ours", "pack": pack, "threads": threads, "label": f"{pack} ({threads} thr)"}


def accuracy_jobs(packs: list[str], quick: bool) -> list[dict]:
    """Full sets for our packs and HOG; the CNN subsample for every engine (CNN is too slow)."""
    full, small = ("quick", "cnn_quick") if quick else ("full", "cnn")
    jobs = []
    for engine in [our_spec(p, 2) for p in packs] + [HOG]:
        jobs += [_job(engine, "accuracy", s, full) for s in ("lfw_devtest", "identification", "deepface")]
        jobs += [_job(engine, "accuracy", s, small) for s in ("lfw_devtest", "identification")]
    return jobs + [_job(CNN, "accuracy", s, small) for s in ("lfw_devtest", "identification")]


def timing_jobs(packs: list[str], repeats: int, quick: bool, peers: tuple[dict, ...] = (HOG, CNN)) -> list[dict]:
    """Round-robin over engines, rotated each repetition so no engine always runs first."""
    engines = [our_spec(p, t) for p in packs for t in OUR_THREADS] + list(peers)
    jobs = []
    for rep in range(repeats):
        order = engines[rep % len(engines):] + engines[:rep % len(engines)]
        for engine in order:
            for name in ("lfw", "full_size"):
                if engine is CNN and name == "full_size":
                    continue  # ~3 min and ~10 GB per 2-megapixel photo: see the report's note
                jobs.append(_job(engine, "timing", name, None, quick=quick, rep=rep))
    return jobs


def _job(engine: dict, job: str, name: str, sample: str | None, quick: bool = False, rep: int = 0) -> dict:
    return {"engine": engine, "job": job, "set": name, "sample": sample, "quick": quick, "rep": rep}


def run_worker(job: dict) -> dict:
    """One job in a fresh interpreter; its JSON answer plus the job that produced it."""
    env = dict(os.environ, OMP_NUM_THREADS=str(job["engine"]["threads"]))
    env.setdefault("STASH_SENSE_MODEL_DIR", str(SHARED / "models"))
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        proc = subprocess.run([sys.executable, "-m", "bench.peers.worker", json.dumps(job), out.name],
                              cwd=REPO, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"worker failed for {_describe(job)}:\n{proc.stderr[-3000:]}")
        result = json.loads(Path(out.name).read_text())
    print(f"  {_describe(job)}: {_summary(result)}", file=sys.stderr, flush=True)
    return {"job": job, "result": result}


def _describe(job: dict) -> str:
    tail = f"rep {job['rep']}" if job["job"] == "timing" else job["sample"]
    return f"{job['engine']['label']} {job['job']} {job['set']} [{tail}]"


def _summary(result: dict) -> str:
    keys = ("accuracy", "face_rank1", "open_set_false_tag_rate", "images", "seconds", "peak_rss_mb")
    return ", ".join(f"{k}={round(result[k], 3)}" for k in keys if k in result)


def summarise_timing(runs: list[dict]) -> dict:
    """Medians per engine and set: images/s, ms/face, CPU ms/image; peak RSS is the maximum."""
    out: dict[str, dict] = {}
    for run in runs:
        label, name, r = run["job"]["engine"]["label"], run["job"]["set"], run["result"]
        out.setdefault(label, {}).setdefault(name, []).append(r)
    return {label: {name: _medians(rs) for name, rs in sets.items()} for label, sets in out.items()}


def _medians(results: list[dict]) -> dict:
    return {"images_per_s": round(statistics.median(r["images"] / r["seconds"] for r in results), 2),
            "ms_per_face": round(statistics.median(1000 * r["seconds"] / max(r["faces"], 1) for r in results), 1),
            "cpu_ms_per_image": round(statistics.median(1000 * r["cpu_seconds"] / r["images"] for r in results), 1),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results), "runs": len(results),
            "images": results[0]["images"], "faces": results[0]["faces"]}


def summarise_accuracy(runs: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for run in runs:
        job = run["job"]
        out.setdefault(job["engine"]["label"], {})[f"{job['set']}/{job['sample']}"] = run["result"]
    return out


def headline(accuracy: dict, timing: dict, quick: bool) -> dict:
    """The keys issue 9 asks for: ours = test-mbf128 at its default 2 threads, peer = HOG defaults."""
    full = "quick" if quick else "full"
    ours, peer = "test-mbf128 (2 thr)", HOG["label"]

    def speedup(label: str, name: str) -> float:
        return round(timing[label][name]["images_per_s"] / timing[peer][name]["images_per_s"], 2)

    values = {"speedup_full_size": speedup(ours, "full_size"), "speedup_lfw": speedup(ours, "lfw"),
              "speedup_full_size_1_thread": speedup("test-mbf128 (1 thr)", "full_size"),
              "speedup_lfw_1_thread": speedup("test-mbf128 (1 thr)", "lfw")}
    for who, label in (("our", ours), ("peer", peer)):
        acc = accuracy[label]
        values[f"{who}_rank1"] = acc[f"identification/{full}"]["face_rank1"]
        values[f"{who}_false_tag_rate"] = acc[f"identification/{full}"]["open_set_false_tag_rate"]
        values[f"{who}_lfw_devtest_accuracy"] = acc[f"lfw_devtest/{full}"]["accuracy"]
        values[f"{who}_deepface_accuracy"] = acc[f"deepface/{full}"]["accuracy"]
    values.update(prod_pack_headline(timing))
    values["targets_met"] = {
        "full_size_10x": values["speedup_full_size"] >= 10, "lfw_3x": values["speedup_lfw"] >= 3,
        "accuracy_equal_or_better": all(values[f"our_{k}"] >= values[f"peer_{k}"]
                                        for k in ("rank1", "lfw_devtest_accuracy", "deepface_accuracy"))
        and values["our_false_tag_rate"] <= values["peer_false_tag_rate"]}
    return values


def prod_pack_headline(timing: dict) -> dict:
    """The replica pack's speed-ups over face_recognition HOG (2 threads and 1): what users of the
    production pack will see, where test-mbf128's speed-ups are the small test network's."""
    peer, values = timing.get(HOG["label"]), {}
    for threads, suffix in ((2, ""), (1, "_1_thread")):
        ours = timing.get(our_spec(PROD_PACK, threads)["label"])
        if ours and peer:
            for name in ("full_size", "lfw"):
                rate = ours[name]["images_per_s"] / peer[name]["images_per_s"]
                values[f"speedup_{name}_prod_pack{suffix}"] = round(rate, 2)
    return values


def machine() -> dict:
    return {"cores": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
            "platform": platform.platform(), "load_average_start": [round(x, 2) for x in os.getloadavg()],
            "versions": {p: _version(p) for p in ("onnxruntime", "opencv-python-headless", "numpy", "Pillow",
                                                  "insightface", "dlib-bin", "face-recognition",
                                                  "face_recognition_models")}}


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small subsets, 2 repetitions: checks the bench")
    parser.add_argument("--repeats", type=int, default=None, help="timing repetitions (default 5; quick 2)")
    add_packs_argument(parser)
    parser.add_argument("--jobs", type=int, default=1,
                        help="accuracy jobs run at once (timing always runs alone); >1 only saves wall time")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    started = time.time()
    info = machine()
    timed = pack_names(args.packs)  # builds the replica pack when asked for
    packs, skipped = our_packs() if args.packs != "prod" else ([], [])
    print(f"accuracy jobs (load {info['load_average_start']})", file=sys.stderr)
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:  # never for the replicas: their accuracy is noise
        accuracy_runs = list(pool.map(run_worker, accuracy_jobs(packs, args.quick))) if packs else []
    print("timing jobs", file=sys.stderr)
    timed_packs = packs + [p for p in timed if p not in packs]
    timing_runs = [run_worker(job) for job in timing_jobs(timed_packs, repeats, args.quick,
                                                          (HOG, CNN) if packs else (HOG,))]
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    accuracy, timing = summarise_accuracy(accuracy_runs), summarise_timing(timing_runs)
    command = " ".join(["python -m bench.peers_bench", *(argv if argv is not None else sys.argv[1:])])
    stem = RESULTS / ("peers-quick" if args.quick else "peers")
    if packs:
        report = {**headline(accuracy, timing, args.quick), "machine": info, "quick": args.quick,
                  "repeats": repeats, "jobs": args.jobs, "skipped": skipped, "command": command,
                  "minutes": round((time.time() - started) / 60, 1), "accuracy": accuracy, "timing": timing,
                  "runs": accuracy_runs + timing_runs}
    else:  # --packs prod: the replica and HOG timings, merged into the last full report
        report = json.loads(stem.with_suffix(".json").read_text()) if stem.with_suffix(".json").exists() else {}
        report.setdefault("timing", {}).update(timing)
        report.update(prod_pack_headline(report["timing"]))
        report["prod_pack_timing_run"] = {"machine": info, "repeats": repeats, "command": command,
                                          "minutes": round((time.time() - started) / 60, 1), "runs": timing_runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    if "accuracy" in report:
        table = markdown(report)
        stem.with_suffix(".md").write_text(table)
        print(table)
    return 0

if __name__ == "__main__":
    sys.exit(main())
