"""Every operation's arguments are checked against one schema before anything is read or written."""

from __future__ import annotations

import pytest
from plugin_env import run_plugin

from stash_sense.plugin.arguments import SCHEMA, validate
from stash_sense.plugin.operations import OPERATIONS, Context, UserError, dispatch

APPLY = {"mode": "apply", "target_type": "gallery", "target_id": "7", "universal_id": "stashdb.org:abc"}
NOWHERE = {"Scheme": "http", "Host": "127.0.0.1", "Port": 9}  # nothing listens: no Stash is needed


def refused(args: dict) -> str:
    with pytest.raises(UserError) as caught:
        dispatch(Context({"server_connection": NOWHERE, "args": args}))
    return str(caught.value)


@pytest.mark.parametrize(("args", "named"), [
    ({**APPLY, "image_ids": "123"}, "image_ids must be a list of Stash ids, not a string"),
    ({**APPLY, "image_ids": ["1", "x"]}, "image_ids[1] must be a Stash id"),
    ({**APPLY, "image_ids": [True]}, "image_ids[0] must be a Stash id (a whole number), not true/false"),
    ({**APPLY, "target_id": ["1"]}, "target_id must be a Stash id (a whole number), not a list"),
    ({**APPLY, "target_id": {"id": 1}}, "target_id must be a Stash id (a whole number), not an object"),
    ({**APPLY, "target_id": True}, "target_id must be a Stash id (a whole number), not true/false"),
    ({**APPLY, "target_id": 0}, "target_id must be a Stash id (a whole number from 1)"),
    ({**APPLY, "target_id": "1.5"}, "target_id must be a Stash id (a whole number from 1)"),
    ({**APPLY, "dry_run": "maybe"}, "dry_run must be true or false, not 'maybe'"),
    ({**APPLY, "dry_run": 2}, "dry_run must be true or false, not 2"),
    ({**APPLY, "seconds": "soon"}, "seconds must be a number, not 'soon'"),
    ({**APPLY, "seconds": float("nan")}, "seconds must be a finite number"),
    ({**APPLY, "universal_id": ["stashdb.org:abc"]}, "universal_id must be a universal id"),
    ({**APPLY, "universal_id": "abc"}, "universal_id must be a universal id"),
    ({**APPLY, "target_type": ["gallery"]}, "target_type must be one of gallery, image, scene"),
    ({"mode": "identify_gallery", "gallery_id": ["1"]}, "gallery_id must be a Stash id (a whole number), not a list"),
    ({"mode": "identify_gallery", "gallery_id": "3", "max_images": "lots"}, "max_images must be a number"),
    ({"mode": "identify_gallery", "gallery_id": "3", "max_images": -5}, "max_images must be a whole number from 1"),
    ({"mode": "identify_gallery", "gallery_id": "3", "max_images": 2.5}, "max_images must be a whole number from 1"),
    ({"mode": "identify_scene", "scene_id": "3", "frames": {}}, "frames must be a number, not an object"),
    ({"mode": "identify_image"}, "missing argument 'image_id'"),
    ({"mode": "reject", "target_type": "scene", "target_id": "2", "universal_id": 5}, "universal_id must be"),
    ({"mode": "bulk_galleries", "force": "perhaps"}, "force must be true or false"),
    ({"mode": "bulk_galleries", "tag": ["a"]}, "tag must be text, not a list"),
    ({"mode": "identify_scenes", "markers": [1]}, "markers must be true or false"),
    ({"mode": "undo_last_run", "run_kind": {"a": 1}}, "run_kind must be a run kind"),
    ({"mode": "download_db", "url": 5}, "url must be a URL or a file path, not a number"),
    ({"mode": ["apply"]}, "unknown mode ['apply']"),
])
def test_wrong_types_are_refused_naming_the_argument(args, named):
    assert named in refused(args)


def test_values_are_normalised():
    assert validate({**APPLY, "target_id": 7, "image_ids": [3, " 4 "], "dry_run": "False", "seconds": "12.5",
                     "markers": 1, "unrelated": object()}) == {
        **APPLY, "image_ids": ["3", "4"], "dry_run": False, "seconds": 12.5, "markers": True}
    assert validate({"mode": "bulk_galleries", "force": "true", "tag": " x ", "dry_run": ""}) == {
        "mode": "bulk_galleries", "force": True, "tag": "x"}
    assert validate({"mode": "identify_gallery", "gallery_id": "12", "max_images": "50"})["max_images"] == 50
    assert set(SCHEMA) == set(OPERATIONS)


def test_the_plugin_answers_wrong_arguments_with_one_clear_error():
    for args, message in (({**APPLY, "image_ids": "123"}, "image_ids must be a list of Stash ids, not a string"),
                          ({**APPLY, "dry_run": "maybe"}, "dry_run must be true or false, not 'maybe'")):
        run = run_plugin(NOWHERE, args)
        assert run.returncode == 0 and run.error == message
        assert not any("Traceback" in line or "AttributeError" in line for line in run.logs())
    assert run_plugin(NOWHERE, ["apply"]).error.startswith("the plugin arguments must be an object")  # type: ignore[arg-type]
