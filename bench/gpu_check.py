"""``make gpu-check``: is the GPU build of onnxruntime worth it here, and does it give the same faces?

Runs the engine on the same images with ``--device cpu`` and with the best GPU execution provider
onnxruntime reports (CUDA, ROCm, DirectML, CoreML, OpenVINO), and prints images/s both ways, the
provider that really ran, and whether the GPU's embeddings match the CPU's within 1e-3 cosine
(on the same aligned crops, so detector jitter does not count). Exits 2 at once when no GPU
provider is available: that is the case where Stash Sense is developed, so this script has never
run on a GPU there (see README "GPU check").

    python -m bench.gpu_check [--pack stash-sense-v1] [--images 200] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.common import LFW, TEST_PACK
from stash_sense.engine import Engine
from stash_sense.engine.onnx_session import CPU, choose_provider

MAX_COSINE_GAP = 1e-3


def sample_images(count: int) -> list[Path]:
    """Every n-th LFW image: one face each, the same list on every machine."""
    images = sorted(LFW.glob("*/*.jpg"))
    step = max(1, len(images) // count)
    return images[::step][:count]


def run_engine(device: str, pack: str, images: list[Path], threads: int) -> tuple[float, dict, Engine]:
    """(images/s, provider report, the engine still open) for one device."""
    os.environ["STASH_SENSE_DEVICE"] = device
    engine = Engine(pack, threads=threads, keep_crops=True)
    engine.analyze(images[:8])  # warm-up: providers allocate (and GPUs compile) on the first call
    started = time.perf_counter()
    engine.analyze(images)
    return len(images) / (time.perf_counter() - started), engine.provider, engine


def embedding_gap(cpu: Engine, gpu: Engine, images: list[Path]) -> float:
    """Largest 1 - cosine between CPU and GPU embeddings of the same aligned crops."""
    crops = [f.crop for r in cpu.analyze(images) for f in r.usable_faces if f.crop is not None]
    here, there = cpu.embed_crops(crops), gpu.embed_crops(crops)
    gaps = [float(np.max(1.0 - np.sum(here[name] * there[name], axis=1))) for name in here if len(crops)]
    return max(gaps, default=0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", default=os.environ.get("STASH_SENSE_PACK") or TEST_PACK)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    available = ort.get_available_providers()
    provider, reason = choose_provider("auto", available)
    if provider == CPU:
        print(f"gpu-check: nothing to compare: {reason}. Install a GPU build of onnxruntime "
              "(requirements-cuda.txt, -directml, -openvino; ROCm from AMD's index) after "
              "`pip uninstall -y onnxruntime`.", file=sys.stderr)
        return 2
    images = sample_images(args.images)
    cpu_rate, cpu_provider, cpu = run_engine("cpu", args.pack, images, args.threads)
    gpu_rate, gpu_provider, gpu = run_engine("auto", args.pack, images, args.threads)
    try:
        gap = embedding_gap(cpu, gpu, images[:50])
    finally:
        cpu.close()
        gpu.close()
    report = {"pack": args.pack, "images": len(images), "cpu_images_per_s": round(cpu_rate, 1),
              "gpu_images_per_s": round(gpu_rate, 1), "cpu_provider": cpu_provider, "gpu_provider": gpu_provider,
              "max_cosine_gap": gap, "embeddings_match": gap <= MAX_COSINE_GAP, "onnxruntime": ort.__version__}
    print(json.dumps(report, indent=2))
    print(f"CPU {cpu_rate:.1f} images/s, {gpu_provider['provider']} {gpu_rate:.1f} images/s; embeddings "
          f"{'match' if report['embeddings_match'] else 'DIFFER'} (max 1-cosine {gap:.2e})", file=sys.stderr)
    return 0 if report["embeddings_match"] and gpu_provider["provider"] != CPU else 1


if __name__ == "__main__":
    sys.exit(main())
