"""Sample faces for the demo: ../shared's LFW when it is there, else the public LFW archive.

The archive (LFW deep-funneled, ~100 MB) is downloaded once with the engine's resumable fetch into
the demo's cache folder (``demo_cache()``: kept between runs, unlike the run's temporary folder)
and unpacked with tarfile's "data" filter (no absolute paths, no ``..``, no links).
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from stash_sense.engine.fetch import FetchError, download

LFW_URL = "http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz"
ARCHIVE_TOP = "lfw-deepfunneled"


def shared_dir() -> Path:
    # Resolved: the demo Stash records real paths, and ../shared may well be a symlink.
    return Path(os.environ.get("STASH_SENSE_SHARED", Path(__file__).resolve().parents[3] / "shared")).resolve()


class SamplesUnavailable(FileNotFoundError):
    """The demo has no sample faces and could not download them; the message says where to put them."""


def demo_cache() -> Path:
    """What the demo downloads (sample faces, models) lives here between runs:
    ``STASH_SENSE_DEMO_CACHE``, else ``$XDG_CACHE_HOME/stash-sense/demo`` (``~/.cache/...``)."""
    if os.environ.get("STASH_SENSE_DEMO_CACHE"):
        return Path(os.environ["STASH_SENSE_DEMO_CACHE"]).resolve()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return (base / "stash-sense" / "demo").resolve()


def lfw_dir(url: str | None = None) -> Path:
    """A folder with one sub-folder of JPEGs per LFW identity."""
    shared = shared_dir() / "datasets" / "lfw_deepfunneled"
    if shared.is_dir():
        return shared
    target = demo_cache() / "lfw_deepfunneled"
    if not target.is_dir():
        fetch_lfw(url or os.environ.get("STASH_SENSE_LFW_URL") or LFW_URL, target)
    return target


def fetch_lfw(url: str, target: Path) -> None:
    archive = target.parent / "lfw-deepfunneled.tgz"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        download(url, archive)
    except FetchError as exc:
        reason = str(exc).split(". If this machine", 1)[0].rstrip(".")
        raise SamplesUnavailable(
            f"the demo needs sample faces and could not download them from {url} ({reason}). Put the LFW "
            f"deep-funneled folders (one per person, e.g. Tony_Blair/) into {target}, or the shared folder "
            "beside the checkout (STASH_SENSE_SHARED), then run it again") from exc
    staging = target.parent / "lfw.staging"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="data")
    (staging / ARCHIVE_TOP).rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    archive.unlink()
