"""Apply / undo / dry run / failures of the plugin's write-back, run as Stash runs the plugin."""

from __future__ import annotations

import sqlite3

from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)

from devtools.demo.scenario import USER_PERFORMER

ADD_PERFORMER = ("mutation($ids: [ID!], $p: [ID!]) { bulkGalleryUpdate(input: {ids: $ids, "
                 "performer_ids: {ids: $p, mode: ADD}}) { id } }")


def uid(stash, name: str) -> str:
    return stash.scenario.identity(name).universal_id


def images_of(stash, folder: str) -> list[str]:
    return [i for p, i in sorted(stash.ids["images"].items()) if f"/{folder}/" in p or f"{folder}_0" in p]


def journal(stash) -> sqlite3.Connection:
    conn = sqlite3.connect(stash.data_dir / "journal.sqlite")
    conn.row_factory = sqlite3.Row
    return conn


def apply(stash, title: str, name: str, image_ids=None, **extra):
    args = {"mode": "apply", "target_type": "gallery", "target_id": stash.gallery(title),
            "universal_id": uid(stash, name), **extra}
    if image_ids is not None:
        args["image_ids"] = image_ids
    return stash.run(args)


def test_apply_adds_and_never_removes(stash):
    blair_images = images_of(stash, "Tony_Blair")[:2]
    out = apply(stash, "Blair solo", "Tony Blair", blair_images).output
    gallery = stash.gallery("Blair solo")
    assert out == {"performer_id": stash.performer("Tony Blair"), "created": False,
                   "added": {"gallery": [gallery], "image": blair_images}}
    assert stash.gallery_performers("Blair solo") == {USER_PERFORMER, "Tony Blair"}
    tags = stash.server.query('query($id: ID!) { findGallery(id: $id) { tags { name } } }', {"id": gallery})
    assert [t["name"] for t in tags["findGallery"]["tags"]] == ["Stash Sense: identified"]
    with journal(stash) as db:
        run = db.execute("SELECT * FROM runs").fetchone()
        assert (run["kind"], run["status"]) == ("apply", "done")
        rows = db.execute("SELECT target_type, target_id, field, added, before, status FROM mutations").fetchall()
    assert {(r["target_type"], r["target_id"], r["field"]) for r in rows} == {
        ("gallery", gallery, "performer"), ("gallery", gallery, "tag"),
        *(("image", i, "performer") for i in blair_images)}
    assert all(r["status"] == "done" for r in rows)
    gallery_row = next(r for r in rows if r["target_type"] == "gallery" and r["field"] == "performer")
    assert gallery_row["before"] == f'["{stash.performer(USER_PERFORMER)}"]'
    assert apply(stash, "Blair solo", "Tony Blair").output["added"] == {"gallery": [], "image": []}  # idempotent


def test_apply_creates_from_stashbox_or_links_by_name(stash):
    before = stash.performer("Gerhard Schroeder")
    assert before is None
    out = apply(stash, "Schroeder zip", "Gerhard Schroeder").output
    assert out["created"] is True and out["performer_id"] == stash.performer("Gerhard Schroeder")
    created = stash.server.query('query($id: ID!) { findPerformer(id: $id) { name gender stash_ids { stash_id } } }',
                                 {"id": out["performer_id"]})["findPerformer"]
    assert created == {"name": "Gerhard Schroeder", "gender": "MALE",
                       "stash_ids": [{"stash_id": stash.scenario.identity("Gerhard Schroeder").stash_id}]}
    # Chirac exists locally without a stash id: linked by his unambiguous name, not duplicated
    out = apply(stash, "Rumsfeld and Chirac", "Jacques Chirac").output
    assert out["created"] is False and out["performer_id"] == stash.performer("Jacques Chirac")
    assert stash.gallery_performers("Rumsfeld and Chirac") == {"Donald Rumsfeld", "Jacques Chirac"}
    # creation off: a clear error and nothing written
    stash.configure({"linkExistingOnly": True})
    state = stash.links()
    run = apply(stash, "Chavez, Powell and a stranger", "Hugo Chavez")
    assert "is not a performer in your Stash" in run.error and stash.links() == state


def test_undo_restores_exactly_and_keeps_what_the_user_added(stash):
    state, performers = stash.links(), stash.performers_table()
    assert apply(stash, "Rumsfeld and Chirac", "Jacques Chirac").output  # run 1: also links Chirac's stash id
    assert apply(stash, "Blair solo", "Tony Blair", images_of(stash, "Tony_Blair")[:2]).output  # run 2
    rumsfeld = stash.performer("Donald Rumsfeld")
    stash.server.query(ADD_PERFORMER, {"ids": [stash.gallery("Blair solo")], "p": [rumsfeld]})  # the user, later
    user_link = ("gallery", int(stash.gallery("Blair solo")), "performer", int(rumsfeld))

    undo = stash.run({"mode": "undo_last_run"}).output
    removed = undo["removed"]["gallery"][stash.gallery("Blair solo")]
    assert removed["performer"] == [stash.performer("Tony Blair")] and len(removed["tag"]) == 1
    assert set(undo["removed"]["image"]) == set(images_of(stash, "Tony_Blair")[:2])
    assert stash.gallery_performers("Blair solo") == {USER_PERFORMER, "Donald Rumsfeld"}

    assert stash.run({"mode": "undo_last_run"}).output  # run 1: Chirac off the gallery, stash id unlinked
    assert stash.links() == state | {user_link}
    assert stash.performers_table() == performers
    assert stash.run({"mode": "undo_last_run"}).error.startswith("Nothing to undo")


def test_undo_deletes_a_performer_it_created_unless_the_user_used_it(stash):
    performers = stash.performers_table()
    assert apply(stash, "Schroeder zip", "Gerhard Schroeder").output["created"]
    undo = stash.run({"mode": "undo_last_run"}).output
    assert [p["name"] for p in undo["deleted_created_performers"]] == ["Gerhard Schroeder"]
    assert stash.performer("Gerhard Schroeder") is None and stash.performers_table() == performers

    created = apply(stash, "Schroeder zip", "Gerhard Schroeder").output["performer_id"]
    stash.server.query(ADD_PERFORMER, {"ids": [stash.gallery("Blair solo")], "p": [created]})  # the user, later
    undo = stash.run({"mode": "undo_last_run"}).output
    assert [p["name"] for p in undo["kept_created_performers"]] == ["Gerhard Schroeder"]
    assert stash.performer("Gerhard Schroeder") == created
    assert "Gerhard Schroeder" in stash.gallery_performers("Blair solo")


def test_dry_run_changes_nothing(stash):
    state, performers = stash.links(), stash.performers_table()
    out = apply(stash, "Schroeder zip", "Gerhard Schroeder", dry_run=True).output
    assert out["dry_run"] is True and out["created"] is True and out["performer_id"] is None
    stash.configure({"dryRun": True})
    run = apply(stash, "Blair solo", "Tony Blair", images_of(stash, "Tony_Blair")[:1])
    expected = {"gallery": [stash.gallery("Blair solo")], "image": images_of(stash, "Tony_Blair")[:1]}
    assert run.output["added"] == expected
    assert any(line.startswith("[dry run] would add") for line in run.logs("i"))
    assert stash.links() == state and stash.performers_table() == performers
    assert stash.server.query('{ findTags(filter: {per_page: -1}) { count } }')["findTags"]["count"] == 0
    with journal(stash) as db:
        assert db.execute("SELECT COUNT(*) FROM mutations").fetchone()[0] == 0


def test_graphql_error_mid_write_leaves_nothing_half_written(stash, monkeypatch):
    server = stash.server
    original = server.execute

    def failing(query, variables=None, *args, **kwargs):
        if "bulkImageUpdate" in query and "ADD" in str(variables):
            return 200, {"data": {"bulkImageUpdate": None}, "errors": [{"message": "database is locked"}]}
        return original(query, variables, *args, **kwargs)

    monkeypatch.setattr(server, "execute", failing)
    state = stash.links()
    run = apply(stash, "Blair solo", "Tony Blair", images_of(stash, "Tony_Blair")[:2])
    assert run.error == "Stash GraphQL error: database is locked"
    assert stash.links() == state  # the gallery's performer and tag were taken back
    with journal(stash) as db:
        assert db.execute("SELECT status FROM runs").fetchone()[0] == "rolled_back"


def test_stash_down_bad_credentials_and_bad_arguments(stash):
    connection = stash.server.server_connection()
    bad_cookie = {**connection, "SessionCookie": {"Name": "session", "Value": "expired"}}
    from plugin_env import run_plugin

    args = {"mode": "apply", "target_type": "gallery", "target_id": stash.gallery("Blair solo"),
            "universal_id": uid(stash, "Tony Blair")}
    assert "refused the credentials (HTTP 401)" in run_plugin(bad_cookie, args).error
    assert stash.run({**args, "target_id": "999"}).error == "Stash has no gallery with id 999"
    assert stash.run({**args, "target_type": "studio"}).error.startswith("target_type must be one of")
    assert stash.run({"mode": "nope"}).error.startswith("unknown mode 'nope'")
    stash.server.stop()
    down = run_plugin(connection, args)
    assert down.error.startswith("Cannot reach Stash at http://127.0.0.1:") and down.returncode == 0
