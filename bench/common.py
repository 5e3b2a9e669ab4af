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
