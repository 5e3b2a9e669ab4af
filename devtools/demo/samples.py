"""Sample faces for the demo: ../shared's LFW when it is there, else the public LFW archive.

The archive (LFW deep-funneled, ~100 MB) is downloaded once with the engine's resumable fetch into
the data folder and unpacked with tarfile's "data" filter (no absolute paths, no ``..``, no links).
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from stash_sense import paths
from stash_sense.engine.fetch import FetchError, download

LFW_URL = "http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz"
ARCHIVE_TOP = "lfw-deepfunneled"


def shared_dir() -> Path:
    # Resolved: the demo Stash records real paths, and ../shared may well be a symlink.
    return Path(os.environ.get("STASH_SENSE_SHARED", Path(__file__).resolve().parents[3] / "shared")).resolve()


def lfw_dir(url: str | None = None) -> Path:
    """A folder with one sub-folder of JPEGs per LFW identity."""
    shared = shared_dir() / "datasets" / "lfw_deepfunneled"
    if shared.is_dir():
        return shared
    target = paths.data_dir() / "demo" / "lfw_deepfunneled"
    if not target.is_dir():
        fetch_lfw(url or os.environ.get("STASH_SENSE_LFW_URL") or LFW_URL, target)
    return target


def fetch_lfw(url: str, target: Path) -> None:
    archive = target.parent / "lfw-deepfunneled.tgz"
    try:
        download(url, archive)
    except FetchError as exc:
        raise FileNotFoundError(f"no sample faces: {exc}. Put LFW deep-funneled folders (one per person) "
                                f"into {target}, or ../shared beside the checkout") from exc
    staging = target.parent / "lfw.staging"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="data")
    (staging / ARCHIVE_TOP).rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    archive.unlink()
