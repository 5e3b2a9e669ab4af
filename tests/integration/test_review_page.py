"""The Stash Sense page's operations (review queue, decisions, run history, undo of any run, status),
run as Stash runs the plugin, on suggestions a real bulk run stored (auto threshold at 100%, so every
recognised person becomes a suggestion)."""

from __future__ import annotations

import sqlite3

from plugin_env import *  # noqa: F403  (fixtures: stash, empty_stash, reference_db)
from plugin_env import PluginStash

from devtools.demo import scenario as demo
from devtools.demo.seed import connect, seed
from stash_sense.jobs.run_lock import exclusive_run

REVIEW_TAG = "Stash Sense: needs review"


_SEEDED: dict[str, bytes] = {}  # the journal after the identifications, reused by every test (same ids)


def seeded_queue(stash: PluginStash) -> dict:
    """A second Powell gallery (so Powell's group clears two galleries); every gallery identified
    (real recognition, suggestions stored) and tagged "needs review" as a bulk run tags them."""
    powell = sorted((demo.lfw_dir() / "Colin_Powell").glob("*.jpg"))[15:18]
    added = seed(stash.server.db_path, [{"title": "Powell again", "images": [*map(str, powell)]}])
    stash.ids["galleries"].update(added["galleries"])
    journal_file = stash.data_dir / "journal.sqlite"
    if "journal" in _SEEDED:
        journal_file.parent.mkdir(parents=True, exist_ok=True)
        journal_file.write_bytes(_SEEDED["journal"])
    else:
        for gallery_id in stash.ids["galleries"].values():
            stash.run({"mode": "identify_gallery", "gallery_id": gallery_id})
        with journal(stash) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _SEEDED["journal"] = journal_file.read_bytes()
    tag = stash.server.query('mutation($n: String!) { tagCreate(input: {name: $n}) { id } }',
                             {"n": REVIEW_TAG})["tagCreate"]["id"]
    stash.server.query("mutation($ids: [ID!], $t: [ID!]) { bulkGalleryUpdate(input: {ids: $ids, "
                       "tag_ids: {ids: $t, mode: ADD}}) { id } }",
                       {"ids": list(stash.ids["galleries"].values()), "t": [tag]})
    return stash.run({"mode": "review_queue"}).output


def group_of(queue: dict, name: str) -> dict:
    return next(g for g in queue["groups"] if g["name"] == name)


def targets(group: dict) -> list[dict]:
    return [{"type": t["type"], "id": t["id"]} for t in group["targets"]]


def gallery_tags(stash: PluginStash, gallery_id: str) -> set[str]:
    found = stash.server.query('query($id: ID!) { findGallery(id: $id) { tags { name } } }', {"id": gallery_id})
    return {t["name"] for t in found["findGallery"]["tags"]}


def journal(stash: PluginStash) -> sqlite3.Connection:
    conn = sqlite3.connect(stash.data_dir / "journal.sqlite")
    conn.row_factory = sqlite3.Row
    return conn


def test_queue_groups_accept_everywhere_one_write_and_review_tag_cleared(stash):
    queue = seeded_queue(stash)
    with journal(stash) as db:
        stored = db.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0]
    assert queue["total_suggestions"] == stored == sum(len(g["targets"]) for g in queue["groups"])
    counts = [g["count"] for g in queue["groups"]]
    assert counts == sorted(counts, reverse=True) and queue["groups"][0]["name"] == "Colin Powell"
    powell = group_of(queue, "Colin Powell")
    titles = {t["title"] for t in powell["targets"]}
    assert titles == {"Chavez, Powell and a stranger", "Powell again"}
    assert all(t["crop"].startswith("data:image/jpeg") and t["image_ids"] and not t["deleted"]
               for t in powell["targets"])

    paged = stash.run({"mode": "review_queue", "per_page": 1, "page": 2}).output
    assert [g["universal_id"] for g in paged["groups"]] == [queue["groups"][1]["universal_id"]]
    only_powell = stash.run({"mode": "review_queue", "performer": "powell"}).output
    assert [g["name"] for g in only_powell["groups"]] == ["Colin Powell"]

    ids = [t["id"] for t in powell["targets"]]
    assert all(REVIEW_TAG in gallery_tags(stash, i) for i in ids)
    decided = stash.run({"mode": "review_decide", "universal_id": powell["universal_id"],
                         "targets": targets(powell), "decision": "accept"}).output
    assert sorted(i for _, i in decided["added"]) == sorted(ids)
    for title in ("Chavez, Powell and a stranger", "Powell again"):
        assert "Colin Powell" in stash.gallery_performers(title)
    powell_only = stash.gallery("Powell again")
    assert REVIEW_TAG not in gallery_tags(stash, powell_only)  # its last suggestion was decided
    chavez_gallery = stash.gallery("Chavez, Powell and a stranger")
    assert REVIEW_TAG in gallery_tags(stash, chavez_gallery)  # Chavez is still to decide there

    links = stash.links()
    again = stash.run({"mode": "review_decide", "universal_id": powell["universal_id"],
                       "targets": targets(powell), "decision": "accept"}).output  # the second tab
    assert again["already_decided"] and stash.links() == links
    with journal(stash) as db:
        assert db.execute("SELECT COUNT(*) FROM runs WHERE kind = 'review'").fetchone()[0] == 1
    assert "Colin Powell" not in [g["name"] for g in stash.run({"mode": "review_queue"}).output["groups"]]

    # filters: tag (only galleries still tagged "needs review"), target type, confidence range
    stash.server.query("mutation($ids: [ID!], $t: [ID!]) { bulkGalleryUpdate(input: {ids: $ids, "
                       "tag_ids: {ids: $t, mode: REMOVE}}) { id } }",
                       {"ids": [stash.gallery("Blair solo")], "t": [review_tag_id(stash)]})
    tagged = stash.run({"mode": "review_queue", "tag_id": review_tag_id(stash)}).output
    shown = {t["id"] for g in tagged["groups"] for t in g["targets"]}
    assert shown and stash.gallery("Blair solo") not in shown
    assert all(REVIEW_TAG in gallery_tags(stash, i) for i in shown)
    assert stash.run({"mode": "review_queue", "target_type": "scene"}).output["groups"] == []
    low = stash.run({"mode": "review_queue", "max_confidence": 0.0001}).output
    assert low["groups"] == [] and low["total_suggestions"] == 0


def review_tag_id(stash: PluginStash) -> str:
    found = stash.server.query('query($n: String!) { findTags(tag_filter: {name: {value: $n, modifier: EQUALS}}) '
                               '{ tags { id } } }', {"n": REVIEW_TAG})
    return found["findTags"]["tags"][0]["id"]


def test_reject_is_remembered_and_undo_puts_it_back(stash):
    queue = seeded_queue(stash)
    group = queue["groups"][-1]
    out = stash.run({"mode": "review_decide", "universal_id": group["universal_id"], "targets": targets(group),
                     "decision": "reject"}).output
    assert out["added"] == []
    left = stash.run({"mode": "review_queue"}).output["groups"]
    assert group["universal_id"] not in {g["universal_id"] for g in left}
    with journal(stash) as db:
        assert db.execute("SELECT COUNT(*) FROM rejections").fetchone()[0] == len(group["targets"])
    stash.run({"mode": "undo_run", "run_id": out["run_id"]})
    back = stash.run({"mode": "review_queue"}).output
    assert group_of(back, group["name"])["targets"] == group["targets"]
    with journal(stash) as db:
        assert db.execute("SELECT COUNT(*) FROM rejections").fetchone()[0] == 0


def test_undo_any_run_with_exact_preview(stash):
    """Two accepts; the OLDER one is undone: exactly its links go, the newer one's stay, and a link
    the user removed since is listed as staying (already gone) instead of being touched."""
    queue = seeded_queue(stash)
    powell, chavez = group_of(queue, "Colin Powell"), group_of(queue, "Hugo Chavez")
    first = stash.run({"mode": "review_decide", "universal_id": powell["universal_id"], "targets": targets(powell),
                       "decision": "accept"}).output
    second = stash.run({"mode": "review_decide", "universal_id": chavez["universal_id"], "targets": targets(chavez),
                        "decision": "accept"}).output
    powell_id = first["performer_id"]
    removed_by_user = powell["targets"][1]["id"]
    stash.server.query("mutation($ids: [ID!], $p: [ID!]) { bulkGalleryUpdate(input: {ids: $ids, "
                       "performer_ids: {ids: $p, mode: REMOVE}}) { id } }",
                       {"ids": [removed_by_user], "p": [powell_id]})

    runs = stash.run({"mode": "runs"}).output
    assert [r["id"] for r in runs["runs"][:2]] == [second["run_id"], first["run_id"]]
    assert all(r["undoable"] for r in runs["runs"][:2]) and runs["runs"][1]["added"]["gallery_performer"] == 2

    preview = stash.run({"mode": "undo_preview", "run_id": first["run_id"]}).output
    removes = {(e["target_id"], e["field"], e["id"]) for e in preview["remove"]}
    assert (powell["targets"][0]["id"], "performer", powell_id) in removes
    assert [(e["target_id"], e["id"], e["why"]) for e in preview["stays"] if e["field"] == "performer"] == [
        (removed_by_user, powell_id, "removed since")]
    assert preview["requeue"] == 2
    assert {e["name"] for e in preview["remove"] if e["field"] == "performer"} == {"Colin Powell"}

    stash.run({"mode": "undo_run", "run_id": first["run_id"]})
    assert "Colin Powell" not in stash.gallery_performers("Chavez, Powell and a stranger")
    assert "Hugo Chavez" in stash.gallery_performers("Chavez, Powell and a stranger")  # the newer run stays
    assert group_of(stash.run({"mode": "review_queue"}).output, "Colin Powell")["count"] == 2  # back in the queue
    assert "undone already" in stash.run({"mode": "undo_run", "run_id": first["run_id"]}).error


def test_deleted_gallery_shown_and_dismissed_and_decision_during_bulk_run(stash):
    queue = seeded_queue(stash)
    powell = group_of(queue, "Colin Powell")
    gone = powell["targets"][1]["id"]
    conn = connect(stash.server.db_path)
    with conn:
        conn.execute("DELETE FROM galleries WHERE id = ?", (int(gone),))
    conn.close()
    shown = group_of(stash.run({"mode": "review_queue"}).output, "Colin Powell")
    assert [t["deleted"] for t in shown["targets"] if t["id"] == gone] == [True]
    with exclusive_run("bulk run in another process", stash.data_dir):  # a bulk run holds the library
        out = stash.run({"mode": "review_decide", "universal_id": powell["universal_id"],
                         "targets": [{"type": "gallery", "id": gone}], "decision": "dismiss"}).output
        accepted = stash.run({"mode": "review_decide", "universal_id": powell["universal_id"],
                              "targets": targets(powell), "decision": "accept"}).output
    assert out["added"] == [] and [i for _, i in accepted["added"]] == [powell["targets"][0]["id"]]
    assert "Colin Powell" not in [g["name"] for g in stash.run({"mode": "review_queue"}).output["groups"]]


def test_status_threshold_preview_and_bad_arguments(stash):
    queue = seeded_queue(stash)
    status = stash.run({"mode": "page_status"}).output
    assert "problem" not in status, status
    (db,) = status["databases"]
    assert db["performers"] >= 6 and db["faces"] >= 20 and db["size_bytes"] > 0
    assert status["engine"]["mode"] == "in-process" and status["calibration"]["auto_precision"] == 0.99
    everything = stash.run({"mode": "threshold_preview", "auto": 0}).output
    assert everything["suggestions"] == everything["stored"] == queue["total_suggestions"] > 0
    confidences = sorted(t["confidence"] for g in queue["groups"] for t in g["targets"])
    middle = confidences[len(confidences) // 2]
    at_middle = stash.run({"mode": "threshold_preview", "auto": middle}).output
    assert at_middle["suggestions"] == sum(c >= middle for c in confidences) < len(confidences) + 1
    bad = stash.run({"mode": "review_decide", "universal_id": "stashdb.org:x", "targets": "1", "decision": "accept"})
    assert "targets must be a non-empty list" in bad.error


def test_page_status_without_or_with_broken_database(empty_stash):
    status = empty_stash.run({"mode": "page_status"}).output
    assert status["databases"] == [] and "Download" in status["problem"]
    assert empty_stash.run({"mode": "review_queue"}).output["groups"] == []
    broken = empty_stash.data_dir / "local_db"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{not json")
    status = empty_stash.run({"mode": "page_status"}).output
    assert "Broken database files" in status["databases"][0]["problem"]


def test_undo_stays_exact_when_runs_overlap_on_a_gallery(stash):
    """Run A adds Powell and the identified tag to a gallery, run B adds Chavez there (the tag was
    present, so B added none). Undoing A keeps the tag (Chavez still carries it, the preview says so);
    undoing B afterwards removes Chavez and the tag: nothing left behind, nothing of the user's touched."""
    queue = seeded_queue(stash)
    gallery = stash.gallery("Chavez, Powell and a stranger")
    before = stash.links()
    runs = {}
    for name in ("Colin Powell", "Hugo Chavez"):
        group = group_of(queue, name)
        runs[name] = stash.run({"mode": "review_decide", "universal_id": group["universal_id"], "decision": "accept",
                                "targets": [{"type": "gallery", "id": gallery}]}).output["run_id"]
    preview = stash.run({"mode": "undo_preview", "run_id": runs["Colin Powell"]}).output
    assert [(e["field"], e["why"]) for e in preview["stays"]] == [("tag", f"also run {runs['Hugo Chavez']}'s: its "
                                                                  "performer is still there")]
    stash.run({"mode": "undo_run", "run_id": runs["Colin Powell"]})
    assert "Stash Sense: identified" in gallery_tags(stash, gallery)
    assert stash.gallery_performers("Chavez, Powell and a stranger") == {"Hugo Chavez"}
    stash.run({"mode": "undo_run", "run_id": runs["Hugo Chavez"]})
    assert "Stash Sense: identified" not in gallery_tags(stash, gallery)
    assert {link for link in stash.links() if link[:2] == ("gallery", int(gallery))} == \
        {link for link in before if link[:2] == ("gallery", int(gallery))}
