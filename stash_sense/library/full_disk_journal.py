"""The journal as an identify click sees it when the disk is too full to open it normally.

SQLite in WAL mode cannot even *read* a database whose ``-shm`` file it cannot allocate, so on a
full disk ``Journal()`` fails before the click has done anything. An identification only needs the
journal for two things: the rejections (read) and storing its suggestions (a write that may be
skipped: the answer still goes back to the user). This stand-in reads the rejections through
SQLite's ``immutable`` mode (no locks, no ``-shm``) and refuses to store, with the full-disk error.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stash_sense.library.disk import DiskFull, disk_full_message


class FullDiskJournal:
    def __init__(self, path: Path):
        self.path = Path(path)

    def rejected(self, target_type: str, target_id: str) -> set[str]:
        """The rejections as last written (an empty set when even that cannot be read)."""
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?immutable=1", uri=True)
        except sqlite3.Error:
            return set()
        try:
            rows = db.execute("SELECT universal_id FROM rejections WHERE target_type = ? AND target_id = ?",
                              (target_type, str(target_id))).fetchall()
            return {r[0] for r in rows}
        except sqlite3.Error:
            return set()
        finally:
            db.close()

    def store_suggestions(self, *args, **kwargs) -> int:
        raise DiskFull(disk_full_message(self.path.parent))

    def close(self) -> None:
        """Nothing is held open."""
