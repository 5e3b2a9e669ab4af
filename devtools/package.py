"""Build the plugin as Stash's plugin manager installs it: ``dist/<id>.zip`` and ``dist/index.yml``.

Stash installs from a source index (``index.yml``) listing zips with their sha256, as
stashapp/CommunityScripts publishes it (``build_site.sh``): the zip holds the plugin folder's files at
its root and is extracted into ``<plugins>/<source>/<id>/``. Only what the plugin runs ships: the
manifest, the bootstrap, the requirements and the ``stash_sense`` package (no tests, benchmarks,
development tools, demo Stash, data or virtual environment). Entries are sorted and dated from the
last commit, so the same tree gives the same zip and sha256.

Usage: ``python3 devtools/package.py [dist-folder]`` (standard library only; ``make package``).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLUGIN_ID = "stash_sense"
TOP_LEVEL = ("stash_sense.yml", "stash_sense_plugin.py", "requirements.txt", "requirements-nodeps.txt", "README.md",
             "LICENSE")
PACKAGE = "stash_sense/"
DEV_ONLY = ("stash_sense/demo/",)  # the demo Stash is a development tool


def tracked_files(repo: Path = REPO) -> list[str]:
    """Files git tracks (no build output, caches or local data); every file when not a checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True).stdout
        return sorted(name for name in out.decode().split("\0") if name and (repo / name).is_file())
    except (OSError, subprocess.CalledProcessError):
        return sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file())


def shipped(name: str) -> bool:
    if name in TOP_LEVEL:
        return True
    if not name.startswith(PACKAGE) or name.startswith(DEV_ONLY):
        return False
    return "__pycache__" not in name and not name.endswith((".pyc", ".pyo"))


def package_files(repo: Path = REPO) -> list[str]:
    files = [name for name in tracked_files(repo) if shipped(name)]
    stray = [name for name in files if name.endswith(".yml") and name != f"{PLUGIN_ID}.yml"]
    if stray:  # Stash loads every *.yml in the plugins tree as a plugin config
        raise SystemExit(f"refusing to package other .yml files (Stash would load them as plugins): {stray}")
    return files


def manifest_field(manifest: str, key: str) -> str:
    """A single-line top-level field, read the way build_site.sh greps it."""
    found = re.search(rf"^{key}:\s*(.+)$", manifest, re.MULTILINE)
    if not found:
        raise SystemExit(f"{PLUGIN_ID}.yml has no {key}")
    return found.group(1).strip().strip("'\"")


def last_commit(repo: Path = REPO) -> tuple[str, int]:
    """(short hash, commit time) of the tree being packaged; ("dev", now) outside git."""
    try:
        out = subprocess.run(["git", "log", "-n", "1", "--pretty=format:%h %ct"], cwd=repo, capture_output=True,
                             text=True, check=True).stdout.split()
        return out[0], int(out[1])
    except (OSError, subprocess.CalledProcessError, IndexError, ValueError):
        return "dev", int(time.time())


def write_zip(target: Path, files: list[str], stamp: int, repo: Path = REPO) -> None:
    date_time = time.gmtime(max(stamp, 315532800))[:6]  # zip dates start in 1980
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name in files:
            info = zipfile.ZipInfo(name, date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if name.endswith("_plugin.py") else 0o644
            info.external_attr = (0o100000 | mode) << 16
            bundle.writestr(info, (repo / name).read_bytes())


def index_entry(manifest: str, zip_name: str, digest: str, short_hash: str, stamp: int) -> str:
    """The entry Stash's package manager reads (id, name, metadata.description, version, date, path, sha256)."""
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "\n".join([
        f"- id: {PLUGIN_ID}",
        f"  name: {quoted(manifest_field(manifest, 'name'))}",
        "  metadata:",
        f"    description: {quoted(manifest_field(manifest, 'description'))}",
        f"  version: {manifest_field(manifest, 'version')}-{short_hash}",
        f"  date: \"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(stamp))}\"",
        f"  path: {zip_name}",
        f"  sha256: {digest}",
        "",
    ])


def build(out_dir: Path, repo: Path = REPO) -> Path:
    """Write ``<out>/<id>.zip`` and ``<out>/index.yml``; returns the index path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = (repo / f"{PLUGIN_ID}.yml").read_text(encoding="utf-8")
    short_hash, stamp = last_commit(repo)
    zip_path = out_dir / f"{PLUGIN_ID}.zip"
    files = package_files(repo)
    write_zip(zip_path, files, stamp, repo)
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    index = out_dir / "index.yml"
    index.write_text(index_entry(manifest, zip_path.name, digest, short_hash, stamp), encoding="utf-8")
    print(f"{zip_path} ({len(files)} files, {zip_path.stat().st_size // 1024} KiB, sha256 {digest})")
    print(f"{index}")
    return index


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "dist")
