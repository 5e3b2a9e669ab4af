"""Whole libraries (issue 16 item 6): per-gallery bookkeeping must not grow with the library.

No timing here: SQLite's count of executed virtual-machine steps (``set_progress_handler``) says
whether a lookup reads a few rows through an index or scans the whole journal, exactly and on any
machine.
"""

from __future__ import annotations

import time

import pytest

from stash_sense.library.journal import Journal


def _journal_of(path, galleries: int) -> Journal:
    """A journal as a bulk run over ``galleries`` galleries leaves it: a performer and a tag each."""
    journal = Journal(path)
    run = journal.start_run("bulk")
    now = time.time()
    rows = [(run, "gallery", str(g), field, "[\"7\"]", "[]", "done", now)
            for g in range(1, galleries + 1) for field in ("performer", "tag")]
    with journal.transaction():
        journal.db.executemany("INSERT INTO mutations (run_id, target_type, target_id, field, added, before, status,"
                               " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    journal.finish_run(run)
    journal.start_run("bulk")  # a later run (undo of the first asks whether this one shares its targets)
    return journal


def _vm_steps(journal: Journal, call) -> int:
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    journal.db.set_progress_handler(count, 10)
    try:
        call()
    finally:
        journal.db.set_progress_handler(None, 0)
    return steps


@pytest.mark.parametrize("lookup", [
    lambda j: j.other_live_run_on("gallery", "42", 2),  # once per tag mutation in undo and its preview
    lambda j: j.mutations(2),  # resume, undo and the runs page read one run's mutations
    lambda j: j.last_undoable_run(),  # "Undo last bulk run"
], ids=["other_live_run_on", "mutations_of_a_run", "last_undoable_run"])
def test_journal_lookups_do_not_scan_the_whole_journal(tmp_path, lookup):
    small = _journal_of(tmp_path / "small.sqlite", 200)
    large = _journal_of(tmp_path / "large.sqlite", 4000)
    try:
        small_steps, large_steps = _vm_steps(small, lambda: lookup(small)), _vm_steps(large, lambda: lookup(large))
    finally:
        small.close()
        large.close()
    # a scan reads 20x the rows in the large journal; an index lookup reads the same few in both
    assert large_steps <= 2 * small_steps + 5, (small_steps, large_steps)


class _Clock:
    """``time`` for the library index: monotonic() is what the test says."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()


def test_library_index_saves_less_often_as_a_save_gets_dearer(tmp_path, monkeypatch):
    """A save writes the whole index: at a fixed one-minute interval a run over a big library would
    spend ever more of its time saving (O(faces^2) over the run). The interval follows the cost."""
    from types import SimpleNamespace

    from stash_sense.engine.face_index import FaceIndex, Layout
    from stash_sense.jobs import library_index
    from stash_sense.jobs.cache import EmbeddingCache

    clock = _Clock()
    monkeypatch.setattr(library_index, "time", clock)
    index = library_index.LibraryIndex("engine", Layout({"e": 4}, {"e": 1.0}), tmp_path / "index",
                                       EmbeddingCache("engine", tmp_path / "cache.sqlite"))
    saves: list[float] = []
    real_save = FaceIndex.save

    def slow_save(self, folder, state):  # as a save of a big index would: 10 s
        saves.append(clock.now)
        clock.now += 10.0
        return real_save(self, folder, state)

    monkeypatch.setattr(FaceIndex, "save", slow_save)
    run = SimpleNamespace(library_index=index, kind=SimpleNamespace(target="gallery"),
                          options=SimpleNamespace(review=0.5),
                          summary=SimpleNamespace(processed=0, skipped=0, failed=[], selected=10**6))

    def one_gallery(gallery_id: int, after_seconds: float) -> None:
        clock.now += after_seconds
        library_index.record(run, {"id": gallery_id}, SimpleNamespace(group={}, results=[], cache_keys={}))
        run.summary.processed += 1

    index.save()  # took 10 s
    one_gallery(1, 61.0)  # a minute later: a 10 s save now would be 1/7 of the run
    assert len(saves) == 1
    one_gallery(2, 140.0)  # 201 s after the last save: 10 s is under 1/20 of it
    assert len(saves) == 2
    index.close()
