"""Where the benches find the shared models and datasets, and where they write results."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STASH_SENSE_SHARED", REPO.parent / "shared")).resolve()
DATASETS = SHARED / "datasets"
LFW = DATASETS / "lfw_deepfunneled"
PHOTOS = DATASETS / "deepface_testset"
RESULTS = REPO / "bench" / "results"
QUICK_RESULTS = REPO / "bench" / "cache"  # git-ignored: a --quick run never replaces real results
TEST_PACK = "test-mbf128"
os.environ.setdefault("STASH_SENSE_MODEL_DIR", str(SHARED / "models"))


def two_embedder_pack():
    """test-mbf128 plus the same network fed BGR: a second, different but real embedding of each
    face, standing in for a two-embedder pack (FaceNet512 + ArcFace) whose models are not here."""
    import dataclasses

    from stash_sense.engine.packs import load_pack

    pack = load_pack(TEST_PACK)
    first = pack.embedders[0]
    second = dataclasses.replace(first, name="mbf128_bgr", index_file="face_mbf128_bgr.voy",
                                 recipe=dataclasses.replace(first.recipe, color="BGR"))
    return dataclasses.replace(pack, name="test-mbf128-two", embedders=(first, second))


# --- what every speed figure records ---------------------------------------------------------------

# The head of a child process that measures its own memory: ``status_mb("VmHWM")`` is its peak (not
# ``ru_maxrss``, which keeps the parent's peak across exec), ``rss()`` its resident size now.
CHILD_MEMORY_PROBE = r"""
import json, os, sys, time
from pathlib import Path
from stash_sense.engine import Engine
from stash_sense.engine.packs import load_pack_file
def status_mb(key):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(key + ":"))
    return int(line.split()[1]) / 1024
def rss():
    return status_mb("VmRSS")
"""

PROD_PACK = "stash-sense-v1-replica"  # bench/replicas.py: the production pack's layers, random weights
BUSY_LOAD = 1.0  # a 1-minute load average from here on means other work shared the cores


def loadavg() -> list[float]:
    """The 1/5/15-minute load averages, rounded: recorded beside every speed figure."""
    return [round(v, 2) for v in os.getloadavg()]


def under_load(*loads: list[float]) -> bool:
    """True when any recorded 1-minute load average says the cores were shared."""
    return any(load[0] >= BUSY_LOAD for load in loads)


def machine_info() -> dict:
    """What the numbers depend on: cores, CPU model, library versions."""
    import platform

    import numpy as np
    import onnxruntime

    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model or platform.processor(), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "numpy": np.__version__, "platform": platform.platform()}


def use_replica_pack() -> str:
    """Build the production-shaped replica pack once and make it loadable by name in this process and
    its children (``STASH_SENSE_EXTRA_PACKS``); returns its name. Replicas: time and memory only."""
    from bench.replicas import CACHE, build

    build()
    folders = [p for p in os.environ.get("STASH_SENSE_EXTRA_PACKS", "").split(os.pathsep) if p]
    if str(CACHE) not in folders:
        os.environ["STASH_SENSE_EXTRA_PACKS"] = os.pathsep.join([*folders, str(CACHE)])
    return PROD_PACK


def pack_names(choice: str) -> list[str]:
    """``--packs`` of the speed benches: ``test`` (test-mbf128), ``prod`` (the replicas) or ``both``."""
    return {"test": [TEST_PACK], "prod": [use_replica_pack()],
            "both": [TEST_PACK, use_replica_pack()]}[choice]


def add_packs_argument(parser) -> None:
    """The same ``--packs`` option on every speed bench."""
    parser.add_argument("--packs", choices=("test", "prod", "both"), default="both",
                        help=f"test: {TEST_PACK}; prod: {PROD_PACK} (random-weight replicas of the production "
                             "pack: time and memory only); both (default)")
