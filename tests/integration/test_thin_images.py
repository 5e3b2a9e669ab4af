"""A thin image (3000x1, 1x3000, 5000x3) is one per-image error on every path, never a crash.

Scaled onto the detector canvas such a strip is 0 px high; cv2.resize used to abort the whole batch,
so one such file failed an `identify` call, a `db build`, a gallery and, on every bulk run, its gallery.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from conftest import LFW
from PIL import Image
from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)

from devtools.demo.seed import connect
from stash_sense.cli.main import main
from stash_sense.engine.database import load_database

FACE = LFW / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
THIN_SIZES = [(3000, 1), (1, 3000), (5000, 3)]


def thin_jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (180, 140, 120)).save(buffer, "JPEG")
    return buffer.getvalue()


def write_thin(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for width, height in THIN_SIZES:
        path = folder / f"thin_{width}x{height}.jpg"
        path.write_bytes(thin_jpeg(width, height))
        paths.append(path)
    return paths


def test_engine_reports_each_thin_image_and_analyses_the_rest(engine):
    sources = [FACE, *[thin_jpeg(w, h) for w, h in THIN_SIZES], FACE]
    results = engine.analyze(sources)
    assert [r.error is None for r in results] == [True, False, False, False, True]
    # decoding keeps the longest side at most 2048 px: 5000x3 is analysed at 2048x2
    assert [r.error for r in results[1:4]] == [
        f"image too thin to hold a face (analysed at {size} pixels)" for size in ("2048x1", "1x2048", "2048x2")]
    assert len(results[0].usable_faces) == 1 and len(results[4].usable_faces) == 1


def test_cli_identify_keeps_the_good_images(tmp_path, capsys):
    thin = write_thin(tmp_path)
    assert main(["identify", str(FACE), *map(str, thin), str(FACE), "--pack", "test-mbf128"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith(f"{FACE}: 1 face(s)") for line in lines) == 2
    for path in thin:
        assert any(line.startswith(f"{path}: ERROR image too thin") for line in lines), lines


def test_db_build_skips_the_thin_image(tmp_path, capsys, engine):
    people = tmp_path / "people"
    person = people / "Aaron_Peirsol"
    person.mkdir(parents=True)
    for image in sorted((LFW / "Aaron_Peirsol").glob("*.jpg"))[:2]:
        shutil.copy(image, person / image.name)
    write_thin(person)
    db_path = tmp_path / "db"
    assert main(["db", "build", "--from-folder", str(people), "--db", str(db_path), "--pack", "test-mbf128"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("1 identities, 2 faces added, 3 images skipped")
    assert len(load_database(db_path, engine.pack).faces) == 2


def _make_one_blair_image_thin(stash, tmp_path: Path) -> str:
    """Point one "Blair solo" image at a 3000x1 strip in ``tmp_path``; returns its Stash image id.

    The demo Stash records the real paths of ../shared's photos, so the strip is a new file and the
    demo's file row moves to it: ../shared is never written (it once was, and every later test run
    met a "hostile" LFW photo that this test had made)."""
    path = sorted(p for p in stash.ids["images"] if "Tony_Blair" in p)[0]
    thin = tmp_path / "thin" / Path(path).name
    thin.parent.mkdir()
    thin.write_bytes(thin_jpeg(3000, 1))
    conn = connect(stash.server.db_path)
    try:
        conn.execute("UPDATE files SET path = ?, size = ? WHERE path = ?", (str(thin), thin.stat().st_size, path))
    finally:
        conn.close()
    return stash.ids["images"][path]


def test_gallery_identification_reports_the_thin_image_and_finds_the_rest(stash, tmp_path):
    thin_id = _make_one_blair_image_thin(stash, tmp_path)
    out = stash.run({"mode": "identify_gallery", "gallery_id": stash.gallery("Blair solo")}).output
    assert out["errors"] == [{"image": thin_id, "error": "image too thin to hold a face (analysed at 2048x1 pixels)"}]
    assert {p["candidates"][0]["name"] for p in out["persons"] if not p["unknown"]} == {"Tony Blair"}


def test_bulk_task_processes_the_gallery_with_a_thin_image(stash, monkeypatch, tmp_path):
    monkeypatch.setenv("STASH_SENSE_PACK", "test-mbf128")
    _make_one_blair_image_thin(stash, tmp_path)
    run = stash.run({"mode": "bulk_galleries"})
    summary = run.output
    assert summary["failed_galleries"] == [] and summary["errors"] == 1
    assert any("image too thin to hold a face" in line for line in run.logs("w"))
    assert "Tony Blair" in stash.gallery_performers("Blair solo")


@pytest.mark.parametrize("size", THIN_SIZES)
def test_thin_image_as_a_pixel_array(engine, size):
    """Frames and crops reach the engine as arrays, not files: the same check applies."""
    import numpy as np

    width, height = size
    result = engine.analyze([np.zeros((height, width, 3), np.uint8)], names=["frame"])[0]
    assert result.error and "too thin" in result.error
