"""Shared fixtures: real models and real faces from ../shared (never copied into the repo).

tests/unit needs nothing beside the checkout; tests/integration and tests/browser run the real
models on real faces from ../shared and refuse to start without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STASH_SENSE_SHARED", REPO.parent / "shared")).resolve()
os.environ.setdefault("STASH_SENSE_MODEL_DIR", str(SHARED / "models"))
DATASETS = SHARED / "datasets"
LFW = DATASETS / "lfw_deepfunneled"
DEEPFACE = DATASETS / "deepface_testset"

UNIT = REPO / "tests" / "unit"


def pytest_collection_modifyitems(config, items):
    """Without ../shared only tests/unit can run; anything else is refused with the reason."""
    if (SHARED / "models").is_dir():
        return
    needing = [item for item in items if UNIT not in Path(str(item.path)).parents]
    if needing:
        raise pytest.UsageError(f"{len(needing)} selected test(s) need the shared models and datasets at {SHARED} "
                                "(set STASH_SENSE_SHARED), or run only tests/unit")


@pytest.fixture(scope="session")
def engine():
    from stash_sense.engine import Engine

    eng = Engine("test-mbf128", threads=2, keep_crops=True)
    yield eng
    eng.close()


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch):
    """Each test gets its own plugin data folder: no test sees another's databases or journal."""
    monkeypatch.setenv("STASH_SENSE_DATA_DIR", str(tmp_path / "data"))
    # Engine in-process: a warm worker per test data folder would outlive the test (tests of the
    # worker itself, and one plugin test, switch it back on).
    monkeypatch.setenv("STASH_SENSE_WORKER", "0")
    return tmp_path / "data"


_STARTED = __import__("time").time()


def pytest_sessionfinish(session, exitstatus):
    """../shared is read-only data: a test that writes into it (one once overwrote an LFW photo
    with a 3000x1 strip, and every later run met that "hostile" photo) fails the whole run."""
    if not DATASETS.is_dir():
        return
    written = [p for p in DATASETS.rglob("*") if p.is_file() and p.stat().st_mtime > _STARTED]
    if written:
        print(f"\ntests wrote into ../shared: {[str(p) for p in written[:5]]}")
        session.exitstatus = 1
