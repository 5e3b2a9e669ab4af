"""The demo Stash must not be the O(n^2) part of a whole-library bench (issue 16 item 6).

The bulk task reads 50 galleries at a time (their images, performers and tags). If each such read
scans the whole library (a query per gallery or image, or every row read to keep a few), a
10,000-gallery run spends its time in the demo, not in the plugin. No timing: SQLite's count of
executed virtual-machine steps (``set_progress_handler``) for one request says how much it read.
"""

from __future__ import annotations

import pytest
from PIL import Image

from devtools.demo import objects
from devtools.demo.seed import seed
from devtools.demo.server import DemoStash
from stash_sense.jobs.gallery_reads import GALLERIES_IMAGES

LINKS = ("query L($ids: [ID!]) { findGalleries(ids: $ids, filter: {per_page: -1})"
         " { galleries { id performers { id } tags { id } } } }")


def _library(folder, galleries: int) -> DemoStash:
    folder.mkdir()
    specs = []
    for g in range(galleries):
        paths = []
        for k in range(2):
            path = folder / f"g{g}_{k}.jpg"
            Image.new("RGB", (8, 8), (g % 256, k * 80, 0)).save(path)
            paths.append(str(path))
        specs.append({"title": f"Gallery {g}", "images": paths, "performers": ["Someone"] if g % 3 else []})
    seed(folder / "stash.sqlite", specs, [{"name": "Someone", "local": True}])
    return DemoStash(folder / "stash.sqlite", session=None)


def _vm_steps(monkeypatch, server: DemoStash, query: str, variables: dict) -> int:
    count = 0

    def counting_connect(path):
        conn = connect(path)

        def step() -> int:
            nonlocal count
            count += 1
            return 0

        conn.set_progress_handler(step, 10)
        return conn

    connect = objects.connect
    monkeypatch.setattr(objects, "connect", counting_connect)
    try:
        status, body = server.execute(query, variables)
    finally:
        monkeypatch.setattr(objects, "connect", connect)
    assert status == 200 and not body.get("errors"), body
    return count


@pytest.mark.parametrize("query, variables", [
    (LINKS, {"ids": ["2"]}),  # the write-back's look at a gallery's links before it adds
    (GALLERIES_IMAGES, {"gallery_ids": ["2", "3"], "filter": {"per_page": -1, "sort": "path"}}),  # a batch read
], ids=["links", "batch_of_gallery_images"])
def test_a_request_about_a_few_galleries_costs_the_same_in_a_bigger_library(tmp_path, monkeypatch, query, variables):
    small = _vm_steps(monkeypatch, _library(tmp_path / "small", 20), query, variables)
    large = _vm_steps(monkeypatch, _library(tmp_path / "large", 200), query, variables)
    assert large <= small * 1.2 + 10, (small, large)  # a scan of the library reads 10x the rows
