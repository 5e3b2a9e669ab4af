"""Downloaded face-database releases: fetched, verified, and switched in atomically.

Layout under ``root`` (default ``data/db``)::

    releases/<version>-<8 hex>/   one complete database folder per installed release
    CURRENT                       name of the active release folder
    PREVIOUS                      name of the one before it (what ``rollback`` goes back to)
    downloads/                    partial downloads (``*.part``), so an interrupted run resumes

A new release is extracted into a fresh staging folder and checked (safe member names, required
files, every manifest checksum, and that it loads with the engine's model pack) before CURRENT
moves to it. Any failure deletes the staging folder and leaves CURRENT as it was, so a bad
download can never replace a working database.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import requests

from stash_sense import paths
from stash_sense.engine.database import (
    LEGACY_INDEX_FILES,
    DatabaseError,
    index_files,
    load_database,
    read_manifest,
    verify_checksums,
)
from stash_sense.engine.fetch import FetchError, Progress, download
from stash_sense.engine.packs import Pack

REQUIRED_FILES = ("manifest.json", "faces.json", "performers.json")
OPTIONAL_FILES = ("performers.db",)  # a Stash Sense release's aliases and stash-box ids
MAX_MANIFEST_BYTES = 1 << 20
SPACE_MARGIN = 1.1  # extracted size x this must fit on the disk
KEEP_OLD_RELEASES = 2  # old release folders kept for rollback (PREVIOUS always among them)
STALE_STAGING_SECONDS = 24 * 3600  # staging folders this old are leftovers of a killed run


class ReleaseError(RuntimeError):
    """A release that could not be found, fetched or installed; the message says what to do."""


@dataclass(frozen=True)
class ReleaseInfo:
    version: str
    url: str
    size: int | None = None


def free_bytes(path: Path) -> int:
    """Free space on the disk holding ``path`` (a module function so tests can simulate a full disk)."""
    return shutil.disk_usage(path).free


# --- where things are ----------------------------------------------------------------------------

def default_root() -> Path:
    return paths.data_dir() / "db"


def _pointer(root: Path, name: str) -> str | None:
    try:
        value = (root / name).read_text().strip()
    except FileNotFoundError:
        return None
    return value or None


def _write_pointer(root: Path, name: str, value: str) -> None:
    """Temp file + os.replace: a reader sees the old name or the new one, never half of one."""
    tmp = root / f".{name}.{secrets.token_hex(4)}.tmp"
    with open(tmp, "w") as handle:
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, root / name)


def active_database_path(root: Path | None = None) -> Path | None:
    """Folder of the active release, or None when none is installed (or CURRENT points nowhere)."""
    root = Path(root or default_root())
    name = _pointer(root, "CURRENT")
    folder = root / "releases" / name if name else None
    return folder if folder is not None and folder.is_dir() else None


# --- discovery -----------------------------------------------------------------------------------

def find_release(api_url: str, version: str | None = None,
                 session: requests.Session | None = None) -> ReleaseInfo:
    """The zip asset of the latest release (or of ``version``) from a GitHub releases API URL."""
    return _discover(api_url, version, session, default_root())


def _discover(api_url: str, version: str | None, session: requests.Session | None, root: Path) -> ReleaseInfo:
    url = api_url
    if version:
        base = api_url.rstrip("/")
        if not base.endswith("/latest"):
            raise ReleaseError(f"cannot pick release {version} from {api_url}: expected a .../releases/latest URL")
        url = base[: -len("latest")] + f"tags/v{version.lstrip('v')}"
    http = session or requests.Session()
    try:
        response = http.get(url, timeout=30, headers={"Accept": "application/vnd.github+json"})
        response.raise_for_status()
        release = response.json()
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        hint = f" (no release v{version.lstrip('v')}?)" if version and status == 404 else ""
        raise ReleaseError(f"could not look up the release at {url}: HTTP {status}{hint}. "
                           f"{_manual_hint(_release_page(url), root)}") from exc
    except requests.RequestException as exc:
        raise ReleaseError(f"could not look up the release at {url} ({type(exc).__name__}). "
                           f"{_manual_hint(_release_page(url), root)}") from exc
    except ValueError as exc:
        raise ReleaseError(f"{url} did not answer with release JSON: {exc}") from exc
    for asset in release.get("assets", []):
        if str(asset.get("name", "")).endswith(".zip"):
            return ReleaseInfo(version=str(release.get("tag_name", "")).lstrip("v") or "unknown",
                               url=asset["browser_download_url"], size=asset.get("size"))
    raise ReleaseError(f"release {release.get('tag_name', '?')} at {url} has no .zip asset")


def _release_page(api_url: str) -> str:
    """The page a person opens in a browser for a GitHub API URL (other URLs are shown as they are)."""
    prefix = "https://api.github.com/repos/"
    if not api_url.startswith(prefix):
        return api_url
    return "https://github.com/" + api_url[len(prefix):].replace("/releases/tags/", "/releases/tag/")


def _manual_hint(url: str, root: Path) -> str:
    folder = root / "releases" / "manual"
    return (f"If this machine is offline, download the release zip by hand from {url} and install that "
            f"file by passing its path instead of the URL, or extract it into {folder} and write "
            f"'manual' into {folder.parent.parent / 'CURRENT'}.")


# --- install -------------------------------------------------------------------------------------

def install_release(source_url: str, pack: Pack, root: Path | None = None, version: str | None = None,
                    progress: Progress | None = None, session: requests.Session | None = None) -> Path:
    """Download, verify and activate a release; on any failure the active database is untouched.

    ``source_url`` is a GitHub releases API URL, a direct ``.zip`` URL, or a local zip file
    (for machines without internet). Returns the folder of the newly active release.
    """
    root = Path(root or default_root())
    (root / "releases").mkdir(parents=True, exist_ok=True)
    local = _local_zip(source_url)
    if local is not None:
        return _install_zip(local, source_url, pack, root, downloaded=False)
    if source_url.lower().split("?", 1)[0].endswith(".zip"):
        info = ReleaseInfo(version=version or "unknown", url=source_url)
    else:
        info = _discover(source_url, version, session, root)
    if info.size:
        _check_space(root, info.size, f"the download of {info.url}")
    zip_path = root / "downloads" / _download_name(info.url)
    try:
        download(info.url, zip_path, progress=progress, session=session)
    except FetchError as exc:
        part = zip_path.with_name(zip_path.name + ".part")
        kept = f" The partial download is kept in {part} and resumes on the next try." if part.exists() else ""
        raise ReleaseError(f"{_first_sentence(exc)}.{kept} {_manual_hint(info.url, root)}") from exc
    try:
        return _install_zip(zip_path, info.url, pack, root, downloaded=True)
    finally:
        zip_path.unlink(missing_ok=True)  # installed or refused: either way the zip is not needed again


def _local_zip(source: str) -> Path | None:
    if source.startswith("file://"):
        return Path(unquote(urlparse(source).path))
    if "://" not in source and Path(source).suffix.lower() == ".zip":
        return Path(source)
    return None


def _download_name(url: str) -> str:
    """Stable per URL, so a re-run finds its own ``.part`` file to resume."""
    base = Path(unquote(urlparse(url).path)).name or "release.zip"
    return f"{hashlib.sha256(url.encode()).hexdigest()[:8]}-{base}"


def _first_sentence(exc: Exception) -> str:
    """fetch's own offline advice points at the downloads folder; ours (install by hand) replaces it."""
    return str(exc).split(". If this machine", 1)[0].rstrip(".")


def _install_zip(zip_path: Path, source: str, pack: Pack, root: Path, downloaded: bool) -> Path:
    releases = root / "releases"
    token = secrets.token_hex(4)
    staging = releases / f".staging-{token}"
    try:
        _extract(zip_path, staging, source, root, pack, downloaded)
        manifest = _verify(staging, source, pack)
        final = releases / f"{_safe_version(manifest.get('version'))}-{token}"
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    current = _pointer(root, "CURRENT")
    if current and current != final.name:
        _write_pointer(root, "PREVIOUS", current)
    _write_pointer(root, "CURRENT", final.name)
    _prune(root)
    return final


def _safe_version(version) -> str:
    text = "".join(c if c.isalnum() or c in "._" else "_" for c in str(version or "unknown"))
    return text.strip("._") or "unknown"


def _check_space(root: Path, needed: int, what: str) -> None:
    free = free_bytes(root)
    if needed * SPACE_MARGIN > free:
        raise ReleaseError(f"not enough disk space for {what}: it needs about {needed * SPACE_MARGIN / 1e6:.0f} MB, "
                           f"{free / 1e6:.0f} MB are free on the disk of {root}; free some space and try again "
                           "(the active database was not changed)")


def _extract(zip_path: Path, staging: Path, source: str, root: Path, pack: Pack, downloaded: bool) -> None:
    """Extract only the database files the manifest names, after checking every member's name and
    type and the sizes of those files; a single top-level folder is flattened.

    Anything else in the zip (a stray 1 GB file) is left in the zip, never written to disk.
    """
    try:
        with zipfile.ZipFile(zip_path) as bundle:
            for member in bundle.infolist():
                _check_member(member, source)
            files = {m.filename: m for m in bundle.infolist() if not m.is_dir()}
            prefix = _common_folder(list(files))
            manifest = _zipped_manifest(bundle, files.get(prefix + "manifest.json"), source)
            wanted = _release_files(manifest, pack, source, downloaded)
            members = {name: files[prefix + name] for name in wanted if prefix + name in files}
            _check_sizes(members, manifest, source)
            _check_space(root, sum(m.file_size for m in members.values()), f"extracting {source}")
            staging.mkdir(parents=True)
            for name, member in members.items():
                with bundle.open(member) as src, open(staging / name, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ReleaseError(f"the release from {source} is not a complete zip file ({exc}); "
                           "it was probably cut off: download it again") from exc
    except OSError as exc:
        raise ReleaseError(f"could not extract the release from {source} into {staging}: {exc}") from exc


def _zipped_manifest(bundle: zipfile.ZipFile, member: zipfile.ZipInfo | None, source: str) -> dict:
    if member is None:
        raise ReleaseError(f"refused the release from {source}: required file(s) missing: manifest.json")
    if member.file_size > MAX_MANIFEST_BYTES:
        raise ReleaseError(f"refused the release from {source}: its manifest.json is {member.file_size} bytes")
    try:
        manifest = json.loads(bundle.read(member))
    except ValueError as exc:
        raise ReleaseError(f"refused the release from {source}: manifest.json is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ReleaseError(f"refused the release from {source}: manifest.json is not a JSON object")
    return manifest


def _release_files(manifest: dict, pack: Pack, source: str, downloaded: bool) -> list[str]:
    """The files of a database the engine reads: required ones, the manifest's index files and the
    optional performers.db. A downloaded release must carry a checksum for every index file, or a
    damaged or tampered download could not be told from a good one."""
    try:
        indices = sorted(set(index_files(manifest, pack).values()))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ReleaseError(f"refused the release from {source}: its manifest does not list index files "
                           f"pack {pack.name} can use ({exc!r})") from exc
    if any(not isinstance(name, str) or PurePosixPath(name).name != name or name in ("", ".", "..")
           for name in indices):
        raise ReleaseError(f"refused the release from {source}: its manifest names index files {indices!r}")
    checksums = manifest.get("checksums")
    if downloaded:
        listed = checksums if isinstance(checksums, dict) else {}
        unchecked = [name for name in indices if name not in listed]
        if unchecked:
            raise ReleaseError(f"refused the release from {source}: its manifest has no checksum for "
                               f"{', '.join(unchecked)}, so a damaged or tampered download cannot be detected")
    return [*REQUIRED_FILES, *OPTIONAL_FILES, *indices]


def _check_sizes(members: dict[str, zipfile.ZipInfo], manifest: dict, source: str) -> None:
    """Sizes the manifest states (``sizes``) against what the zip would write, before writing any."""
    sizes = manifest.get("sizes")
    if not isinstance(sizes, dict):
        return
    for name, member in members.items():
        expected = sizes.get(name)
        if expected is not None and member.file_size != expected:
            raise ReleaseError(f"refused the release from {source}: {name} is {member.file_size} bytes in the "
                               f"zip, its manifest says {expected}; download it again")


def _check_member(member: zipfile.ZipInfo, source: str) -> None:
    name = member.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts or not parts:
        raise ReleaseError(f"refused {source}: zip member {name!r} has an unsafe path (absolute or with '..')")
    kind = stat.S_IFMT(member.external_attr >> 16)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        what = "a symbolic link" if kind == stat.S_IFLNK else "not a regular file"
        raise ReleaseError(f"refused {source}: zip member {name!r} is {what}")


def _common_folder(names: list[str]) -> str:
    """"folder/" when every file sits in the same top-level folder (Stash Sense zips are flat)."""
    tops = {n.split("/", 1)[0] + "/" if "/" in n else "" for n in names}
    return tops.pop() if len(tops) == 1 else ""


def _verify(folder: Path, source: str, pack: Pack) -> dict:
    try:
        manifest = read_manifest(folder)
    except DatabaseError as exc:
        raise ReleaseError(f"refused the release from {source}: {exc}") from exc
    try:
        needed = [*REQUIRED_FILES, *index_files(manifest, pack).values()]
    except (KeyError, TypeError, AttributeError) as exc:
        raise ReleaseError(f"refused the release from {source}: its manifest does not list index files "
                           f"pack {pack.name} can use ({exc!r})") from exc
    missing = sorted({name for name in needed if not (folder / name).is_file()})
    if missing:
        raise ReleaseError(f"refused the release from {source}: required file(s) missing: {', '.join(missing)}")
    bad = verify_checksums(folder, _database_checksums(manifest))
    if bad:
        raise ReleaseError(f"refused the release from {source}: sha256 does not match the manifest for "
                           f"{', '.join(bad)} (damaged or tampered download); download it again")
    try:
        load_database(folder, pack)
    except DatabaseError as exc:
        raise ReleaseError(f"refused the release from {source}: {exc}") from exc
    except Exception as exc:  # a corrupt index or JSON file that still matched its (absent) checksum
        raise ReleaseError(f"refused the release from {source}: it does not load "
                           f"({type(exc).__name__}: {exc})") from exc
    return manifest


def _prune(root: Path) -> None:
    """Keep CURRENT, PREVIOUS and at most KEEP_OLD_RELEASES old folders; drop stale staging folders."""
    releases = root / "releases"
    current, previous = _pointer(root, "CURRENT"), _pointer(root, "PREVIOUS")
    now = time.time()
    for folder in releases.glob(".staging-*"):
        if now - folder.stat().st_mtime > STALE_STAGING_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)
    old = sorted((f for f in releases.iterdir() if f.is_dir() and not f.name.startswith(".")
                  and f.name not in (current, previous)), key=lambda f: f.stat().st_mtime, reverse=True)
    room = KEEP_OLD_RELEASES - (1 if previous and (releases / previous).is_dir() else 0)
    for folder in old[max(room, 0):]:
        shutil.rmtree(folder, ignore_errors=True)


# --- after install -------------------------------------------------------------------------------

def rollback(root: Path | None = None) -> Path:
    """Make the previous release active again (and the current one the new PREVIOUS)."""
    root = Path(root or default_root())
    current, previous = _pointer(root, "CURRENT"), _pointer(root, "PREVIOUS")
    if not previous or not (root / "releases" / previous).is_dir():
        raise ReleaseError(f"nothing to roll back to: no previous release is kept in {root / 'releases'}")
    _write_pointer(root, "CURRENT", previous)
    if current:
        _write_pointer(root, "PREVIOUS", current)
    else:
        (root / "PREVIOUS").unlink(missing_ok=True)
    return root / "releases" / previous


def verify_active(root: Path | None = None) -> list[str]:
    """Files of the active release whose sha256 no longer matches its manifest (disk rot, edits)."""
    folder = active_database_path(root)
    if folder is None:
        raise ReleaseError(f"no face database release is installed in {Path(root or default_root())}")
    try:
        manifest = read_manifest(folder)
    except DatabaseError:
        return ["manifest.json"]
    return verify_checksums(folder, _database_checksums(manifest))


def _database_checksums(manifest: dict) -> dict:
    """The manifest with only the checksums of files an install extracts (others stay in the zip)."""
    checksums = manifest.get("checksums")
    if not isinstance(checksums, dict):
        return {**manifest, "checksums": {}}
    embedders = manifest.get("embedders")
    indices = {e.get("index_file") for e in embedders.values() if isinstance(e, dict)} if isinstance(
        embedders, dict) else set(LEGACY_INDEX_FILES.values())
    kept = {*REQUIRED_FILES, *OPTIONAL_FILES, *indices}
    return {**manifest, "checksums": {name: value for name, value in checksums.items() if name in kept}}


def installed_info(root: Path | None = None) -> dict:
    """What is active (version, folder, size on disk) and what a rollback would return to."""
    root = Path(root or default_root())
    folder = active_database_path(root)
    previous = _pointer(root, "PREVIOUS")
    info = {"installed": folder is not None, "version": None, "path": None, "size_bytes": 0,
            "previous": previous if previous and (root / "releases" / previous).is_dir() else None}
    if folder is not None:
        try:
            info["version"] = str(read_manifest(folder).get("version", "unknown"))
        except DatabaseError:
            info["version"] = "unknown"
        info["path"] = str(folder)
        info["size_bytes"] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return info
