"""Where things live on disk.

Stash runs plugins with its own working directory, so every path is built from the package
location (the plugin folder), never from the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent
# The model pack used when none is chosen. Here, at the bottom of the layers, so the plugin's light
# paths (service client, settings) name it without importing the engine package.
DEFAULT_PACK = "stash-sense-v1"


def data_dir() -> Path:
    """Plugin data folder (models, databases, caches, journal); overridable for tests."""
    return Path(os.environ.get("STASH_SENSE_DATA_DIR", PLUGIN_DIR / "data"))


def model_dirs() -> list[Path]:
    """Folders searched for model files, in order: STASH_SENSE_MODEL_DIR, then data/models."""
    dirs = []
    if os.environ.get("STASH_SENSE_MODEL_DIR"):
        dirs.append(Path(os.environ["STASH_SENSE_MODEL_DIR"]))
    dirs.append(data_dir() / "models")
    return dirs
