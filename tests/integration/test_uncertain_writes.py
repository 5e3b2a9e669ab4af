"""Undo takes back only what the journal proves Stash applied (issue 21, item 3).

A write whose answer is lost (HTTP 500, Stash dying mid-request) leaves the journal unsure. If the
user then adds that performer by hand, undo must not remove the user's link. Faults are injected
into the demo Stash's GraphQL handler; the write-back and undo run in this process.
"""

from __future__ import annotations

import pytest
from plugin_env import *  # noqa: F403  (fixtures: empty_stash)

from stash_sense.library.journal import Journal
from stash_sense.library.undo import undo_run
from stash_sense.library.writeback import WriteBack
from stash_sense.stash import session as session_mod
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashError

ADD_BY_HAND = ("mutation($ids: [ID!], $p: [ID!]) { bulkGalleryUpdate(input: {ids: $ids, "
               "performer_ids: {ids: $p, mode: ADD}}) { id } }")


class Faults:
    """Wraps the demo Stash's GraphQL execution: the gallery ADD can be lost, answered 500, or
    take Stash down (every request after it fails to answer, as if the process died)."""

    def __init__(self, server, monkeypatch):
        self.server, self.original, self.dead, self.on_add = server, server.execute, False, None
        monkeypatch.setattr(server, "execute", self.execute)
        monkeypatch.setattr(session_mod, "RETRY_PAUSE_S", 0.0)

    def execute(self, query, variables=None, *args, **kwargs):
        if self.dead:
            raise ConnectionAbortedError("Stash is gone")  # the handler dies: no HTTP answer at all
        if "bulkGalleryUpdate" in query and "ADD" in str(variables) and self.on_add:
            fault, self.on_add = self.on_add, None
            if fault in ("applied, answered 500", "applied, then died"):
                self.original(query, variables, *args, **kwargs)
            if fault.endswith("died"):
                self.dead = True
                raise ConnectionAbortedError("Stash died mid-write")
            return 500, {"data": None}
        return self.original(query, variables, *args, **kwargs)

    def by_hand(self, gallery: str, performer: str) -> None:
        status, body = self.original(ADD_BY_HAND, {"ids": [gallery], "p": [performer]})
        assert status == 200 and not body.get("errors"), body


@pytest.fixture
def setup(empty_stash, monkeypatch, tmp_path):
    faults = Faults(empty_stash.server, monkeypatch)
    client = StashClient.from_plugin_input(empty_stash.server.server_connection())
    journal = Journal(tmp_path / "journal.sqlite")
    yield empty_stash, faults, client, journal
    journal.close()


def add_blair(stash, client, journal) -> tuple[WriteBack, str, str]:
    writeback = WriteBack(client, journal, "apply")
    gallery, blair = stash.gallery("Blair solo"), stash.performer("Tony Blair")
    return writeback, gallery, blair


def failed_add(setup, fault: str, match: str | None = None) -> tuple[WriteBack, str, str]:
    """Tony Blair added to his solo gallery while ``fault`` hits the write, which must raise."""
    stash, faults, client, journal = setup
    writeback, gallery, blair = add_blair(stash, client, journal)
    faults.on_add = fault
    with pytest.raises(StashError, match=match):
        writeback.add("gallery", [gallery], performer_ids=[blair])
    return writeback, gallery, blair


def statuses(journal, run_id) -> list[str]:
    return [m["status"] for m in journal.mutations(run_id)]


def test_a_write_that_never_reached_stash_is_not_undone_over_the_users_link(setup):
    stash, faults, client, journal = setup
    writeback, gallery, blair = failed_add(setup, "lost, answered 500", match="HTTP 500")
    assert statuses(journal, writeback.run_id) == ["failed"]  # checked: Stash did not apply it
    faults.by_hand(gallery, blair)  # the user adds Tony Blair themselves
    undo = undo_run(client, journal, writeback.run_id)
    assert undo["removed"] == {}
    assert "Tony Blair" in stash.gallery_performers("Blair solo")


def test_a_write_applied_but_answered_500_is_journalled_as_done_and_undone(setup):
    stash, faults, client, journal = setup
    writeback, gallery, blair = add_blair(stash, client, journal)
    faults.on_add = "applied, answered 500"
    assert writeback.add("gallery", [gallery], performer_ids=[blair]) == {gallery: {"performer": [blair], "tag": []}}
    assert statuses(journal, writeback.run_id) == ["done"]
    assert undo_run(client, journal, writeback.run_id)["removed"] == {"gallery": {gallery: {"performer": [blair]}}}
    assert "Tony Blair" not in stash.gallery_performers("Blair solo")


def test_stash_dying_mid_write_then_the_user_adding_by_hand_keeps_the_users_link(setup):
    stash, faults, client, journal = setup
    writeback, gallery, blair = failed_add(setup, "lost, then died")
    assert statuses(journal, writeback.run_id) == ["pending"]  # Stash gone: nothing could be checked
    faults.dead = False  # Stash restarted; an hour later the user adds Tony Blair by hand
    journal.db.execute("UPDATE mutations SET created_at = created_at - 3600")
    faults.by_hand(gallery, blair)
    undo = undo_run(client, journal, writeback.run_id)
    assert undo["removed"] == {} and "Tony Blair" in stash.gallery_performers("Blair solo")
    assert undo["kept_unverified"] == [{"target_type": "gallery", "target_id": gallery, "field": "performer",
                                        "ids": [blair]}]


def test_stash_dying_after_applying_the_write_is_still_undone(setup):
    stash, faults, client, journal = setup
    writeback, gallery, blair = failed_add(setup, "applied, then died")
    faults.dead = False  # Stash restarted; nobody touched the gallery since
    undo = undo_run(client, journal, writeback.run_id)
    assert undo["removed"] == {"gallery": {gallery: {"performer": [blair]}}}
    assert "Tony Blair" not in stash.gallery_performers("Blair solo")


def test_undo_with_stash_unreachable_removes_nothing_unproven(setup):
    stash, faults, client, journal = setup
    writeback, gallery, blair = failed_add(setup, "lost, then died")
    with pytest.raises(StashError):
        undo_run(client, journal, writeback.run_id)
    assert statuses(journal, writeback.run_id) == ["pending"]  # still undoable once Stash is back
