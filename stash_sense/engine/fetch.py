"""Resumable, verified HTTP downloads (models and face databases).

A download goes to ``<dest>.part``; an interrupted one resumes with an HTTP Range request; the
file only gets its final name after its sha256 matched, so a partial or tampered download can
never be mistaken for a good file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import requests

CHUNK = 1 << 16
Progress = Callable[[int, int | None], None]


class FetchError(RuntimeError):
    """A download that did not produce a verified file; the message names URL and folder."""


def download(url: str, dest: Path, sha256: str | None = None, progress: Progress | None = None,
             timeout: float = 30.0, session: requests.Session | None = None) -> Path:
    """Fetch ``url`` into ``dest`` (resuming ``dest.part``), verify, then rename into place."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    http = session or requests.Session()
    try:
        _stream_to(http, url, part, progress, timeout)
    except requests.RequestException as exc:
        raise FetchError(
            f"could not download {url} ({_reason(exc)}). If this machine is offline, download it "
            f"elsewhere and put the file at {dest} (folder {dest.parent})."
        ) from exc
    if sha256:
        actual = file_sha256(part)
        if actual != _bare_hex(sha256):
            part.unlink(missing_ok=True)
            raise FetchError(f"checksum mismatch for {url}: expected {_bare_hex(sha256)}, got {actual}; "
                             "the partial file was discarded")
    os.replace(part, dest)
    return dest


def _stream_to(http: requests.Session, url: str, part: Path, progress: Progress | None,
               timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with http.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if response.status_code == 416:  # we already hold the whole file
            return
        response.raise_for_status()
        resumed = response.status_code == 206
        if not resumed:
            have = 0
        total = _total_size(response, have)
        with open(part, "ab" if resumed else "wb") as out:
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                have += len(chunk)
                if progress:
                    progress(have, total)
        if total is not None and have < total:
            raise requests.ConnectionError(f"connection closed after {have} of {total} bytes")


def _total_size(response: requests.Response, offset: int) -> int | None:
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def _bare_hex(checksum: str) -> str:
    """Accept both "sha256:<hex>" (Stash Sense manifests) and bare hex."""
    return checksum.split(":", 1)[1].lower() if ":" in checksum else checksum.lower()


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached per (path, size, mtime) for the life of the process."""
    stat = Path(path).stat()
    return _sha256_cached(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_matches(path: Path, expected: str) -> bool:
    return file_sha256(path) == _bare_hex(expected)
