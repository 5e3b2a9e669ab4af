"""Bulk task building blocks without Stash: sampling, decisions, cache keys and invalidation, ledger."""

from __future__ import annotations

from devtools.demo.server import validate_document
from stash_sense.jobs.cache import EmbeddingCache, file_key
from stash_sense.jobs.decide import decide
from stash_sense.jobs.gallery_reads import GALLERIES_IMAGES, batches
from stash_sense.jobs.ledger import Ledger
from stash_sense.jobs.options import BulkOptions
from stash_sense.jobs.sampling import sample


def test_sample_spreads_over_the_whole_gallery():
    items = list(range(1000))
    picked = sample(items, 200)
    assert len(picked) == 200 and picked == sorted(set(picked))
    assert picked[0] < 5 and picked[-1] > 995  # both ends covered, not the first 200
    assert sample(items[:50], 200) == items[:50]


def test_batched_query_is_valid_against_the_real_schema():
    assert validate_document(GALLERIES_IMAGES) == []
    groups = list(batches([{"id": i, "image_count": 900} for i in range(5)]))
    assert [len(g) for g in groups] == [2, 2, 1]


def _candidate(uid: str, confidence: float) -> dict:
    return {"id": uid, "confidence": confidence, "performer": {"name": uid}}


def test_decide_bands_rejections_and_one_performer_per_person():
    group = {"persons": [
        {"images": ["1"], "identified": _candidate("a", 0.97), "candidates": [_candidate("a", 0.97),
                                                                             _candidate("b", 0.7)]},
        {"images": ["2"], "identified": _candidate("c", 0.6), "candidates": [_candidate("c", 0.6)]},
        {"images": ["3"], "identified": _candidate("d", 0.2), "candidates": [_candidate("d", 0.2)]},
    ]}
    decision = decide(group, auto=0.9, review=0.5, rejected=set())
    assert [m.universal_id for m in decision.add] == ["a"]
    assert [m.universal_id for m in decision.review] == ["c"] and decision.unknown == 1
    rejected = decide(group, auto=0.9, review=0.5, rejected={"a"})  # falls back to its next candidate
    assert [m.universal_id for m in rejected.add] == [] and {m.universal_id for m in rejected.review} == {"b", "c"}


def test_file_key_prefers_stash_fingerprints_then_size_and_mtime(tmp_path):
    image = tmp_path / "x.jpg"
    image.write_bytes(b"pixels")
    with_fp = {"visual_files": [{"path": str(image), "fingerprints": [{"type": "md5", "value": "m"},
                                                                      {"type": "oshash", "value": "o"}]}]}
    assert file_key(with_fp) == "oshash:o"
    plain = {"visual_files": [{"path": str(image), "fingerprints": []}]}
    key = file_key(plain)
    assert key.startswith("stat:") and str(image) in key
    image.write_bytes(b"other pixels")  # size and mtime change: another key
    assert file_key(plain) != key


def test_cache_is_emptied_by_another_engine(tmp_path):
    cache = EmbeddingCache("engine-a", tmp_path / "c.sqlite")
    cache.put_many({"oshash:1": {"image": "1", "faces": []}})
    assert cache.get_many(["oshash:1", "oshash:2"]) == {"oshash:1": {"image": "1", "faces": []}}
    cache.close()
    assert len(EmbeddingCache("engine-a", tmp_path / "c.sqlite")) == 1
    other = EmbeddingCache("engine-b", tmp_path / "c.sqlite")  # pack or recipe changed
    assert other.invalidated and len(other) == 0


def test_signature_tracks_database_and_deciding_settings_only():
    base = BulkOptions()
    assert base.signature("v1") == BulkOptions(force=True, untagged=True).signature("v1")
    assert base.signature("v1") != base.signature("v2")
    assert base.signature("v1") != BulkOptions(auto=0.95).signature("v1")


def test_ledger_resumes_only_the_matching_interrupted_run(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    run = ledger.start_run("bulk_galleries", "sig", "sel", 7)
    ledger.mark("1", "sig", "done", run, {})
    ledger.mark("2", "sig", "failed", run, {})
    assert ledger.interrupted_run("bulk_galleries", "sig", "sel")["journal_run_id"] == 7
    assert ledger.interrupted_run("bulk_galleries", "other", "sel") is None
    assert ledger.done_with("sig") == {"1"} and ledger.done_in(run) == {"1"}
    ledger.finish_run(run, {})
    assert ledger.interrupted_run("bulk_galleries", "sig", "sel") is None
