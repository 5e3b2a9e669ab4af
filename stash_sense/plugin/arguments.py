"""The one schema of every plugin operation's arguments: types and ranges, checked before any work.

Why: Stash hands ``args`` over as whatever JSON the caller sent (the UI, a task's ``defaultArgs``
from YAML where everything may be a string, a user's own script). Without a check, ``image_ids:
"123"`` is iterated into images 1, 2 and 3, ``gallery_id: ["1"]`` becomes the id ``"['1']"`` and
``dry_run: "maybe"`` reads as a write. ``validate`` returns the arguments normalised (ids as
strings, switches as bools, numbers as numbers) or raises ``ArgumentError`` naming the argument.
Keys the mode does not know are dropped, never passed on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

MAX_ID = 2**63 - 1  # Stash ids are 64-bit integers
MAX_TEXT = 1000
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
TARGET_TYPES = ("gallery", "image", "scene")


class ArgumentError(ValueError):
    """An argument has the wrong type or is out of range; the message names it."""


Check = Callable[[str, Any], Any]


def stash_id(name: str, value: Any) -> str:
    """A Stash object id: a whole number >= 1, as a JSON number or a string of digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ArgumentError(f"{name} must be a Stash id (a whole number), not {_kind(value)}")
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise ArgumentError(f"{name} must be a Stash id (a whole number from 1), not {value!r}")
    return str(int(text))


def id_list(name: str, value: Any) -> list[str]:
    """A JSON list of Stash ids (a single id in a string is refused: it is not a list)."""
    if not isinstance(value, list):
        raise ArgumentError(f"{name} must be a list of Stash ids, not {_kind(value)}")
    if len(value) > 100_000:
        raise ArgumentError(f"{name} has {len(value)} ids; at most 100000 at once")
    return [stash_id(f"{name}[{i}]", item) for i, item in enumerate(value)]


def target_list(name: str, value: Any) -> list[tuple[str, str]]:
    """A list of ``{"type": "gallery" | "image" | "scene", "id": <Stash id>}`` (a review decision's targets)."""
    if not isinstance(value, list) or not value:
        raise ArgumentError(f"{name} must be a non-empty list of {{type, id}} objects, not {_kind(value)}")
    if len(value) > 100_000:
        raise ArgumentError(f"{name} has {len(value)} targets; at most 100000 at once")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ArgumentError(f"{name}[{i}] must be an object with type and id, not {_kind(item)}")
        out.append((one_of(*TARGET_TYPES)(f"{name}[{i}].type", item.get("type")),
                    stash_id(f"{name}[{i}].id", item.get("id"))))
    return out


def switch(name: str, value: Any) -> bool:
    """true/false, also as the strings YAML task arguments arrive as ("true", "false", "1", "0")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ArgumentError(f"{name} must be true or false, not {value!r}")


def whole(low: int, high: int) -> Check:
    def check(name: str, value: Any) -> int:
        number = _number(name, value)
        if number != int(number) or not low <= number <= high:
            raise ArgumentError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
        return int(number)

    return check


def real(low: float, high: float) -> Check:
    def check(name: str, value: Any) -> float:
        number = _number(name, value)
        if not low <= number <= high:
            raise ArgumentError(f"{name} must be a number from {low:g} to {high:g}, not {value!r}")
        return number

    return check


def one_of(*choices: str) -> Check:
    def check(name: str, value: Any) -> str:
        text = value.strip() if isinstance(value, str) else None
        if text not in choices:
            raise ArgumentError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        return text

    return check


def text(pattern: str | None = None, what: str = "text") -> Check:
    """A non-empty single-line string (optionally of a given form)."""
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ArgumentError(f"{name} must be {what}, not {_kind(value)}")
        value = value.strip()
        if not value or len(value) > MAX_TEXT or any(ord(c) < 32 for c in value):
            raise ArgumentError(f"{name} must be {what} (one line, 1 to {MAX_TEXT} characters)")
        if pattern and not re.fullmatch(pattern, value):
            raise ArgumentError(f"{name} must be {what}, not {value!r}")
        return value

    return check


UNIVERSAL_ID = text(r"[^:\s]+:\S+", "a universal id such as stashdb.org:<id> or local:<id>")
TARGET = {"target_type": one_of(*TARGET_TYPES), "target_id": stash_id}
BULK = {"untagged": switch, "force": switch, "dry_run": switch, "tag_images": switch, "tag": text()}

# mode -> {argument: check}; required arguments are listed in REQUIRED
SCHEMA: dict[str, dict[str, Check]] = {
    "identify_gallery": {"gallery_id": stash_id, "max_images": whole(1, 100_000)},
    "identify_image": {"image_id": stash_id},
    "identify_scene": {"scene_id": stash_id, "frames": whole(1, 10_000)},
    "apply": {**TARGET, "universal_id": UNIVERSAL_ID, "image_ids": id_list, "dry_run": switch,
              "markers": switch, "seconds": real(0, 10 * 24 * 3600)},
    "reject": {**TARGET, "universal_id": UNIVERSAL_ID},
    "suggestions": dict(TARGET),
    "download_db": {"url": text(what="a URL or a file path")},
    "enroll_local": {"dry_run": switch},
    "undo_last_run": {"dry_run": switch, "run_kind": text(r"[a-z_]{1,64}", "a run kind such as bulk_galleries")},
    "bulk_galleries": dict(BULK),
    "bulk_galleries_untagged": dict(BULK),
    "bulk_galleries_tagged": dict(BULK),
    "identify_scenes": {"force": switch, "dry_run": switch, "frames": whole(1, 10_000), "markers": switch},
    "setup": {},
    "task_outcome": {"task": text(r"[a-z_]{1,64}", "a task mode such as download_db"),
                     "since": text(what="the job's start time (RFC 3339)")},
    # the Stash Sense page (plugin/page.py)
    "review_queue": {"page": whole(1, 1_000_000), "per_page": whole(1, 200), "target_type": one_of(*TARGET_TYPES),
                     "min_confidence": real(0, 1), "max_confidence": real(0, 1), "performer": text(),
                     "tag_id": stash_id},
    "review_decide": {"universal_id": UNIVERSAL_ID, "targets": target_list,
                      "decision": one_of("accept", "reject", "dismiss")},
    "runs": {"page": whole(1, 1_000_000), "per_page": whole(1, 200)},
    "undo_preview": {"run_id": whole(1, MAX_ID)},
    "undo_run": {"run_id": whole(1, MAX_ID)},
    "page_status": {},
    "check_update": {},
    "verify_db": {},
    "rollback_db": {},
    "stop_worker": {},
    "threshold_preview": {"auto": real(0, 1)},
}


def item_list(name: str, value: Any) -> list[dict]:
    """Library items to act on: ``[{"type": "gallery"|"image"|"scene", "id": <Stash id>}, ...]``."""
    if not isinstance(value, list):
        raise ArgumentError(f"{name} must be a list of {{type, id}} objects, not {_kind(value)}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ArgumentError(f"{name}[{i}] must be an object with type and id, not {_kind(item)}")
        out.append({"type": one_of(*TARGET_TYPES)(f"{name}[{i}].type", item.get("type")),
                    "id": stash_id(f"{name}[{i}].id", item.get("id"))})
    return out


def hook_context(name: str, value: Any) -> dict:
    """Stash's ``hookContext``: the created object's id and the trigger (``input`` is nil in a scan)."""
    if not isinstance(value, dict):
        raise ArgumentError(f"{name} must be an object, not {_kind(value)}")
    return {"id": stash_id(f"{name}.id", value.get("id")),
            "type": text(r"[A-Za-z]+\.[A-Za-z]+\.Post", "a hook trigger such as Gallery.Create.Post")(
                f"{name}.type", value.get("type"))}


# The library's own faces (plugin/library_ops.py) and new-content hooks (plugin/hooks.py)
SCHEMA.update({
    "unknown_people": {},
    "library_index_rebuild": {},
    "unknown_people_list": {"status": one_of("open", "hidden", "named"), "crops": switch,
                            "max_people": whole(1, 10_000)},
    "unknown_person_name": {"person_id": whole(1, MAX_ID), "performer_id": stash_id, "new_name": text(),
                            "dry_run": switch},
    "unknown_person_hide": {"person_id": whole(1, MAX_ID)},
    "find_everywhere": {"performer_id": stash_id},
    "find_everywhere_add": {"performer_id": stash_id, "items": item_list, "above_auto": switch, "dry_run": switch},
    "new_content_hook": {"hookContext": hook_context},
    "identify_new_content": {},
})

REQUIRED: dict[str, tuple[str, ...]] = {
    "identify_gallery": ("gallery_id",),
    "identify_image": ("image_id",),
    "identify_scene": ("scene_id",),
    "apply": ("target_type", "target_id", "universal_id"),
    "reject": ("target_type", "target_id", "universal_id"),
    "suggestions": ("target_type", "target_id"),
    "review_decide": ("universal_id", "targets", "decision"),
    "undo_preview": ("run_id",),
    "undo_run": ("run_id",),
    "threshold_preview": ("auto",),
    "task_outcome": ("task",),
    "unknown_person_name": ("person_id",),
    "unknown_person_hide": ("person_id",),
    "find_everywhere": ("performer_id",),
    "find_everywhere_add": ("performer_id",),
}


def validate(args: Any) -> dict:
    """``args`` normalised for its mode; raises ``ArgumentError`` naming the first bad argument.

    An argument given as ``null`` or ``""`` counts as not given (the UI and YAML send both).
    """
    if not isinstance(args, dict):
        raise ArgumentError(f"the plugin arguments must be an object, not {_kind(args)}")
    mode = args.get("mode")
    if not isinstance(mode, str) or mode.strip() not in SCHEMA:
        raise ArgumentError(f"unknown mode {mode!r}; expected one of {', '.join(SCHEMA)}")
    mode = mode.strip()
    out: dict[str, Any] = {"mode": mode}
    for name, check in SCHEMA[mode].items():
        value = args.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in REQUIRED.get(mode, ()):
                raise ArgumentError(f"missing argument {name!r}")
            continue
        out[name] = check(name, value)
    return out


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ArgumentError(f"{name} must be a number, not {_kind(value)}")
    try:
        number = float(value)
    except ValueError:
        raise ArgumentError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise ArgumentError(f"{name} must be a finite number, not {value!r}")
    return number


def _kind(value: Any) -> str:
    names = {bool: "true/false", list: "a list", dict: "an object", str: "a string", float: "a number",
             int: "a number", type(None): "null"}
    return next((n for t, n in names.items() if type(value) is t), type(value).__name__)
