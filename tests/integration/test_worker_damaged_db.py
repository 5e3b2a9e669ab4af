"""A native crash on a damaged index takes down at most the worker, never the plugin.

The damage here is bit rot: the graph links of an index that was already checked and used change in
place (same size, mtime and inode), so neither the header checks nor the once-per-change trial load
see it, and Voyager segfaults on the first search. The worker dies, a fresh one dies on the resent
request too, and the plugin reports a damaged database instead of loading it in its own process.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import LFW
from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)

from stash_sense.contracts import DAMAGED_DATABASE
from stash_sense.engine.builder import build_database
from stash_sense.engine.database import load_database
from stash_sense.engine.disk_vectors import HEADER_BYTES, read_header
from stash_sense.engine.index_file import DAMAGED
from stash_sense.service import ServiceError, get_service, launcher

PACK = "test-mbf128"
PEOPLE = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld"]


def rot_links_in_place(index: Path) -> None:
    """Every level-0 neighbour id points far past the end; size, mtime and inode stay the same."""
    before = index.stat()
    header = read_header(index)
    with open(index, "r+b") as handle:
        for element in range(header.count):
            base = HEADER_BYTES + element * header.record
            handle.seek(base)
            links = int.from_bytes(handle.read(2), "little")
            handle.seek(base + 4)
            handle.write((0x7FFFFFF0).to_bytes(4, "little") * links)
    os.utime(index, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = index.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


def rotted_database(folder: Path, engine) -> None:
    """A database loaded once (checked, trial-loaded and stamped), then rotted."""
    identities = {f"local:{p}": sorted((LFW / p).glob("*.jpg"))[:3] for p in PEOPLE}
    build_database(engine, identities, {uid: {"name": uid} for uid in identities}, folder)
    load_database(folder, engine.pack).close()
    rot_links_in_place(folder / "face_mbf128.voy")


@pytest.fixture
def worker_on(monkeypatch, isolated_data_dir):
    monkeypatch.delenv("STASH_SENSE_WORKER", raising=False)
    monkeypatch.setenv("STASH_SENSE_WORKER_IDLE", "60")
    yield
    if isolated_data_dir.is_dir():
        launcher.stop_worker(PACK)


def test_the_worker_and_the_engine_name_the_damage_alike():
    assert DAMAGED_DATABASE == DAMAGED


def test_worker_crash_on_a_damaged_index_is_an_error_not_an_in_process_load(isolated_data_dir, engine, worker_on):
    rotted_database(isolated_data_dir / "local_db", engine)
    probe = sorted((LFW / PEOPLE[0]).glob("*.jpg"))[5]
    with get_service(PACK) as service:
        assert service.mode == "worker"
        with pytest.raises(ServiceError, match=f"crashed twice.*{DAMAGED}"):
            service.identify([(probe.name, str(probe))])
        assert service.mode == "worker"  # not fallen back: this process never loaded the index


def test_plugin_reports_the_damaged_database_and_survives(stash, engine, worker_on):
    shutil.rmtree(stash.data_dir / "local_db")
    rotted_database(stash.data_dir / "local_db", engine)
    run = stash.run({"mode": "identify_gallery", "gallery_id": stash.gallery("Blair solo")})
    assert run.returncode == 0
    assert DAMAGED in run.error, run.error
    assert "Stash Sense failed" not in run.error, run.error
    print(run.error, file=sys.stderr)


def test_worker_killed_by_a_signal_while_starting_is_not_replaced_by_an_in_process_load(monkeypatch, worker_on):
    """The worker loads its databases before it answers; dying of SIGSEGV then means that load
    crashes natively, and this process must not try the same load."""
    monkeypatch.setattr(launcher, "WORKER_COMMAND", [
        sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    with pytest.raises(ServiceError, match=f"crashed while loading \\(signal 11\\); {DAMAGED}"):
        get_service(PACK)
