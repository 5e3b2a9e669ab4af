"""Reading the file dicts Stash returns (``files`` / ``visual_files`` of images and scenes).

Pure helpers on the answers, no requests: the cache keys and the image source use them without a
client.
"""

from __future__ import annotations


def is_zip_member(file: dict) -> bool:
    """The file lives inside a zip (its path is not a real file): ``zip_file_id`` on every Stash
    version, ``zip_file`` as newer Stash also answers."""
    return bool(file.get("zip_file_id") or file.get("zip_file"))


def fingerprint(file: dict, fp_type: str) -> str | None:
    """Value of one fingerprint (``md5``, ``oshash``, ``phash``) of a file dict, if present."""
    for fp in file.get("fingerprints") or []:
        if fp.get("type") == fp_type:
            return fp.get("value")
    return None
