"""An image of extreme proportions (a 1 x 3000 strip, as found among real files) is analysed like any
other: no face, no exception, so the rest of its gallery is not lost with it."""

from __future__ import annotations

import numpy as np
from conftest import LFW


def test_a_one_pixel_high_strip_does_not_fail_its_batch(engine, tmp_path):
    import cv2

    strip = tmp_path / "strip.png"
    cv2.imwrite(str(strip), np.full((1, 3000, 3), 128, np.uint8))
    face = sorted((LFW / "Hans_Blix").glob("*.jpg"))[0]
    results = engine.analyze([strip, face])
    assert results[0].error is None and results[0].faces == []
    assert len(results[1].usable_faces) >= 1
