"""The data folder and the journal, ledger and embedding cache are readable by their owner only."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from stash_sense.jobs.cache import EmbeddingCache
from stash_sense.jobs.ledger import Ledger
from stash_sense.library.journal import Journal

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_fresh_data_folder_and_files_are_private(isolated_data_dir):
    old = os.umask(0o022)  # the usual umask: new files 0644, folders 0755
    try:
        journal, ledger, cache = Journal(), Ledger(), EmbeddingCache("fingerprint")
        journal.reject("gallery", "1", "stashdb.org:x")  # a write: the WAL file exists now
    finally:
        os.umask(old)
    assert mode(isolated_data_dir) == 0o700
    files = sorted(p.name for p in isolated_data_dir.iterdir())
    assert {"journal.sqlite", "bulk.sqlite", "embeddings.sqlite", "journal.sqlite-wal"} <= set(files)
    assert {name: mode(isolated_data_dir / name) for name in files} == {name: 0o600 for name in files}
    for store in (journal, ledger, cache):
        store.close()


def test_files_of_an_older_version_are_made_private(isolated_data_dir):
    isolated_data_dir.mkdir(mode=0o755)
    os.chmod(isolated_data_dir, 0o755)
    Journal().close()
    os.chmod(isolated_data_dir / "journal.sqlite", 0o644)
    Journal().close()
    assert mode(isolated_data_dir) == 0o700 and mode(isolated_data_dir / "journal.sqlite") == 0o600
