"""The plugin's settings: what the manifest shows in Stash, with the defaults applied in code.

Stash stores only the settings a user saved (absent keys are simply missing), so every value has
its default here. Confidence thresholds left empty fall back to the model pack's calibration.

Two rules come from how Stash's settings page saves and shows values:
- a NUMBER is saved with ``parseInt`` ("0.95" is stored as 0), so thresholds are whole percentages;
- an unset BOOLEAN is shown as off, so every boolean here means "on = differs from the default".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_SOURCE_URL = "https://api.github.com/repos/carrotwaxr/stash-sense-data/releases/latest"
IDENTIFIED_TAG = "Stash Sense: identified"
REVIEW_TAG = "Stash Sense: needs review"
DEVICES = ("auto", "cpu", "cuda", "rocm", "directml", "coreml", "openvino")  # engine.onnx_session.DEVICES + auto
DEFAULT_MAX_IMAGES = 200
DEFAULT_SCENE_FRAMES = 60

# Setting key -> (type, display name, description). The manifest test checks stash_sense.yml against this.
SETTINGS: dict[str, tuple[str, str, str]] = {
    "autoApplyConfidence": ("NUMBER", "Auto-apply confidence (%)",
                            "Whole percentage, 1-100 (e.g. 95). Bulk tasks add a performer at or above this "
                            "confidence. Empty or 0: the model pack's calibrated value (about 99% precision)."),
    "reviewConfidence": ("NUMBER", "Review confidence (%)",
                         "Whole percentage, 1-100 (e.g. 80). Between this and auto-apply a match is stored for "
                         "review and the gallery tagged for review. Empty or 0: the calibrated value."),
    "databaseSourceUrl": ("STRING", "Face database source URL",
                          "GitHub releases API URL, a direct .zip URL or a local .zip path used by "
                          "\"Download/update face database\". Empty: the published Stash Sense database."),
    "pythonPath": ("STRING", "Python path override",
                   "Python 3.11+ used to create the plugin's own environment (<Stash config folder>/stash-sense/venv). "
                   "Empty: the Python that Stash runs."),
    "linkExistingOnly": ("BOOLEAN", "Link existing performers only",
                         "Never create a performer: an identified person who is not in your library yet is "
                         "not added (off: the performer is created from its stash-box entry)."),
    "identifiedTagName": ("STRING", "Identified tag name", f"Tag added to what Stash Sense tagged. "
                          f"Empty: \"{IDENTIFIED_TAG}\"."),
    "reviewTagName": ("STRING", "Needs-review tag name", f"Tag added to galleries with matches to review. "
                      f"Empty: \"{REVIEW_TAG}\"."),
    "dryRun": ("BOOLEAN", "Dry run", "Log what would be added and change nothing in Stash."),
    "maxImagesPerGallery": ("NUMBER", "Max images per gallery",
                            f"Images analysed per gallery (spread over the gallery). Empty or 0: "
                            f"{DEFAULT_MAX_IMAGES}."),
    "bulkGalleryTag": ("STRING", "Gallery tag for the tagged-galleries task",
                       "\"Identify performers in galleries with a tag\" processes only galleries with this tag."),
    "bulkTagImages": ("BOOLEAN", "Also add performers to their images",
                      "Bulk tasks also add an identified performer to the individual images the person is in."),
    "sceneFrames": ("NUMBER", "Frames per scene",
                    f"Frames sampled per scene, evenly between 5% and 95% of its length. Empty or 0: "
                    f"{DEFAULT_SCENE_FRAMES}."),
    "sceneMarkers": ("BOOLEAN", "Scene markers at first appearance",
                     "When a performer is added to a scene, also add a scene marker (titled with the "
                     "performer's name) where they first appear. Undo removes it."),
    "lowMemory": ("BOOLEAN", "Low memory",
                  "Keep one model's search index in memory and read the other model's face vectors from "
                  "disk when scoring (the published database needs about half the memory; candidates then "
                  "come from one model's search, scored by both), and keep the engine small, with photos decoded "
                  "a few at a time and the models' working buffers freed after every run (a few % slower). "
                  "For machines with little RAM."),
    "device": ("STRING", "Device (execution provider)",
               "auto, cpu, cuda, rocm, directml, coreml or openvino. Empty or auto: the best one the installed "
               "onnxruntime offers, else the CPU (the modal's footer shows which ran)."),
    "engineUrl": ("STRING", "Engine URL",
                  "A Stash Sense engine running elsewhere (`stash-sense serve`), e.g. tcp://192.168.1.5:7860 or "
                  "tls://gpu-box:7860. Empty: the engine runs beside Stash."),
    "engineToken": ("STRING", "Engine token",
                    "The token the engine printed when it started (also in its data folder, engine/token)."),
    "engineStashUrl": ("STRING", "Stash URL as the engine sees it",
                       "Where a remote engine reaches this Stash to sample scene videos, e.g. "
                       "http://192.168.1.10:9999 (Stash in Docker: its published address). Empty: the address "
                       "the plugin uses."),
    "identifyNewContent": ("BOOLEAN", "Identify new galleries and scenes",
                           "When Stash creates galleries, scenes or images (a scan), queue them and identify them "
                           "with the bulk rules once the scan settles."),
}


@dataclass
class Settings:
    auto_confidence: float | None = None  # None = the calibration's auto threshold
    review_confidence: float | None = None
    database_source_url: str = DEFAULT_SOURCE_URL
    python_path: str = ""
    create_performers: bool = True  # the inverse of "Link existing performers only"
    identified_tag: str = IDENTIFIED_TAG
    review_tag: str = REVIEW_TAG
    dry_run: bool = False
    max_images_per_gallery: int = DEFAULT_MAX_IMAGES
    scene_frames: int = DEFAULT_SCENE_FRAMES
    scene_markers: bool = False
    low_memory: bool = False
    device: str = "auto"  # execution provider of the engine beside Stash (a remote engine: its --device)
    engine_url: str = ""  # empty: the engine runs beside Stash
    engine_token: str = ""
    engine_stash_url: str = ""  # empty: the address the plugin reaches Stash at
    identify_new_content: bool = False

    def thresholds(self, calibrated: dict[str, float]) -> dict[str, float]:
        """Effective auto/review thresholds: settings override the calibrated ones; review <= auto."""
        auto = self.auto_confidence if self.auto_confidence is not None else calibrated["auto"]
        review = self.review_confidence if self.review_confidence is not None else calibrated["review"]
        return {"auto": float(auto), "review": float(min(review, auto))}


def _fraction(value: Any) -> float | None:
    """A whole percentage (95 -> 0.95); empty, 0 or invalid -> None (the calibrated value).

    A non-whole value below 1 (e.g. 0.95, as the manifest asked for before thresholds became
    percentages, or as ``configurePlugin`` can still store it) is read as the fraction it was.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number <= 0:
        return None
    if number < 1:
        return number
    return min(number, 100.0) / 100.0


def _text(value: Any, default: str) -> str:
    text = str(value).strip() if value is not None else ""
    return text or default


def parse_flag(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _count(value: Any, default: int) -> int:
    """A positive whole number; empty, 0 or invalid -> the default."""
    try:
        number = int(float(value or 0))
    except (TypeError, ValueError):
        number = 0
    return number if number > 0 else default


def _create_performers(raw: dict) -> bool:
    """On unless "Link existing performers only" is on; a ``createPerformers: false`` saved by an
    older version (when the setting had the opposite meaning) still means "link only"."""
    if raw.get("linkExistingOnly") not in (None, ""):
        return not parse_flag(raw.get("linkExistingOnly"), False)
    return parse_flag(raw.get("createPerformers"), True)


def zero_threshold_note(raw: dict | None) -> str | None:
    """A saved threshold of 0 is what Stash stores for a typed fraction ("0.95" -> 0): say so."""
    names = [SETTINGS[k][1] for k in ("autoApplyConfidence", "reviewConfidence")
             if str((raw or {}).get(k, "")).strip() in ("0", "0.0")]
    if not names:
        return None
    return (f"Stash Sense: {' and '.join(names)} saved as 0, so the calibrated value is used; Stash keeps only "
            "whole numbers there: enter a percentage such as 95")


def from_stash(raw: dict | None) -> Settings:
    """Settings from ``configuration.plugins[stash_sense]`` (``{}`` until the user saves them)."""
    raw = raw or {}
    return Settings(
        auto_confidence=_fraction(raw.get("autoApplyConfidence")),
        review_confidence=_fraction(raw.get("reviewConfidence")),
        database_source_url=_text(raw.get("databaseSourceUrl"), DEFAULT_SOURCE_URL),
        python_path=_text(raw.get("pythonPath"), ""),
        create_performers=_create_performers(raw),
        identified_tag=_text(raw.get("identifiedTagName"), IDENTIFIED_TAG),
        review_tag=_text(raw.get("reviewTagName"), REVIEW_TAG),
        dry_run=parse_flag(raw.get("dryRun"), False),
        max_images_per_gallery=_count(raw.get("maxImagesPerGallery"), DEFAULT_MAX_IMAGES),
        scene_frames=_count(raw.get("sceneFrames"), DEFAULT_SCENE_FRAMES),
        scene_markers=parse_flag(raw.get("sceneMarkers"), False),
        low_memory=parse_flag(raw.get("lowMemory"), False),
        device=_text(raw.get("device"), "auto").lower(),
        engine_url=_text(raw.get("engineUrl"), ""),
        engine_token=_text(raw.get("engineToken"), ""),
        engine_stash_url=_text(raw.get("engineStashUrl"), ""),
        identify_new_content=parse_flag(raw.get("identifyNewContent"), False),
    )
