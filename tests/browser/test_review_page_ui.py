"""The Stash Sense page in Stash's REAL web UI (navbar link -> /plugin/stash-sense): the review queue
driven by the keyboard, a deleted gallery dismissed, undo of a chosen (not the last) run after its
preview, the database/engine tab and the threshold preview; and the page without a database.

Suggestions come from real identifications of the demo galleries (identify_gallery stores them);
screenshots go to tests/artifacts/page-*.png.
"""

from __future__ import annotations

from plugin_env import install_reference, reference_db, run_plugin  # noqa: F401  (fixture)
from test_browser_ui import UI, ui  # noqa: F401  (fixture)

from devtools.demo.seed import connect, seed

REVIEW_TAG = "Stash Sense: needs review"


def identify_all(demo_ui: UI) -> None:
    """Every demo gallery identified as a click would (its suggestions stored), tagged "needs review"."""
    from devtools.demo import scenario as demo

    powell = sorted((demo.lfw_dir() / "Colin_Powell").glob("*.jpg"))[15:18]
    added = seed(demo_ui.server.db_path, [{"title": "Powell again", "images": [*map(str, powell)]}])
    demo_ui.ids["galleries"].update(added["galleries"])
    for gallery_id in demo_ui.ids["galleries"].values():
        run = run_plugin(demo_ui.server.server_connection(), {"mode": "identify_gallery", "gallery_id": gallery_id})
        assert run.result.get("error") is None, run.result
    tag = demo_ui.server.query('mutation($n: String!) { tagCreate(input: {name: $n}) { id } }',
                               {"n": REVIEW_TAG})["tagCreate"]["id"]
    demo_ui.server.query("mutation($ids: [ID!], $t: [ID!]) { bulkGalleryUpdate(input: {ids: $ids, "
                         "tag_ids: {ids: $t, mode: ADD}}) { id } }",
                         {"ids": list(demo_ui.ids["galleries"].values()), "t": [tag]})


def op(demo_ui: UI, args: dict) -> dict:
    run = run_plugin(demo_ui.server.server_connection(), args)
    assert run.result.get("error") is None, run.result
    return run.result["output"]


def test_review_page_keyboard_runs_undo_database_and_settings(ui, reference_db):  # noqa: F811
    install_reference(reference_db)
    identify_all(ui)
    # an older run to undo later from the Runs tab (not the last one): Blair accepted on "Blair solo"
    queue = op(ui, {"mode": "review_queue"})
    blair = next(g for g in queue["groups"] if g["name"] == "Tony Blair")
    older = op(ui, {"mode": "review_decide", "universal_id": blair["universal_id"], "decision": "accept",
                    "targets": [{"type": t["type"], "id": t["id"]} for t in blair["targets"]]})
    assert "Tony Blair" in ui.gallery_performers("Blair solo")
    powell_again = ui.gallery("Powell again")
    conn = connect(ui.server.db_path)
    with conn:
        conn.execute("DELETE FROM galleries WHERE id = ?", (int(powell_again),))
    conn.close()

    out = ui.browse("reviewPage", "page", undoRunId=older["run_id"])

    first = out["groupsBefore"][0]
    assert first["name"] == "Colin Powell" and first["focused"] and len(first["targets"]) == 2
    assert [t["deleted"] for t in first["targets"] if t["key"] == f"gallery:{powell_again}"] == [True]
    alive = [t for g in out["groupsBefore"] for t in g["targets"] if not t["deleted"]]
    assert all(t["crop"] and t["link"] and all(i["loaded"] and i["src"].startswith("/stash/image/")
                                               for i in t["thumbs"]) for t in alive), alive
    assert out["accept"]["message"].startswith("Added Colin Powell to 1 target")
    assert out["groupsAfterUndo"][0]["name"] == "Colin Powell" and "Undid" in out["undo"]["message"]
    assert out["dismissed"] and "Colin Powell" not in [g["name"] for g in out["groupsEnd"]]
    assert "Colin Powell" not in ui.gallery_performers("Chavez, Powell and a stranger")  # accepted, then undone
    rejected = out["reject"]["message"].removeprefix("Rejected ")
    assert rejected == "Colin Powell"

    # Runs tab: the chosen older run's preview lists exactly its links; undo removes Blair only
    assert [r["id"] for r in out["runs"]].count(str(older["run_id"])) == 1
    assert sorted(out["undoPreview"]["remove"]) == [
        f"performer \u201cTony Blair\u201d on gallery \u201cBlair solo\u201d ({ui.gallery('Blair solo')})",
        f"tag \u201cStash Sense: identified\u201d on gallery \u201cBlair solo\u201d ({ui.gallery('Blair solo')})"]
    assert out["undoPreview"]["stays"] == []
    assert out["undoneText"] == f"Run {older['run_id']} undone"
    assert "Tony Blair" not in ui.gallery_performers("Blair solo")

    assert "release" in out["dbText"] or "local" in out["dbText"]
    assert out["engineState"].startswith("stopped") or out["engineState"] == "running"
    assert "Auto-apply at" in out["explainAuto"] and "calibration set" in out["explainAuto"]
    assert "would have been added automatically at 50%" in out["previewText"]


def test_page_without_database_says_what_to_do(ui):  # noqa: F811
    out = ui.browse("pageNoDb", "page-nodb")
    assert "Nothing to review" in out["reviewText"]
    assert "No face database is installed" in out["problem"] and "Download" in out["problem"]
