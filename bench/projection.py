"""A projection users can read (issue 16 item 7): how long 10,000 galleries of 200 images and 1,000
scenes take with the production pack, computed from the bench JSON files so every number traces
back to a measurement.

Inputs (all under bench/results/):

* ``engine.json`` ``packs.stash-sense-v1-replica`` (``python -m bench.engine_bench --packs-only``):
  end-to-end images/s of the production-shaped replicas on full-size photos at 2 threads (the
  200-photo run) and at 1 thread, and the 2-thread compute bound;
* ``bulk.json``: ``images_per_gallery_adaptive`` (adaptive sampling on real faces, test pack:
  ``python -m bench.adaptive_bench``) and the write-back seconds per gallery with no inference
  (the fresh-library warm run of ``python -m bench.bulk_bench``: a pack-independent cost);
* ``scenes.json``: seconds per scene with the production pack; the long-scene keys
  (``seconds_per_scene_1080p_h264_long_prod_pack``, 20-40 minute 1080p H.264) when present,
  else an estimate from the 2-minute clips (which, is written in the output);
* optionally ``--gpu-check FILE``: the JSON ``python -m bench.gpu_check --pack stash-sense-v1``
  prints on a GPU machine (``make gpu-check``); without it the GPU row says what to run.

The 8-core row extrapolates the measured 1- vs 2-thread scaling with Amdahl's law: with a 2-thread
speed-up S2, the serial share is s = 2/S2 - 1 and 8 threads run 1/(s + (1-s)/8) times one thread.
On a shared machine S2 is measured low (the second core is partly someone else's), which makes the
projection pessimistic; the linear bound (8x one thread) is given beside it.

    python -m bench.projection [--gpu-check gpu.json]   # -> bench/results/projection.json + markdown
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.common import PROD_PACK, RESULTS

GALLERIES, IMAGES_PER_GALLERY, SCENES = 10_000, 200, 1_000
CORES_TARGET = 8
LONG_SCENE_KEY = "seconds_per_scene_1080p_h264_long_prod_pack"


def read(name: str) -> dict:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else {}


def amdahl(speedup_2: float, threads: int) -> float:
    """Speed-up at ``threads`` from the measured 2-thread speed-up (serial share clamped to 0..1)."""
    serial = min(max(2.0 / max(speedup_2, 1e-9) - 1.0, 0.0), 1.0)
    return 1.0 / (serial + (1.0 - serial) / threads)


def write_seconds_per_gallery(bulk: dict) -> tuple[float, str]:
    """Stash reads and writes per gallery with no inference: the fresh-library warm run."""
    fresh = bulk.get("runs", {}).get("threads_2", {}).get("warm_fresh")
    if not fresh:
        return 0.0, "bulk.json has no warm_fresh run: write-back cost left out"
    return fresh["seconds"] / max(fresh["processed"], 1), "bulk.json runs.threads_2.warm_fresh seconds / galleries"


def scene_seconds(scenes: dict, prod: dict, test_rate: float) -> tuple[float | None, str]:
    """Seconds per scene with the production pack, and where the figure comes from."""
    if LONG_SCENE_KEY in scenes:
        return float(scenes[LONG_SCENE_KEY]), f"scenes.json {LONG_SCENE_KEY} (20-40 min 1080p H.264, 60 frames)"
    base = scenes.get("seconds_per_scene_60_frames")
    if base is None:
        return None, "scenes.json has no per-scene figure"
    frames = scenes.get("frames", 60)
    extra = frames * (1.0 / prod["images_per_s_full_size_200_2t"] - 1.0 / test_rate)
    return base + extra, (f"FALLBACK: {LONG_SCENE_KEY} absent; scenes.json seconds_per_scene_60_frames (test pack, "
                          f"2-minute 720p clips) + {frames} frames x (production - test pack seconds per full-size "
                          "image, engine.json): long scenes add seeking and decoding not counted here")


def projection(gpu: dict | None = None, engine_file: Path | None = None) -> dict:
    engine = json.loads(engine_file.read_text()) if engine_file else read("engine.json")
    bulk, scenes = read("bulk.json"), read("scenes.json")
    packs = engine.get("packs", {})
    if PROD_PACK not in packs:
        raise SystemExit("engine.json has no replica-pack figures: run python -m bench.engine_bench --packs-only")
    prod, test = packs[PROD_PACK], packs.get("test-mbf128", {})
    rate_2 = prod["images_per_s_full_size_200_2t"]
    rate_1 = prod["images_per_s_full_size_40_1t"]
    speedup_2 = prod["thread_speedup_full_size"]
    rate_8 = rate_1 * amdahl(speedup_2, CORES_TARGET)
    write_s, write_source = write_seconds_per_gallery(bulk)
    adaptive_images = min(float(bulk.get("images_per_gallery_adaptive", IMAGES_PER_GALLERY)), IMAGES_PER_GALLERY)
    scene_s, scene_source = scene_seconds(scenes, prod, test.get("images_per_s_full_size_200_2t", rate_2))

    def row(label: str, rate: float | None, images: float, scene_scale: float | None, basis: str) -> dict:
        gallery_s = None if rate is None else GALLERIES * (images / rate + write_s)
        scenes_s = None if scene_s is None or scene_scale is None else SCENES * scene_s * scene_scale
        return {"label": label, "images_per_s": None if rate is None else round(rate, 2),
                "images_per_gallery": round(images, 1), "galleries_seconds": gallery_s, "scenes_seconds": scenes_s,
                "basis": basis}

    rows = [
        row("this 2-core CPU, 200 images per gallery", rate_2, IMAGES_PER_GALLERY, 1.0,
            "measured with the replicas: engine.json full-size photos, 200-photo run, 2 threads"),
        row("this 2-core CPU, adaptive sampling", rate_2, adaptive_images, 1.0,
            f"images per gallery from the adaptive bench (real faces, test pack): {adaptive_images}"),
        row(f"{CORES_TARGET}-core CPU, adaptive sampling", rate_8, adaptive_images, rate_2 / rate_8,
            f"Amdahl from the measured 1- vs 2-thread speed-up {speedup_2} (serial share "
            f"{min(max(2 / speedup_2 - 1, 0), 1):.2f}); linear bound {rate_1 * CORES_TARGET:.1f} images/s"),
    ]
    if gpu:
        rows.append(row(f"GPU ({gpu.get('gpu_provider', {}).get('provider', '?')}), adaptive sampling",
                        gpu["gpu_images_per_s"], adaptive_images, None,
                        f"make gpu-check, pack {gpu.get('pack')}: {gpu.get('images')} LFW thumbnails "
                        "(full-size photos are slower); scenes not measured"))
    else:
        rows.append(row("GPU, adaptive sampling", None, adaptive_images, None,
                        "not measurable here: on a GPU machine run `python -m bench.gpu_check --pack "
                        "stash-sense-v1 > gpu.json` (make gpu-check), then `python -m bench.projection "
                        "--gpu-check gpu.json`: the row needs its gpu_images_per_s"))
    return {"galleries": GALLERIES, "images_per_gallery": IMAGES_PER_GALLERY, "scenes": SCENES, "pack": PROD_PACK,
            "write_seconds_per_gallery": round(write_s, 3), "write_source": write_source,
            "scene_seconds_prod_pack": None if scene_s is None else round(scene_s, 2), "scene_source": scene_source,
            "engine_under_load": prod.get("under_load"), "engine_loadavg": [prod.get("loadavg_before"),
                                                                            prod.get("loadavg_after")],
            "model_8_cores": "Amdahl: speed-up(n) = 1 / (s + (1 - s)/n), s = 2/S2 - 1 from the measured S2",
            "note": "replicas measure time and memory only; the image count per gallery comes from real faces",
            "engine_source": str(engine_file or "bench/results/engine.json"),
            "cross_check_bulk_images_per_s_cold_prod_pack": bulk.get("images_per_s_cold_prod_pack"),
            "command": "python -m bench.projection", "rows": rows}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    days, hours = divmod(seconds / 3600, 24)
    return f"{int(days)} d {round(hours)} h" if days >= 1 else f"{hours:.1f} h"


def markdown(result: dict) -> str:
    lines = [f"| {result['galleries']:,} galleries x {result['images_per_gallery']} images, "
             f"{result['scenes']:,} scenes, production pack | images/s | images per gallery | galleries | scenes "
             "| basis |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['label']} | {r['images_per_s'] if r['images_per_s'] is not None else '—'} "
                     f"| {r['images_per_gallery']} | {duration(r['galleries_seconds'])} "
                     f"| {duration(r['scenes_seconds'])} | {r['basis']} |")
    lines += ["", f"Write-back per gallery {result['write_seconds_per_gallery']} s ({result['write_source']}); "
              f"scene {result['scene_seconds_prod_pack']} s ({result['scene_source']}). Engine figures measured "
              f"{'under load' if result['engine_under_load'] else 'on a quiet machine'} (load average "
              f"{result['engine_loadavg']}, {result['engine_source']}). {result['note']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpu-check", type=Path, default=None, help="JSON printed by python -m bench.gpu_check")
    parser.add_argument("--engine", type=Path, default=None,
                        help="engine bench JSON with the packs keys (default bench/results/engine.json)")
    args = parser.parse_args(argv)
    result = projection(json.loads(args.gpu_check.read_text()) if args.gpu_check else None, args.engine)
    (RESULTS / "projection.json").write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
