"""Library writes against answers real Stash gives: a deleted gallery or image fails ``find*(ids:)``
instead of being left out; performerCreate refuses duplicate aliases and image URLs it cannot fetch."""

from __future__ import annotations

import pytest
from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)

from devtools.demo.seed import connect
from stash_sense.stash import queries as Q


def _images_of(stash, folder: str) -> list[str]:
    return [i for p, i in sorted(stash.ids["images"].items()) if f"/{folder}/" in p]


def _delete(stash, table: str, obj_type: str, obj_id: str) -> None:
    """What deleting an object in Stash's UI leaves behind: no row, no links."""
    conn = connect(stash.server.db_path)
    try:
        conn.execute(f"DELETE FROM {table} WHERE id = ?", (int(obj_id),))
        conn.execute("DELETE FROM links WHERE obj_type = ? AND obj_id = ?", (obj_type, int(obj_id)))
        conn.execute("DELETE FROM galleries_images WHERE gallery_id = ? OR image_id = ?",
                     (int(obj_id) if obj_type == "gallery" else -1, int(obj_id) if obj_type == "image" else -1))
        conn.commit()
    finally:
        conn.close()


def test_demo_fails_find_many_on_a_missing_id_like_stash(empty_stash):
    with pytest.raises(RuntimeError, match="^gallery with id 4242 not found$"):
        empty_stash.server.query(Q.GALLERY_LINKS, {"ids": [empty_stash.gallery("Blair solo"), "4242"]})
    with pytest.raises(RuntimeError, match="^image with id 4243 not found$"):
        empty_stash.server.query(Q.IMAGE_LINKS, {"ids": ["4243"]})


def test_undo_skips_what_the_user_deleted_and_undoes_the_rest(stash):
    blair = _images_of(stash, "Tony_Blair")[:3]
    args = {"mode": "apply", "target_type": "gallery", "target_id": stash.gallery("Blair solo"),
            "universal_id": stash.scenario.identity("Tony Blair").universal_id, "image_ids": blair}
    assert stash.run(args).output["added"]["image"] == blair
    _delete(stash, "galleries", "gallery", stash.gallery("Blair solo"))
    _delete(stash, "images", "image", blair[0])

    undo = stash.run({"mode": "undo_last_run"})
    assert "error" not in undo.result, undo.result
    assert sorted(undo.output["removed"]["image"]) == sorted(blair[1:])  # the rest is undone
    assert "gallery" not in undo.output["removed"]
    left = stash.server.query(Q.IMAGE_LINKS, {"ids": blair[1:]})["findImages"]["images"]
    assert all(not image["performers"] for image in left)
    assert stash.run({"mode": "undo_last_run"}).error.startswith("Nothing to undo")


CREATE = "mutation($i: PerformerCreateInput!) { performerCreate(input: $i) { id } }"


def test_demo_validates_performer_create_like_stash(empty_stash):
    with pytest.raises(RuntimeError, match="^performer contains duplicate alias 'ANNA'$"):
        empty_stash.server.query(CREATE, {"i": {"name": "Anna", "alias_list": ["A.", "ANNA"]}})
    with pytest.raises(RuntimeError, match="^performer contains duplicate alias 'a.'$"):
        empty_stash.server.query(CREATE, {"i": {"name": "Anna", "alias_list": ["A.", "a."]}})
    with pytest.raises(RuntimeError, match="^processing image: .*no such host"):
        empty_stash.server.query(CREATE, {"i": {"name": "Anna", "image": "https://images.example/anna.jpg"}})
    assert empty_stash.performer("Anna") is None


def test_create_from_stashbox_cleans_aliases_and_survives_an_image_stash_cannot_get(stash):
    identity = stash.scenario.identity("Gerhard Schroeder")
    conn = connect(stash.server.db_path)
    try:  # stash-box data as it comes: the name among the aliases, one alias twice in other case
        conn.execute("UPDATE stashbox_performers SET aliases = ?, images = ? WHERE stash_id = ?",
                     ("Gerhard Schroeder, G. Schroeder, g. schroeder , Gerd",
                      '["https://stashdb-images.example/schroeder.jpg"]', identity.stash_id))
        conn.commit()
    finally:
        conn.close()
    run = stash.run({"mode": "apply", "target_type": "gallery", "target_id": stash.gallery("Schroeder zip"),
                     "universal_id": identity.universal_id})
    assert "error" not in run.result, run.result
    assert run.output["created"] is True
    created = stash.server.query("query($id: ID!) { findPerformer(id: $id) { name alias_list image_path } }",
                                 {"id": run.output["performer_id"]})["findPerformer"]
    assert created["name"] == "Gerhard Schroeder" and created["alias_list"] == ["G. Schroeder", "Gerd"]
    assert "default=true" in created["image_path"]  # no picture, and said so in the log
    assert "Stash could not download the picture of Gerhard Schroeder" in run.stderr
