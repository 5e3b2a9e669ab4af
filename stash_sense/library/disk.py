"""A full disk, said in words a user can act on: which folder, how much space is needed.

SQLite says "database or disk is full" and Python "No space left on device"; neither names the
folder. The journal, ledger and embedding cache live in the plugin data folder, so that is the
folder to free space in. A bulk run checks the space before it starts (``require_free_space``) and
stops, resumably, when the disk fills during the run.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

# What a bulk run needs free in the data folder: journal and ledger rows are small, the embedding
# cache grows by a few kB per image; WAL files and SQLite's checkpoint need head room on top.
MIN_FREE_BYTES = 200 * 1024 * 1024
SQLITE_FULL = 13
NEARLY_FULL_BYTES = 1024 * 1024


class DiskFull(RuntimeError):
    """No space left where Stash Sense keeps its files; the message names the folder and the need."""


def is_disk_full(exc: BaseException | None, folder: Path | None = None) -> bool:
    """The exception (or one it was raised from) is a full disk or an exhausted quota.

    With ``folder``: also an I/O error while that folder's disk has (almost) nothing left. SQLite
    reports a full disk met while mapping its ``-shm`` file as "disk I/O error", not "disk is full".
    """
    if folder is not None and isinstance(exc, (OSError, sqlite3.Error)) and free_bytes(folder) < NEARLY_FULL_BYTES:
        return True
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, DiskFull):
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return True
        if isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL
                                                or "disk is full" in str(exc)):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def free_bytes(folder: Path) -> int:
    """Free space on the file system of ``folder`` (or of its nearest existing parent)."""
    folder = Path(folder).resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def disk_full_message(folder: Path, needed: int = MIN_FREE_BYTES) -> str:
    free = free_bytes(folder)
    return (f"The disk holding {folder} is full ({_size(free)} free). Stash Sense needs at least "
            f"{_size(needed)} free there for its journal, ledger and face cache: free some space, then "
            "run it again (a bulk run resumes where it stopped).")


def require_free_space(folder: Path, needed: int = MIN_FREE_BYTES) -> None:
    """Refuse to start a run that would fill the disk half way."""
    if free_bytes(folder) < needed:
        raise DiskFull(disk_full_message(folder, needed))


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} bytes"
