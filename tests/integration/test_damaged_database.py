"""A damaged face database is a clear error, never a crashed process.

A corpus of damaged index files is made from a real small database (byte flips at every header
offset, truncations, zero-filled and empty files, extra bytes, a damaged link inside the graph).
Loads that might crash run in child processes: first Voyager's own loader, to show which of these
files kill a process, then ``load_database``, which must turn every one of them into an error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LFW, REPO

from stash_sense.engine.builder import build_database
from stash_sense.engine.database import DatabaseError, load_database
from stash_sense.engine.disk_vectors import HEADER_BYTES, read_header
from stash_sense.engine.index_file import DAMAGED, STAMP

INDEX = "face_mbf128.voy"
PEOPLE = ["Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder"]


@pytest.fixture(scope="module")
def small_db(engine, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("damaged") / "db"
    identities = {f"local:{p}": sorted((LFW / p).glob("*.jpg"))[:4] for p in PEOPLE}
    build_database(engine, identities, {uid: {"name": uid} for uid in identities}, out)
    return out


def damaged_variants(data: bytes, record: int, count: int) -> dict[str, bytes]:
    """Every way of damaging one index file this test tries, by name."""
    variants = {}
    for offset in range(HEADER_BYTES):
        for mask in (0x01, 0xFF):
            flipped = bytearray(data)
            flipped[offset] ^= mask
            variants[f"flip-{offset}-{mask:#04x}"] = bytes(flipped)
    for size in (0, 1, 4, 18, 19, 50, HEADER_BYTES - 1, HEADER_BYTES, HEADER_BYTES + record // 2,
                 HEADER_BYTES + record, HEADER_BYTES + count * record, len(data) - 4, len(data) - 1):
        variants[f"truncated-{size}"] = data[:size]
    variants["zeros"] = bytes(len(data))
    variants["extra-bytes"] = data + bytes(64)
    variants["links-out-of-range"] = links_out_of_range(data, record, count)
    return variants


def links_out_of_range(data: bytes, record: int, count: int) -> bytes:
    """Every level-0 neighbour id pointing far past the end: the header is intact, the file loads,
    and the first search reads outside the index."""
    damaged = bytearray(data)
    for element in range(count):
        base = HEADER_BYTES + element * record
        links = int.from_bytes(damaged[base:base + 2], "little")
        for j in range(links):
            damaged[base + 4 + 4 * j:base + 8 + 4 * j] = (0x7FFFFFF0).to_bytes(4, "little")
    return bytes(damaged)


def make_corpus(small_db: Path, root: Path, keep_index_checksum: bool) -> dict[str, Path]:
    """One database folder per variant of its index file."""
    data = (small_db / INDEX).read_bytes()
    header = read_header(small_db / INDEX)
    folders = {}
    for name, content in damaged_variants(data, header.record, header.count).items():
        folder = root / name
        shutil.copytree(small_db, folder)
        (folder / STAMP).unlink(missing_ok=True)
        (folder / INDEX).write_bytes(content)
        if not keep_index_checksum:  # as in a release whose manifest lists no checksum for it
            manifest = json.loads((folder / "manifest.json").read_text())
            del manifest["checksums"][INDEX]
            (folder / "manifest.json").write_text(json.dumps(manifest))
        folders[name] = folder
    return folders


RAW_LOAD = """
import sys
import numpy as np
from voyager import Index
for path in sys.argv[1:]:
    print(path, flush=True)
    try:
        index = Index.load(path)
        if len(index):
            index.query(np.asarray(index.get_vectors(list(index.ids)[:8]), np.float32), k=min(4, len(index)))
    except Exception:
        pass
    print("survived", flush=True)
"""

LOAD_DATABASE = """
import json, sys
from pathlib import Path
from stash_sense.engine.database import DatabaseError, load_database
from stash_sense.engine.packs import load_pack
pack = load_pack("test-mbf128")
for folder in sys.argv[1:]:
    try:
        db = load_database(Path(folder), pack)
        outcome, message = "loaded", None
        db.close()
    except DatabaseError as exc:
        outcome, message = "error", str(exc)
    except Exception as exc:
        outcome, message = "unclear", f"{type(exc).__name__}: {exc}"
    print(json.dumps({"folder": folder, "outcome": outcome, "message": message}), flush=True)
"""


def run_child(script: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                          timeout=600)


def raw_crashes(files: list[str]) -> set[str]:
    """The files whose load (and one search) by Voyager itself kills the process."""
    crashed, todo = set(), list(files)
    while todo:
        done = run_child(RAW_LOAD, todo)
        lines = done.stdout.split()
        finished = sum(line == "survived" for line in lines)
        if done.returncode == 0:
            break
        assert done.returncode < 0, done.stderr  # killed by a signal, not a Python error
        crashed.add(todo[finished])
        todo = todo[finished + 1:]
    return crashed


def load_outcomes(folders: list[Path]) -> dict[str, dict]:
    done = run_child(LOAD_DATABASE, [str(f) for f in folders])
    assert done.returncode == 0, f"load_database crashed its process: {done.returncode} {done.stderr[-2000:]}"
    outcomes = {Path(row["folder"]).name: row for row in map(json.loads, done.stdout.splitlines())}
    assert len(outcomes) == len(folders)
    return outcomes


def test_every_damaged_index_is_a_clear_error_never_a_crash(small_db, tmp_path):
    corpus = make_corpus(small_db, tmp_path / "with-checksums", keep_index_checksum=True)
    crashing = raw_crashes([str(folder / INDEX) for folder in corpus.values()])
    names = sorted(Path(f).parent.name for f in crashing)
    print(f"{len(crashing)} of {len(corpus)} damaged files crash Voyager's loader or first search: {names}")
    # e.g. hnswlib's label_offset (byte 51..58) and offsetData (59..66): the corpus does hold crashes
    assert {"flip-54-0x01", "flip-62-0x01", "links-out-of-range"} <= set(names)

    outcomes = load_outcomes(list(corpus.values()))
    for name, row in outcomes.items():
        assert row["outcome"] == "error" and row["message"].startswith(DAMAGED), (name, row)


def test_without_a_checksum_the_header_checks_and_trial_load_still_catch_every_crash(small_db, tmp_path):
    """A manifest without the index's sha256: a flip of a field the loader does not depend on may load,
    but every file that crashes Voyager is refused with a clear error."""
    corpus = make_corpus(small_db, tmp_path / "without", keep_index_checksum=False)
    crashing = {Path(f).parent.name for f in raw_crashes([str(folder / INDEX) for folder in corpus.values()])}
    outcomes = load_outcomes(list(corpus.values()))
    assert all(row["outcome"] in ("loaded", "error") for row in outcomes.values()), [
        row for row in outcomes.values() if row["outcome"] not in ("loaded", "error")]
    for name in crashing:
        assert outcomes[name]["outcome"] == "error", (name, outcomes[name])
        assert outcomes[name]["message"].startswith(DAMAGED)
    assert "crashed a test process" in outcomes["links-out-of-range"]["message"]  # the trial load caught it
    loaded = sorted(name for name, row in outcomes.items() if row["outcome"] == "loaded")
    print(f"loaded despite the flip: {loaded}")
    # maxNorm (unused for Cosine), spare capacity (max_elements within bounds), and mult and
    # ef_construction (used only when adding faces, within plausible values)
    harmless = {*range(14, 18), *range(27, 35), *range(99, 115)}
    assert all(name.startswith("flip-") and int(name.split("-")[1]) in harmless for name in loaded), loaded


@pytest.mark.parametrize("content", ["[1, 2, 3]", '{"0": "local:x"}', "42", '[["local:x"]]', "not json"])
def test_faces_json_that_is_not_a_list_of_ids_is_a_damaged_database(small_db, tmp_path, engine, content):
    folder = shutil.copytree(small_db, tmp_path / "db")
    (folder / "faces.json").write_text(content)
    with pytest.raises(DatabaseError, match=f"^{DAMAGED}.*faces.json"):
        load_database(folder, engine.pack)


def test_performers_json_that_is_not_an_object_of_records_is_a_damaged_database(small_db, tmp_path, engine):
    folder = shutil.copytree(small_db, tmp_path / "db")
    (folder / "performers.json").write_text('["local:x"]')
    with pytest.raises(DatabaseError, match=f"^{DAMAGED}.*performers.json"):
        load_database(folder, engine.pack)


def test_manifest_that_is_not_an_object_is_a_damaged_database(small_db, tmp_path, engine):
    folder = shutil.copytree(small_db, tmp_path / "db")
    (folder / "manifest.json").write_text("[]")
    with pytest.raises(DatabaseError, match=f"^{DAMAGED}.*manifest.json is not a JSON object"):
        load_database(folder, engine.pack)
