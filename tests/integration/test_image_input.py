"""Every kind of awkward image file yields faces or a clear per-image error, never a crash."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import pytest
from conftest import LFW
from PIL import Image

from stash_sense.engine import ImageDecodeError, load_rgb

FACE = LFW / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"


def _face_image() -> Image.Image:
    return Image.open(FACE).convert("RGB")


def _save(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@cache
def _variants() -> dict[str, bytes]:
    face = _face_image()
    rotated = face.rotate(90, expand=True)  # stored sideways, EXIF says "rotate back"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: the viewer rotates 90° clockwise
    sixteen = Image.fromarray(np.asarray(face.convert("L"), np.uint16) * 257)
    rgba = face.convert("RGBA")
    rgba.putalpha(255)
    frames = [face, Image.new("RGB", face.size, (255, 0, 0))]
    return {
        "grayscale.jpg": _save(face.convert("L"), "JPEG"),
        "cmyk.jpg": _save(face.convert("CMYK"), "JPEG"),
        "16bit.png": _save(sixteen, "PNG"),
        "alpha.png": _save(rgba, "PNG"),
        "palette.png": _save(face.convert("P"), "PNG"),
        "animated.gif": _save(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "animated.webp": _save(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "exif_rotated.jpg": _save(rotated, "JPEG", exif=exif),
        "huge.jpg": _save(face.resize((5000, 5000)), "JPEG", quality=70),
    }


@pytest.mark.parametrize("name", sorted(_variants()))
def test_awkward_but_valid_images_still_give_the_face(engine, name):
    data = _variants()[name]
    result = engine.analyze([data], names=[name])[0]
    assert result.error is None
    assert len(result.usable_faces) == 1, (name, [f.to_dict() for f in result.faces])
    assert max(result.size) <= 2048


def test_exif_orientation_is_honoured():
    data = _variants()["exif_rotated.jpg"]
    assert load_rgb(data).shape[:2] == (250, 250)
    assert np.abs(load_rgb(data).astype(int) - load_rgb(FACE).astype(int)).mean() < 8


def _bomb() -> bytes:
    return _save(Image.new("1", (11_500, 11_500)), "PNG")


@pytest.mark.parametrize("data,message", [
    (b"", "empty file"),
    (b"this is not an image", "not a recognised image format"),
    (FACE.read_bytes()[:2000], "corrupt or truncated"),
    (_bomb(), "too large to decode safely"),
])
def test_bad_files_give_clear_errors(data, message):
    with pytest.raises(ImageDecodeError, match=message):
        load_rgb(data)


def test_a_bad_image_does_not_spoil_the_batch(engine, tmp_path):
    missing = tmp_path / "gone.jpg"
    results = engine.analyze([FACE, b"", FACE.read_bytes()[:2000], missing, FACE])
    assert [r.error is None for r in results] == [True, False, False, False, True]
    assert "cannot read file" in results[3].error
    assert len(results[0].usable_faces) == 1 and len(results[4].usable_faces) == 1
    np.testing.assert_allclose(results[0].faces[0].embeddings["mbf128"], results[4].faces[0].embeddings["mbf128"])
