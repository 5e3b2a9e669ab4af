"""The plugin's small SQLite files (journal, bulk ledger, embedding cache), opened one way.

Autocommit (each statement commits; callers open explicit transactions where several writes must
land together), a 30 s wait on another process's lock (a UI click during a bulk task), and the
schema applied idempotently so a fresh data folder needs no set-up step.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_store(path: Path, schema: str, *, shared_between_threads: bool = False) -> sqlite3.Connection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=not shared_between_threads)
    db.row_factory = sqlite3.Row
    db.executescript(schema)
    return db
