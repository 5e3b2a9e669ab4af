"""One run at a time per library: a bulk task, the command line and "Undo last run" exclude each other.

Two runs on one library would both resume the same interrupted run, both create the same
performer and tag galleries "needs review" for each other's half-written state. The lock is an OS
file lock (``flock`` / ``msvcrt.locking``) on ``run.lock`` in the plugin data folder, the folder
that holds the journal and ledger both runs would share: the kernel releases it when its process
ends in any way, so a crashed or killed run never leaves a stale lock behind. Beside it,
``run.holder.json`` says who holds it (what, pid, host, start), for the refusal message.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stash_sense import paths
from stash_sense.library.store import make_private_dir

LOCK_FILE = "run.lock"
HOLDER_FILE = "run.holder.json"


class RunLocked(RuntimeError):
    """Another run holds this library; the message says which and what to do."""


@contextmanager
def exclusive_run(what: str, folder: Path | None = None) -> Iterator[None]:
    """Hold the library's run lock for the duration, or raise ``RunLocked`` naming the holder."""
    folder = Path(folder or paths.data_dir())
    make_private_dir(folder)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _try_lock(fd):
            raise RunLocked(refusal(_read_holder(folder / HOLDER_FILE)))
        holder = folder / HOLDER_FILE
        _write_holder(holder, what)
        try:
            yield
        finally:
            holder.unlink(missing_ok=True)
            _unlock(fd)
    finally:
        os.close(fd)


def refusal(holder: dict | None) -> str:
    who = "Another Stash Sense run"
    if holder:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("started") or 0)))
        who += (f" ({holder.get('what')}, process {holder.get('pid')} on {holder.get('host')}, "
                f"started {started})")
    return (f"{who} is working on this library. Only one run at a time: wait for it to finish, or stop "
            "it (Stash's Tasks, or Ctrl+C on the command line), then start this one again.")


def _write_holder(path: Path, what: str) -> None:
    """Best effort: the lock holds without it (a full disk must still get its own clear error)."""
    info = {"what": what, "pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
            "command": " ".join(sys.argv[:3])}
    tmp = path.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(info, out)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _read_holder(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
