"""A full disk (issue 21, weak spot): the message names the folder and the space needed, and an
identify click still answers when its suggestions cannot be stored. The disk is a real, small
tmpfs filled to the last byte (mounting needs root; skipped elsewhere)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from plugin_env import *  # noqa: F403  (fixtures: empty_stash, reference_db)

from stash_sense.library.journal import Journal


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk) -> None:
    """Write until the disk refuses another byte."""
    with open(disk / "filler", "wb", buffering=0) as out:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError:
                pass
    assert shutil.disk_usage(disk).free == 0


def test_a_bulk_run_on_a_full_disk_names_the_folder_and_the_space_needed(empty_stash, small_disk):
    data = small_disk / "data"
    data.mkdir()
    fill(small_disk)
    run = empty_stash.run({"mode": "bulk_galleries"}, env={"STASH_SENSE_DATA_DIR": str(data)})
    assert run.error.startswith(f"The disk holding {data} is full (0 bytes free). Stash Sense needs at least "
                                "200.0 MiB free there"), run.error


def test_an_identify_click_on_a_full_disk_still_answers(empty_stash, reference_db, small_disk, monkeypatch):
    data = small_disk / "data"
    shutil.copytree(reference_db, data / "local_db")
    monkeypatch.setenv("STASH_SENSE_DATA_DIR", str(data))
    Journal().close()  # the journal exists (any earlier click or task made it)
    fill(small_disk)
    image = next(i for p, i in sorted(empty_stash.ids["images"].items()) if "Tony_Blair_0006" in p)
    run = empty_stash.run({"mode": "identify_image", "image_id": image}, env={"STASH_SENSE_PACK": "test-mbf128"})
    persons = run.output["persons"]
    assert [c["name"] for c in persons[0]["candidates"]][:1] == ["Tony Blair"]
    assert any(f"The disk holding {data} is full" in line for line in run.logs("w")), run.logs()
