"""Settings as Stash's settings page saves and shows them (ui/v2.5/src/components/Settings/Inputs.tsx,
SettingsPluginsPanel.tsx): a NUMBER goes through ``Number.parseInt``; an unset BOOLEAN shows as off.
"""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import REPO

from stash_sense import settings as settings_mod
from stash_sense.jobs.options import from_settings
from stash_sense.settings import SETTINGS, from_stash

CALIBRATED = {"auto": 0.99, "review": 0.5}


def parse_int(text: str) -> int | None:
    """JavaScript's Number.parseInt on what a user typed: leading integer digits, else NaN (None)."""
    found = re.match(r"\s*([+-]?\d+)", text)
    return int(found.group(1)) if found else None


def effective(raw: dict) -> dict:
    """Everything the settings decide, for a gallery task (so keys read outside Settings count too)."""
    settings = from_stash(raw)
    options = from_settings(settings, raw, {"mode": "bulk_galleries"}, CALIBRATED, "test-mbf128")
    return {"settings": settings, "options": options}


def manifest_settings() -> dict:
    return yaml.safe_load((REPO / "stash_sense.yml").read_text())["settings"]


@pytest.mark.parametrize("key", [k for k, v in SETTINGS.items() if v[0] == "BOOLEAN"])
def test_every_boolean_is_off_by_default(key):
    """Stash shows an unset BOOLEAN as off: saving it as off (or leaving it unset) must be the same."""
    assert effective({}) == effective({key: False})
    assert effective({}) != effective({key: True}), f"{key} on changes nothing"


@pytest.mark.parametrize("key", ["autoApplyConfidence", "reviewConfidence"])
def test_thresholds_are_whole_percentages_as_the_description_says(key):
    description = manifest_settings()[key]["description"]
    example = re.search(r"e\.g\. (\S+?)\)", description)
    assert example and "percentage" in description.lower(), description
    saved = parse_int(example.group(1))  # what Stash stores for the description's own example
    assert saved == int(example.group(1))
    value = from_stash({key: saved}).auto_confidence if key == "autoApplyConfidence" else \
        from_stash({key: saved}).review_confidence
    assert value == pytest.approx(saved / 100)


def test_threshold_values_old_and_new():
    read = [from_stash({"autoApplyConfidence": v}).auto_confidence for v in (95, "95", 100, 250, 0.97, "0.9", 0, "",
                                                                             None, "abc", -5)]
    assert read == [0.95, 0.95, 1.0, 1.0, 0.97, 0.9, None, None, None, None, None]
    s = from_stash({"autoApplyConfidence": 90, "reviewConfidence": 95})
    assert s.thresholds(CALIBRATED) == {"auto": 0.9, "review": 0.9}  # review <= auto


def test_a_typed_fraction_saved_as_zero_is_reported():
    saved = parse_int("0.95")
    assert saved == 0  # what Stash's settings page stores
    assert from_stash({"autoApplyConfidence": saved}).auto_confidence is None  # calibrated value
    note = settings_mod.zero_threshold_note({"autoApplyConfidence": saved, "reviewConfidence": 80})
    assert note and "Auto-apply confidence (%)" in note and "percentage such as 95" in note
    assert "Review" not in note
    assert settings_mod.zero_threshold_note({"autoApplyConfidence": 95}) is None
    assert settings_mod.zero_threshold_note({}) is None


def test_link_existing_only_and_the_old_create_performers():
    assert from_stash({}).create_performers is True
    assert from_stash({"linkExistingOnly": True}).create_performers is False
    assert from_stash({"createPerformers": False}).create_performers is False  # saved by an older version
    assert from_stash({"createPerformers": False, "linkExistingOnly": False}).create_performers is True
    assert "createPerformers" not in manifest_settings()


def test_stderr_is_logged_at_info():
    """Library prints on stderr are not errors (Stash logs unprefixed stderr at ``errLog``)."""
    assert yaml.safe_load((REPO / "stash_sense.yml").read_text())["errLog"] == "info"
