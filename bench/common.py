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
