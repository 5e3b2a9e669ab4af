"""Engine memory with a production-sized embedder (issue 16).

The production ArcFace (an IResNet34, 137 MB) cannot be downloaded here; bench/replicas.py builds
one with the same layers and random weights, which is all memory depends on. Each run is a fresh
process analysing real LFW faces from their files with two threads, as the engine worker does, so
its peak RSS is the engine's own. Before issue 16 the same run grew 723 MB past its loaded models
(a batch of 32 crops held ~385 MB of onnxruntime buffers per thread, kept in each session's arena).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import onnx
import pytest

from bench.common import CHILD_MEMORY_PROBE, LFW, SHARED
from bench.replicas import arcface
from stash_sense.engine import embedder, onnx_session

CHILD = CHILD_MEMORY_PROBE + r"""
engine = Engine(load_pack_file(Path(sys.argv[1])), threads=2)
loaded = rss()
faces = sum(len(r.usable_faces) for r in engine.analyze(json.loads(sys.argv[2])))
print(json.dumps({"faces": faces, "loaded": loaded, "end": rss(),
                  "peak": status_mb("VmHWM")}))
"""


@pytest.fixture(scope="module")
def arcface_pack(tmp_path_factory):
    """SCRFD-500M and an ArcFace replica (random weights, production layers and size)."""
    folder = tmp_path_factory.mktemp("arcface_replica")
    model = folder / "arcface_replica.onnx"
    onnx.save(arcface(), str(model))
    recipe = {"input_size": [112, 112], "alignment": "norm_crop", "crop_size": 112, "color": "RGB",
              "mean": 127.5, "std": 128.0, "flip_average": True}
    spec = {"name": "test-arcface-replica",
            "detector": {"file": str(SHARED / "models/scrfd_500m_bnkps/scrfd_500m_bnkps.onnx"),
                         "det_size": 640, "threshold": 0.5, "min_face_size": 40, "feed_rgb_as_bgr": True},
            "embedders": [{"name": "arcface", "file": str(model), "dim": 512, "index_file": "face_arcface.voy",
                           "recipe": recipe}]}
    pack = folder / "pack.json"
    pack.write_text(json.dumps(spec))
    return pack


def engine_run(pack, memory: str) -> dict:
    """36 faces from 32 LFW photos: each thread's half is 18 faces, 36 crops with their mirrors."""
    images = [str(p) for p in sorted(LFW.glob("*/*.jpg"))[::97][:32]]
    env = {**os.environ, "STASH_SENSE_MEMORY": memory}
    done = subprocess.run([sys.executable, "-c", CHILD, str(pack), json.dumps(images)], env=env,
                          capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_full_memory_keeps_onnxruntime_buffers_small(arcface_pack):
    run = engine_run(arcface_pack, "full")
    assert run["faces"] >= 32
    assert run["peak"] - run["loaded"] < 400, run  # 723 MB before: batches of 32, one arena per session


def test_low_memory_gives_buffers_back_after_each_run(arcface_pack):
    run = engine_run(arcface_pack, "low")
    assert run["faces"] >= 32
    assert run["peak"] - run["loaded"] < 300, run  # 687 MB before: the low setting bounded decoding only
    assert run["end"] - run["loaded"] < 120, run  # no arena: between runs the engine is its models


def test_session_options_follow_the_memory_mode(monkeypatch):
    """Why the runs above differ: one shared, exactly-growing arena by default; none in low memory."""
    monkeypatch.delenv("STASH_SENSE_MEMORY", raising=False)
    full = onnx_session.session_options(1)
    assert full.enable_cpu_mem_arena and full.get_session_config_entry(onnx_session.USE_ENV_ALLOCATORS) == "1"
    monkeypatch.setenv("STASH_SENSE_MEMORY", "low")
    assert not onnx_session.session_options(1).enable_cpu_mem_arena


def test_embedders_run_small_batches(arcface_pack):
    """A batch's buffers grow with its size, the speed per face does not (README, issue 16)."""
    entry = json.loads(arcface_pack.read_text())["embedders"][0]
    model = embedder.Embedder("arcface", entry["file"], embedder.Recipe.from_dict(entry["recipe"]), threads=1)
    assert model.batch_size == embedder.DEFAULT_BATCH == 4
