"""Photos from 100 MP cameras are identified; declared sizes past the limit are still refused.

Pillow's decompression-bomb warning fires from 89.5 MP, before the project's own 120 MP limit, and
refused a 96 MP (12000x8000) or GFX100-size (11648x8736) JPEG. They are decoded at reduced size
(JPEG draft), and full-size decodes (PNG) share a memory budget across the engine's threads.
"""

from __future__ import annotations

import io
import struct
import threading
import zlib

import numpy as np
import pytest
from conftest import LFW
from PIL import Image

from stash_sense.engine import ImageDecodeError, load_rgb
from stash_sense.engine.imageio import DecodeBudget

FACE = LFW / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"


def big_jpeg(width: int, height: int) -> bytes:
    """The LFW face upscaled to 2400 px and pasted into a large grey photo."""
    canvas = Image.new("RGB", (width, height), (118, 124, 131))
    canvas.paste(Image.open(FACE).convert("RGB").resize((2400, 2400)), (width // 3, height // 4))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@pytest.mark.parametrize("size", [(12000, 8000), (11648, 8736)])
def test_100_megapixel_jpeg_is_identified(engine, size):
    data = big_jpeg(*size)
    assert size[0] * size[1] > Image.MAX_IMAGE_PIXELS  # past Pillow's warning threshold
    big, small = engine.analyze([data, FACE], names=["big", "small"])
    assert big.error is None, big.error
    assert max(big.size) == 2048 and len(big.usable_faces) == 1
    similarity = float(np.dot(big.usable_faces[0].embeddings["mbf128"], small.usable_faces[0].embeddings["mbf128"]))
    assert similarity > 0.7, similarity  # the same face, not just a face


def png_claiming(width: int, height: int) -> bytes:
    """A few-hundred-byte PNG whose header claims ``width`` x ``height`` RGB pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(300)))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("size", [(50000, 50000), (11000, 11000)])  # Pillow's hard limit; then only ours
def test_tiny_file_claiming_a_huge_image_is_refused(size):
    data = png_claiming(*size)
    assert len(data) < 1000
    with pytest.raises(ImageDecodeError, match="too large to decode safely"):
        load_rgb(data)


def test_large_png_is_decoded_reduced_to_the_analysis_size():
    canvas = Image.new("RGB", (9000, 6000), (118, 124, 131))
    canvas.paste(Image.open(FACE).convert("RGB").resize((1800, 1800)), (3000, 2000))
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG", compress_level=1)
    rgb = load_rgb(buffer.getvalue())
    assert rgb.shape == (1365, 2048, 3)


def test_decode_budget_lets_no_more_than_its_limit_decode_at_once():
    """Four decodes asked for at once: while they hold their pixels, never more than the budget (one
    larger than the whole budget holds it alone)."""
    budget = DecodeBudget(limit=100)
    held, seen, lock = [0], [], threading.Lock()
    release = threading.Event()

    def decode(size: int) -> None:
        with budget.hold(size):
            with lock:
                held[0] += size
                seen.append(held[0])
            release.wait(10)
            with lock:
                held[0] -= size

    threads = [threading.Thread(target=decode, args=(size,)) for size in (60, 60, 500, 30)]
    for thread in threads:
        thread.start()
    threading.Event().wait(0.3)  # let every thread that can get in do so (no assertion on time)
    release.set()
    for thread in threads:
        thread.join()
    assert len(seen) == 4 and all(total <= 100 or total == 500 for total in seen), seen  # 500: alone
    assert budget.used == 0


def test_low_memory_mode_has_the_small_decode_budget(monkeypatch):
    """The plugin's "Low memory" setting reaches decoding even when set after the engine is imported."""
    from stash_sense.engine import imageio

    monkeypatch.setenv("STASH_SENSE_MEMORY", "low")
    assert imageio._decoding().limit == imageio.LOW_MEMORY_DECODE_BYTES
    monkeypatch.setenv("STASH_SENSE_MEMORY", "full")
    assert imageio._decoding().limit == imageio.DECODE_BYTES > imageio.LOW_MEMORY_DECODE_BYTES
