"""A performer Stash created under a failed answer is still the run's (issue 21, item 4)."""

from __future__ import annotations

import pytest
from plugin_env import *  # noqa: F403  (fixtures: empty_stash)

from stash_sense.library.journal import Journal
from stash_sense.library.undo import undo_run
from stash_sense.library.writeback import WriteBack
from stash_sense.stash import session as session_mod
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashError

NAME = "Gerhard Schroeder"  # on stash-box, not in the demo library


class CreateFaults:
    """performerCreate applied by the demo Stash, then answered HTTP 500, or Stash dying before
    it can answer (and staying down until ``dead`` is cleared)."""

    def __init__(self, server, monkeypatch, fault: str):
        self.original, self.fault, self.dead = server.execute, fault, False
        monkeypatch.setattr(server, "execute", self.execute)
        monkeypatch.setattr(session_mod, "RETRY_PAUSE_S", 0.0)

    def execute(self, query, variables=None, *args, **kwargs):
        if self.dead:
            raise ConnectionAbortedError("Stash is gone")
        answer = self.original(query, variables, *args, **kwargs)
        body = answer[1] if isinstance(answer, tuple) else {}
        applied = bool(body.get("data")) and not body.get("errors")
        if "performerCreate" in query and self.fault and applied:  # a create Stash refused is no fault
            fault, self.fault = self.fault, None
            if fault == "died":
                self.dead = True
                raise ConnectionAbortedError("Stash died before answering")
            return 500, {"data": None}
        return answer


def store_suggestion(stash, gallery: str) -> str:
    """The candidate as the gallery modal stored it (apply then needs no face database)."""
    universal_id = stash.scenario.identity(NAME).universal_id
    journal = Journal()
    journal.store_suggestions("gallery", gallery, [{"index": 0, "candidates": [
        {"universal_id": universal_id, "name": NAME, "confidence": 0.8, "band": "review"}]}])
    journal.close()
    return universal_id


def test_apply_answered_500_after_creating_reports_created_and_undo_deletes_it(empty_stash, monkeypatch):
    stash = empty_stash
    gallery = stash.gallery("Schroeder zip")
    universal_id = store_suggestion(stash, gallery)
    performers = stash.performers_table()
    CreateFaults(stash.server, monkeypatch, "answered 500")
    out = stash.run({"mode": "apply", "target_type": "gallery", "target_id": gallery,
                     "universal_id": universal_id}).output
    created = stash.performer(NAME)
    assert out["created"] is True and out["performer_id"] == created
    assert stash.gallery_performers("Schroeder zip") == {NAME}
    undo = stash.run({"mode": "undo_last_run"}).output
    assert [p["performer_id"] for p in undo["deleted_created_performers"]] == [created]
    assert stash.performer(NAME) is None and stash.performers_table() == performers


def test_stash_dying_after_creating_leaves_an_intent_that_undo_follows(empty_stash, monkeypatch, tmp_path):
    stash = empty_stash
    faults = CreateFaults(stash.server, monkeypatch, "died")
    client = StashClient.from_plugin_input(stash.server.server_connection())
    journal = Journal(tmp_path / "journal.sqlite")
    writeback = WriteBack(client, journal, "apply")
    with pytest.raises(StashError):
        writeback.performer_for(stash.scenario.identity(NAME).universal_id, {"name": NAME})
    faults.dead = False  # Stash is back
    assert stash.performer(NAME) is not None  # it did create the performer before dying
    undo = undo_run(client, journal, writeback.run_id)
    assert [p["name"] for p in undo["deleted_created_performers"]] == [NAME]
    assert stash.performer(NAME) is None
    journal.close()


def test_a_create_that_really_failed_is_not_undone_later(empty_stash, monkeypatch, tmp_path):
    """The intent of a creation Stash refused resolves to failed; a performer the user creates
    with that stash id later is theirs."""
    stash = empty_stash
    client = StashClient.from_plugin_input(stash.server.server_connection())
    journal = Journal(tmp_path / "journal.sqlite")
    original = stash.server.execute

    def refuse(query, variables=None, *args, **kwargs):
        if "performerCreate" in query:
            return 500, {"data": None}
        return original(query, variables, *args, **kwargs)

    monkeypatch.setattr(stash.server, "execute", refuse)
    writeback = WriteBack(client, journal, "apply")
    with pytest.raises(StashError):
        writeback.performer_for(stash.scenario.identity(NAME).universal_id, {"name": NAME})
    assert [i["status"] for i in journal.db.execute("SELECT status FROM performer_intents")] == ["failed"]
    journal.close()
