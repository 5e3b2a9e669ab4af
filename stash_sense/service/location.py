"""Where one plugin install's worker lives: socket, start lock and log, per data folder and pack.

Everything sits in ``<data dir>/worker/`` (mode 0700), so two plugin installs (two data folders)
never share a worker and nobody else on the machine can reach one. AF_UNIX paths are limited to
~104 bytes; when the data folder is too deep the socket alone moves to a private 0700 folder in
the temp dir, named by a hash of data folder + pack.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stash_sense import paths

MAX_SOCKET_PATH = 100  # bytes; sun_path is 104 on macOS/BSD, 108 on Linux, minus the NUL
PACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class WorkerPaths:
    folder: Path
    socket: Path
    lock: Path
    log: Path
    data_dir: Path
    pack: str


def worker_paths(pack: str, data_dir: Path | None = None) -> WorkerPaths:
    """The worker's files for ``pack`` in ``data_dir`` (default: the plugin data folder)."""
    if not PACK_NAME.match(pack):
        raise ValueError(f"invalid pack name {pack!r}")
    data = Path(os.path.abspath(data_dir or paths.data_dir()))
    folder = data / "worker"
    sock = folder / f"{pack}.sock"
    if len(os.fsencode(sock)) > MAX_SOCKET_PATH:
        key = hashlib.sha256(f"{data}\0{pack}".encode()).hexdigest()[:20]
        sock = _short_socket_dir() / f"{key}.sock"
    return WorkerPaths(folder=folder, socket=sock, lock=folder / f"{pack}.lock", log=folder / f"{pack}.log",
                       data_dir=data, pack=pack)


def prepare(where: WorkerPaths) -> None:
    """Create the private folders; OSError when the data folder cannot hold them."""
    _private_dir(where.folder)
    _private_dir(where.socket.parent)


def _short_socket_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"stash-sense-{os.getuid()}"


def _private_dir(folder: Path) -> None:
    """A 0700 folder owned by us; refuse one that someone else owns or can enter."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{folder} is not a folder owned by this user")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(folder, 0o700)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{folder} is not writable")


def open_private(path: Path, flags: int) -> int:
    """A file descriptor for a 0600 file (lock, log), fixing the mode of an existing one."""
    fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    if stat.S_IMODE(os.fstat(fd).st_mode) != 0o600:
        os.fchmod(fd, 0o600)
    return fd
