"""The plugin's small SQLite files (journal, bulk ledger, embedding cache), opened one way.

Autocommit (each statement commits; callers open explicit transactions where several writes must
land together), a 30 s wait on another process's lock (a UI click during a bulk task), and the
schema applied idempotently so a fresh data folder needs no set-up step.

The files hold a map of the user's library and face embeddings of the people in it: the folder is
created private (0700) and every file private (0600) before SQLite opens it. SQLite gives its
``-wal``/``-shm`` files the database file's permissions, so those stay private too.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def open_store(path: Path, schema: str, *, shared_between_threads: bool = False) -> sqlite3.Connection:
    path = Path(path)
    make_private_dir(path.parent)
    make_private_file(path)
    db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=not shared_between_threads)
    db.row_factory = sqlite3.Row
    db.executescript(schema)
    return db


def make_private_dir(folder: Path) -> None:
    """Create ``folder`` (and missing parents) owner-only, or take that back from an older 0755 one
    (models or databases downloaded first may have created it with the umask's permissions)."""
    folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if (folder.stat().st_mode & 0o777) != PRIVATE_DIR:
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is filtered by the umask


def make_private_file(path: Path) -> None:
    """Create ``path`` empty with owner-only permissions, or take them back from an older 0644 file."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE)
    os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and (file.stat().st_mode & 0o777) != PRIVATE_FILE:
            os.chmod(file, PRIVATE_FILE)
