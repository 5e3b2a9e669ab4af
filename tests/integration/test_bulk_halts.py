"""A bulk run stops as a whole, resumably, when Stash is gone for good (issue 21, weak spot).

Without this, every remaining gallery of a big library is logged "skipped: Lost connection" and
the task ends FINISHED. Here Stash stops answering right after the run's first write: the run must
stop after a few galleries with one clear message, and the run started again once Stash is back
must resume in the same journal run, so one undo takes back both parts.
"""

from __future__ import annotations

import shutil

from plugin_env import *  # noqa: F403  (fixtures: reference_db)
from plugin_env import SESSION, run_plugin

from devtools.demo import scenario as demo
from devtools.demo.seed import connect
from devtools.demo.server import DemoStash
from stash_sense.jobs.halt import MAX_UNREACHABLE_IN_A_ROW
from stash_sense.service import databases

MORE = [("Blair again", {"Tony_Blair": 3}, False, []), ("Powell again", {"Colin_Powell": 3}, False, []),
        ("Chirac again", {"Jacques_Chirac": 3}, False, []), ("Rumsfeld again", {"Donald_Rumsfeld": 3}, False, []),
        ("Blair and Powell", {"Tony_Blair": 2, "Colin_Powell": 2}, False, [])]


class DiesAfterFirstWrite:
    """The demo Stash answering nothing (connections dropped) once the run's first write landed."""

    def __init__(self, server: DemoStash, monkeypatch):
        self.original, self.dead, self.armed = server.execute, False, True
        monkeypatch.setattr(server, "execute", self.execute)

    def execute(self, query, variables=None, *args, **kwargs):
        if self.dead:
            raise ConnectionAbortedError("Stash is gone")
        answer = self.original(query, variables, *args, **kwargs)
        if self.armed and "bulkGalleryUpdate" in query and "ADD" in str(variables):
            self.dead, self.armed = True, False
        return answer


def links(db) -> set:
    conn = connect(db)
    try:
        return {tuple(r) for r in conn.execute("SELECT * FROM links")}
    finally:
        conn.close()


def test_stash_gone_stops_the_run_once_and_the_resumed_run_is_one_undo(tmp_path, reference_db, monkeypatch,
                                                                         isolated_data_dir):
    monkeypatch.setenv("STASH_SENSE_PACK", "test-mbf128")
    scenario = demo.build_scenario(tmp_path, galleries=demo.GALLERIES + MORE)
    db = tmp_path / "stash.sqlite"
    demo.seed_stash(db, scenario)
    shutil.copytree(reference_db, databases.local_db_path())
    seeded = links(db)
    server = DemoStash(db, session=SESSION)
    server.start()
    try:
        stash = DiesAfterFirstWrite(server, monkeypatch)
        first = run_plugin(server.server_connection(), {"mode": "bulk_galleries"})
        assert first.returncode == 0 and "stopped answering" in first.error and "start the task again" in first.error
        lost = [line for line in first.logs("e") if " skipped: Lost connection to Stash" in line]
        assert len(lost) == MAX_UNREACHABLE_IN_A_ROW, first.logs("e")  # not one line per remaining gallery
        assert first.logs("e")[-1] == first.error  # one clear message, last
        assert links(db) != seeded  # the first gallery was written before Stash went away

        stash.dead = False  # Stash is back: the same task again
        second = run_plugin(server.server_connection(), {"mode": "bulk_galleries"})
        assert second.output["resumed"] and any("resuming run" in line for line in second.logs("i"))
        galleries = server.query("{ findGalleries(filter: {per_page: -1}) { galleries { id title performers "
                                 "{ name } } } }")["findGalleries"]["galleries"]
        failed = set(second.output["failed_galleries"])  # for reasons of their own, not Stash's
        assert len(failed) < len(galleries) // 2, second.logs("e")
        names = {g["title"]: {p["name"] for p in g["performers"]} for g in galleries if g["id"] not in failed}
        for title, truth in scenario.truth.items():
            assert title not in names or truth <= names[title], title

        journal = connect(isolated_data_dir / "journal.sqlite")
        try:
            runs = {r[0] for r in journal.execute("SELECT DISTINCT run_id FROM mutations WHERE status = 'done'")}
        finally:
            journal.close()
        assert len(runs) == 1  # both processes wrote into one journal run
        undo = run_plugin(server.server_connection(), {"mode": "undo_last_run"}).output
        assert undo["run_id"] in runs and links(db) == seeded  # one undo takes back both parts
    finally:
        server.stop()

