"""What a running worker serves, so a client can tell whether it is the worker it needs.

``build_id`` changes when the code, the pack definitions, the Python, the model folder, the
memory mode or the device differ (a plugin update must not keep talking to an old worker).
``database_fingerprint`` changes when a database on disk is installed, switched, rolled back or
enrolled into; the worker compares it before every request and reloads its databases, keeping the
loaded models.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from stash_sense import __version__
from stash_sense.service.wire import PROTOCOL_VERSION

PACKAGE = Path(__file__).resolve().parent.parent
# Code the worker runs; the plugin's own modules are left out (their changes don't affect results).
WORKER_CODE = ("engine", "worker", "databases.py", "paths.py", "__init__.py")


def build_id() -> str:
    digest = hashlib.sha256()
    for part in (PROTOCOL_VERSION, __version__, sys.executable, os.environ.get("STASH_SENSE_MODEL_DIR", ""),
                 os.environ.get("STASH_SENSE_MEMORY", ""), os.environ.get("STASH_SENSE_DEVICE", "")):
        digest.update(f"{part}\0".encode())
    for path in _code_files():
        stat = path.stat()
        digest.update(f"{path.relative_to(PACKAGE)}:{stat.st_mtime_ns}:{stat.st_size}\0".encode())
    return digest.hexdigest()[:16]


def _code_files() -> list[Path]:
    files: list[Path] = []
    for name in WORKER_CODE:
        path = PACKAGE / name
        if path.is_dir():
            files.extend(p for p in path.rglob("*") if p.suffix in (".py", ".json") and p.is_file())
        elif path.is_file():
            files.append(path)
    return sorted(files)


def database_fingerprint() -> list[list]:
    """Identity of every database ``open_databases`` would load (folder, manifest inode/mtime/size)."""
    from stash_sense.service.databases import database_paths

    found = []
    for folder in database_paths():
        try:
            stat = (folder / "manifest.json").stat()
        except FileNotFoundError:  # swapped out between listing and stat: differs, so reload
            continue
        found.append([str(folder.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size])
    return found
