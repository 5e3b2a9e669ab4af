"""Where the plugin keeps its face databases, and opening all of them for one model pack.

Two kinds live side by side under the plugin data folder: downloaded releases (``data/db``,
managed by ``engine.releases``: staged, verified, switched atomically, rollback) and the local
enrollment database built from the user's own performers (``data/local_db``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from stash_sense import paths

if TYPE_CHECKING:  # numpy/voyager: the plugin's light side (remote engine) imports this module too
    from stash_sense.engine.database import FaceDatabase
    from stash_sense.engine.packs import Pack


def release_root() -> Path:
    return paths.data_dir() / "db"


def local_db_path() -> Path:
    return paths.data_dir() / "local_db"


def database_paths() -> list[Path]:
    """Active release first, then the local enrollment database, when they exist."""
    from stash_sense.engine.releases import active_database_path

    found = [active_database_path(release_root()), local_db_path()]
    return [p for p in found if p is not None and (p / "manifest.json").exists()]


def memory_mode() -> str:
    """``STASH_SENSE_MEMORY=low`` (the plugin's "Low memory" setting sets it): only the first
    embedder's search graph in memory, see ``engine.database.MEMORY_MODES``."""
    from stash_sense.engine.database import MEMORY_MODES

    mode = os.environ.get("STASH_SENSE_MEMORY", "").strip().lower() or "full"
    if mode not in MEMORY_MODES:
        raise ValueError(f"STASH_SENSE_MEMORY must be one of {', '.join(MEMORY_MODES)}, not {mode!r}")
    return mode


def open_databases(pack: Pack) -> list[FaceDatabase]:
    """Every database usable with ``pack``; one built for another pack raises DatabaseError."""
    from stash_sense.engine.database import load_database

    return [load_database(path, pack, memory_mode()) for path in database_paths()]
