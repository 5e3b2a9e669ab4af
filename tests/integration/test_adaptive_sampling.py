"""Adaptive sampling's stop rule on real LFW galleries with the real test-mbf128 models."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LFW

from stash_sense.engine.builder import build_database
from stash_sense.engine.database import load_database
from stash_sense.engine.identify import Identifier
from stash_sense.engine.imageio import load_rgb
from stash_sense.jobs.adaptive import FLOOR, PATIENCE, StopRule, identify_adaptively, spread_order
from stash_sense.service.wire import to_plain

ENROLLED = ["Tony_Blair", "Colin_Powell", "Gerhard_Schroeder", "Jacques_Chirac", "Laura_Bush"]


def _images(name: str) -> list:
    return sorted((LFW / name).glob("*.jpg"))


def _gallery(name: str, start: int, variants: int) -> list[tuple[str, np.ndarray]]:
    """LFW has at most 24 images a person: a long gallery repeats them mirrored and cropped
    (other pixels of the same person, as a photo set is)."""
    out = []
    for variant in range(variants):
        for path in _images(name)[start:]:
            rgb = load_rgb(path)
            if variant % 2:
                rgb = rgb[:, ::-1]
            margin = 6 * (variant // 2)
            out.append((f"{path}#{variant}", np.ascontiguousarray(rgb[margin:rgb.shape[0] - margin,
                                                                      margin:rgb.shape[1] - margin])))
    return out


@pytest.fixture(scope="module")
def identifier(engine, tmp_path_factory):
    enrolled = {f"local:{name}": _images(name)[:2] for name in ENROLLED}
    path = tmp_path_factory.mktemp("adaptive") / "db"
    build_database(engine, enrolled, {}, path)
    return Identifier(engine, [load_database(path, engine.pack)])


def _run(identifier, images: list, rule: StopRule) -> tuple[dict, int]:
    analysed = []

    def analyse(batch: list) -> None:
        analysed.extend(identifier.engine.analyze([pixels for _, pixels in batch], names=[n for n, _ in batch]))

    def identify() -> dict:
        return to_plain(identifier.identify_results(analysed).to_dict())

    return identify_adaptively(rule.cut(spread_order(images)), rule, analyse, identify)


def _tagged(group: dict, auto: float) -> set[str]:
    return {p["identified"]["id"] for p in group["persons"]
            if p["identified"] and p["identified"]["confidence"] >= auto and not p["incidental"]}


def test_one_performer_gallery_stops_early_with_the_same_tags(identifier):
    images = _gallery("Tony_Blair", 2, 3)  # 66 images
    auto = identifier.calibration.auto_threshold
    rule = StopRule(auto=auto, review=identifier.calibration.review_threshold, ceiling=200)
    adaptive, used = _run(identifier, images, rule)
    full, everything = _run(identifier, images, StopRule(auto=2.0, review=0.0, ceiling=200))  # never decided
    assert everything == len(images)
    assert used == FLOOR + PATIENCE
    assert _tagged(adaptive, auto) == _tagged(full, auto) == {"local:Tony_Blair"}


def test_a_performer_only_at_the_end_of_the_gallery_is_still_found(identifier):
    """Spread order reaches the last stretch of the gallery in the first round, not at image 40."""
    images = _gallery("Tony_Blair", 2, 2) + _gallery("Colin_Powell", 2, 1)[:8]  # 52 images, Powell last
    auto = identifier.calibration.auto_threshold
    rule = StopRule(auto=auto, review=identifier.calibration.review_threshold, ceiling=200)
    adaptive, used = _run(identifier, images, rule)
    assert used < len(images)
    assert _tagged(adaptive, auto) == {"local:Tony_Blair", "local:Colin_Powell"}


def test_an_undecided_gallery_runs_to_the_ceiling():
    rule = StopRule(auto=0.9, review=0.5, floor=4, patience=2, ceiling=10)
    review_person = {"persons": [{"incidental": False, "identified": {"id": "x", "confidence": 0.7}}]}
    calls = []
    group, used = identify_adaptively(rule.cut(list(range(30))), rule, calls.append, lambda: review_person)
    assert used == 10 and [len(c) for c in calls] == [4, 2, 2, 2]


def test_spread_order_visits_every_image_once_and_every_prefix_spreads():
    order = spread_order(list(range(100)))
    assert sorted(order) == list(range(100))
    assert {i // 25 for i in order[:4]} == {0, 1, 2, 3}
    assert {i // 10 for i in order[:16]} == set(range(10))
