"""Packs outside the shipped folder (``STASH_SENSE_EXTRA_PACKS``): the benches' replica pack must
load by name in every process (worker, bulk cache fingerprint) as a shipped pack does."""

from __future__ import annotations

import json

import pytest

from stash_sense.engine.packs import PACK_DIR, available_packs, load_pack


def test_a_pack_in_an_extra_folder_loads_by_name_and_only_with_the_folder_set(tmp_path, monkeypatch):
    spec = json.loads((PACK_DIR / "test-mbf128.json").read_text())
    (tmp_path / "bench-extra.json").write_text(json.dumps({**spec, "name": "bench-extra"}))
    monkeypatch.delenv("STASH_SENSE_EXTRA_PACKS", raising=False)
    with pytest.raises(ValueError, match="unknown model pack 'bench-extra'"):
        load_pack("bench-extra")
    monkeypatch.setenv("STASH_SENSE_EXTRA_PACKS", str(tmp_path))
    pack = load_pack("bench-extra")
    assert pack.name == "bench-extra" and pack.embedders == load_pack("test-mbf128").embedders
    assert {"bench-extra", "test-mbf128"} <= set(available_packs())
