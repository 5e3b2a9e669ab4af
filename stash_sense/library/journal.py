"""What Stash Sense changed in Stash, and what it suggested or was told to forget (SQLite).

Why a journal: undo must revert exactly what we added and nothing a user added since. Every
mutation is recorded *before* it is sent, with the ids it will add that were not present (``added``)
and the full before state; ``after`` is filled in once Stash confirmed it. Undo removes only
``added`` ids that are still present.

The same file keeps the stored suggestions (review-band matches the gallery modal shows without
recomputing) and the rejections (never propose that performer for that target again); the bulk task
reuses all three.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from stash_sense import paths
from stash_sense.library.store import open_store

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL,
  status TEXT NOT NULL DEFAULT 'running',   -- running | done | failed | rolled_back | undone
  undone_at REAL, summary TEXT
);
CREATE TABLE IF NOT EXISTS mutations (
  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),
  target_type TEXT NOT NULL,                -- gallery | image | scene | performer
  target_id TEXT NOT NULL,
  field TEXT NOT NULL,                      -- performer | tag | stash_id
  added TEXT NOT NULL,                      -- JSON list: ids (or stash-id dicts) we add that were absent
  before TEXT NOT NULL, after TEXT,         -- JSON lists of the field's ids
  status TEXT NOT NULL DEFAULT 'pending',   -- pending | done | failed | undone
  created_at REAL NOT NULL
);
-- a run's mutations (undo, resume, the runs page) and a target's (undo's hand-over between runs, once
-- per mutation): without these every lookup scans the whole journal, and undo of a library-sized run
-- costs O(mutations^2)
CREATE INDEX IF NOT EXISTS mutations_by_run ON mutations (run_id, status);
CREATE INDEX IF NOT EXISTS mutations_by_target ON mutations (target_type, target_id, field);
CREATE TABLE IF NOT EXISTS created_performers (
  run_id INTEGER NOT NULL, performer_id TEXT NOT NULL, universal_id TEXT, name TEXT,
  PRIMARY KEY (run_id, performer_id)
);
CREATE TABLE IF NOT EXISTS performer_intents (  -- a performerCreate about to be sent (see creations.py)
  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, universal_id TEXT NOT NULL, name TEXT,
  endpoint TEXT NOT NULL, stash_id TEXT NOT NULL, created_at REAL NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending', performer_id TEXT   -- pending | done | failed
);
CREATE TABLE IF NOT EXISTS suggestions (
  target_type TEXT NOT NULL, target_id TEXT NOT NULL, universal_id TEXT NOT NULL,
  person_index INTEGER NOT NULL, confidence REAL NOT NULL, band TEXT NOT NULL,
  person TEXT NOT NULL, candidate TEXT NOT NULL, db_version TEXT, created_at REAL NOT NULL,
  PRIMARY KEY (target_type, target_id, person_index, universal_id)
);
CREATE INDEX IF NOT EXISTS suggestions_by_identity ON suggestions (universal_id, confidence);
CREATE TABLE IF NOT EXISTS rejections (
  target_type TEXT NOT NULL, target_id TEXT NOT NULL, universal_id TEXT NOT NULL, created_at REAL NOT NULL,
  PRIMARY KEY (target_type, target_id, universal_id)
);
CREATE TABLE IF NOT EXISTS enrolled (
  universal_id TEXT NOT NULL, source TEXT NOT NULL, created_at REAL NOT NULL,
  PRIMARY KEY (universal_id, source)
);
"""


def journal_path() -> Path:
    return paths.data_dir() / "journal.sqlite"


class Journal:
    """One connection to the journal database (created on first use)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path or journal_path())
        self.db = open_store(self.path, SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- runs

    def start_run(self, kind: str) -> int:
        return self.db.execute("INSERT INTO runs (kind, started_at) VALUES (?, ?)", (kind, time.time())).lastrowid

    def finish_run(self, run_id: int, status: str = "done", summary: dict | None = None) -> None:
        self.db.execute("UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?",
                        (status, time.time(), json.dumps(summary) if summary is not None else None, run_id))

    def resumable(self, run_id: int | None) -> bool:
        """The run was left running by a killed process and nobody undid it since."""
        if run_id is None:
            return False
        row = self.db.execute("SELECT status, undone_at FROM runs WHERE id = ?", (run_id,)).fetchone()
        return row is not None and row["status"] == "running" and row["undone_at"] is None

    def set_summary(self, run_id: int, summary: dict) -> None:
        self.db.execute("UPDATE runs SET summary = ? WHERE id = ?", (json.dumps(summary), run_id))

    def last_undoable_run(self, kind: str | None = None) -> sqlite3.Row | None:
        """Most recent run that changed something and was not undone yet (optionally of one kind)."""
        sql = ("SELECT * FROM runs r WHERE undone_at IS NULL AND status != 'rolled_back'"
               " AND EXISTS (SELECT 1 FROM mutations m WHERE m.run_id = r.id AND m.status IN ('pending', 'done'))")
        args: tuple = ()
        if kind:
            sql += " AND kind = ?"
            args = (kind,)
        return self.db.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()

    def mark_undone(self, run_id: int, status: str = "undone") -> None:
        self.db.execute("UPDATE runs SET undone_at = ?, status = ? WHERE id = ?", (time.time(), status, run_id))

    # -- mutations

    def record(self, run_id: int, target_type: str, target_id: str, field: str, added: list,
               before: list) -> int:
        """Write the intent before the mutation is sent: a crash in between still leaves it undoable."""
        return self.db.execute(
            "INSERT INTO mutations (run_id, target_type, target_id, field, added, before, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, target_type, str(target_id), field, json.dumps(added), json.dumps(before), time.time()),
        ).lastrowid

    def confirm(self, mutation_id: int, after: list | None, status: str = "done") -> None:
        self.db.execute("UPDATE mutations SET after = ?, status = ? WHERE id = ?",
                        (json.dumps(after) if after is not None else None, status, mutation_id))

    def mutations(self, run_id: int) -> list[dict]:
        rows = self.db.execute("SELECT * FROM mutations WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        return [{**dict(r), "added": json.loads(r["added"]), "before": json.loads(r["before"]),
                 "after": json.loads(r["after"]) if r["after"] else None} for r in rows]

    def created(self, run_id: int, performer_id: str, universal_id: str | None, name: str | None) -> None:
        self.db.execute("INSERT OR IGNORE INTO created_performers VALUES (?, ?, ?, ?)",
                        (run_id, str(performer_id), universal_id, name))

    def created_in(self, run_id: int) -> list[dict]:
        rows = self.db.execute("SELECT * FROM created_performers WHERE run_id = ?", (run_id,)).fetchall()
        return [dict(r) for r in rows]

    def intend_create(self, run_id: int, universal_id: str, name: str | None, endpoint: str, stash_id: str) -> int:
        """Written before performerCreate is sent: an answer lost after Stash created it still
        leaves a trace that undo and reconciliation follow (by the stash id it carries)."""
        return self.db.execute(
            "INSERT INTO performer_intents (run_id, universal_id, name, endpoint, stash_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (run_id, universal_id, name, endpoint, stash_id, time.time())).lastrowid

    def resolve_intent(self, intent_id: int, status: str, performer_id: str | None = None) -> None:
        self.db.execute("UPDATE performer_intents SET status = ?, performer_id = ? WHERE id = ?",
                        (status, performer_id, intent_id))

    def pending_intents(self, run_id: int) -> list[dict]:
        rows = self.db.execute("SELECT * FROM performer_intents WHERE run_id = ? AND status = 'pending'",
                               (run_id,)).fetchall()
        return [dict(r) for r in rows]

    # -- suggestions

    def store_suggestions(self, target_type: str, target_id: str, persons: list[dict],
                          db_version: str | None = None) -> int:
        """Replace the target's stored suggestions with these persons' candidates (contract shape)."""
        now = time.time()
        rows = []
        for person in persons:
            info = {k: v for k, v in person.items() if k != "candidates"}
            for candidate in person.get("candidates") or []:
                rows.append((target_type, str(target_id), candidate["universal_id"], int(person["index"]),
                             float(candidate["confidence"]), candidate.get("band", ""), json.dumps(info),
                             json.dumps(candidate), db_version, now))
        with self.transaction():
            self.db.execute("DELETE FROM suggestions WHERE target_type = ? AND target_id = ?",
                            (target_type, str(target_id)))
            self.db.executemany("INSERT OR REPLACE INTO suggestions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def suggestions(self, target_type: str, target_id: str) -> list[dict]:
        """Stored persons with their candidates, best candidate first, in person order."""
        rows = self.db.execute(
            "SELECT * FROM suggestions WHERE target_type = ? AND target_id = ?"
            " ORDER BY person_index, confidence DESC, universal_id", (target_type, str(target_id))).fetchall()
        persons: dict[int, dict] = {}
        for row in rows:
            person = persons.setdefault(row["person_index"], {**json.loads(row["person"]), "candidates": []})
            person["candidates"].append(json.loads(row["candidate"]))
        return [persons[i] for i in sorted(persons)]

    def clear_suggestions(self, target_type: str, target_id: str, universal_id: str | None = None) -> None:
        sql, args = "DELETE FROM suggestions WHERE target_type = ? AND target_id = ?", [target_type, str(target_id)]
        if universal_id is not None:
            sql += " AND universal_id = ?"
            args.append(universal_id)
        self.db.execute(sql, args)

    # -- the review queue (the Stash Sense page): every stored suggestion, grouped by identity

    def queue_groups(self, where: QueueFilter, limit: int, offset: int) -> tuple[int, int, list[dict]]:
        """(groups, suggestions, one page of groups): identities by how many targets they clear,
        then best confidence; the paging happens here so 10,000 suggestions never leave SQLite at once."""
        sql, args = where.sql()
        totals = self.db.execute(f"SELECT COUNT(DISTINCT universal_id), COUNT(*) FROM suggestions s WHERE {sql}",
                                 args).fetchone()
        rows = self.db.execute(
            f"SELECT universal_id, COUNT(DISTINCT target_type || ':' || target_id) AS targets, MAX(confidence) AS best"
            f" FROM suggestions s WHERE {sql} GROUP BY universal_id ORDER BY targets DESC, best DESC, universal_id"
            " LIMIT ? OFFSET ?", (*args, limit, offset)).fetchall()
        return int(totals[0]), int(totals[1]), [dict(r) for r in rows]

    def queue_rows(self, universal_ids: list[str], where: QueueFilter, per_group: int = 50) -> list[dict]:
        """The suggestions of these identities that pass the filter, best first (at most
        ``per_group`` each: one page never carries a whole library's worth of one performer)."""
        if not universal_ids:
            return []
        sql, args = where.sql()
        marks = ", ".join("?" * len(universal_ids))
        rows = self.db.execute(
            "SELECT * FROM (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY universal_id ORDER BY confidence DESC,"
            f" target_type, CAST(target_id AS INTEGER)) AS rank FROM suggestions s WHERE universal_id IN ({marks})"
            f" AND {sql}) WHERE rank <= ? ORDER BY confidence DESC, target_type, CAST(target_id AS INTEGER)",
            (*universal_ids, *args, per_group)).fetchall()
        return [_suggestion_row(r) for r in rows]

    def claim_suggestions(self, universal_id: str, targets: list[tuple[str, str]]) -> list[dict]:
        """Take this identity's suggestions on these targets out of the queue, atomically: of two
        tabs deciding the same suggestion only the first gets rows back (and writes)."""
        claimed: list[dict] = []
        with self.transaction():
            for target_type, target_id in targets:
                rows = self.db.execute("SELECT * FROM suggestions WHERE target_type = ? AND target_id = ?"
                                       " AND universal_id = ?", (target_type, str(target_id), universal_id)).fetchall()
                claimed.extend(_suggestion_row(r) for r in rows)
                self.db.execute("DELETE FROM suggestions WHERE target_type = ? AND target_id = ? AND universal_id = ?",
                                (target_type, str(target_id), universal_id))
        return claimed

    def restore_suggestions(self, rows: list[dict]) -> None:
        """Put claimed suggestions back (a failed or undone decision)."""
        self.db.executemany(
            "INSERT OR REPLACE INTO suggestions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r["target_type"], r["target_id"], r["universal_id"], r["person_index"], r["confidence"], r["band"],
              json.dumps(r["person"]), json.dumps(r["candidate"]), r.get("db_version"), r["created_at"])
             for r in rows])

    def with_suggestions(self, target_type: str, target_ids: list[str]) -> set[str]:
        """Which of these targets still have a suggestion left to decide."""
        if not target_ids:
            return set()
        marks = ", ".join("?" * len(target_ids))
        rows = self.db.execute(f"SELECT DISTINCT target_id FROM suggestions WHERE target_type = ?"
                               f" AND target_id IN ({marks})", (target_type, *map(str, target_ids))).fetchall()
        return {r["target_id"] for r in rows}

    def count_at_or_above(self, confidence: float) -> dict:
        """Stored suggestions (and targets) a threshold of ``confidence`` would turn into auto-tags."""
        row = self.db.execute("SELECT COUNT(*), COUNT(DISTINCT target_type || ':' || target_id) FROM suggestions"
                              " WHERE confidence >= ?", (confidence,)).fetchone()
        total = self.db.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0]
        return {"suggestions": int(row[0]), "targets": int(row[1]), "stored": int(total)}

    # -- run history (the Stash Sense page)

    def runs_page(self, limit: int, offset: int) -> tuple[int, list[dict]]:
        """Runs newest first, with how many links each added (per target type) and whether undo has work."""
        total = self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        rows = self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)).fetchall()
        out = []
        for row in rows:
            counts = self.db.execute(
                "SELECT target_type, field, status, added FROM mutations WHERE run_id = ?", (row["id"],)).fetchall()
            added: dict[str, int] = {}
            live = 0
            for m in counts:
                n = len(json.loads(m["added"]))
                added[f"{m['target_type']}_{m['field']}"] = added.get(f"{m['target_type']}_{m['field']}", 0) + n
                live += m["status"] in ("pending", "done")
            out.append({**dict(row), "summary": json.loads(row["summary"]) if row["summary"] else None,
                        "added": added, "undoable": bool(live) and row["undone_at"] is None})
        return int(total), out

    def run(self, run_id: int) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()

    def other_live_run_on(self, target_type: str, target_id: str, run_id: int) -> int | None:
        """The latest other run, not undone, that added a performer to this target: a tag this run
        added there is that run's too (it would have added it), so undoing this run hands it over."""
        row = self.db.execute(
            "SELECT m.run_id FROM mutations m JOIN runs r ON r.id = m.run_id WHERE m.target_type = ?"
            " AND m.target_id = ? AND m.field = 'performer' AND m.status = 'done' AND m.run_id != ?"
            " AND r.undone_at IS NULL ORDER BY m.run_id DESC LIMIT 1", (target_type, str(target_id), run_id)).fetchone()
        return int(row["run_id"]) if row else None

    def hand_over(self, mutation_id: int, to_run: int) -> None:
        """Move a mutation to another run (status ``handed_over`` here, ``done`` there), so undo of
        either run stays exact when both touched the same target."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO mutations (run_id, target_type, target_id, field, added, before, after, status,"
                " created_at) SELECT ?, target_type, target_id, field, added, before, after, 'done', created_at"
                " FROM mutations WHERE id = ?", (to_run, mutation_id))
            self.db.execute("UPDATE mutations SET status = 'handed_over' WHERE id = ?", (mutation_id,))

    def unreject(self, target_type: str, target_id: str, universal_id: str) -> None:
        self.db.execute("DELETE FROM rejections WHERE target_type = ? AND target_id = ? AND universal_id = ?",
                        (target_type, str(target_id), universal_id))

    # -- rejections

    def reject(self, target_type: str, target_id: str, universal_id: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO rejections VALUES (?, ?, ?, ?)",
                        (target_type, str(target_id), universal_id, time.time()))

    def rejected(self, target_type: str, target_id: str) -> set[str]:
        rows = self.db.execute("SELECT universal_id FROM rejections WHERE target_type = ? AND target_id = ?",
                               (target_type, str(target_id))).fetchall()
        return {r["universal_id"] for r in rows}

    # -- local enrollment bookkeeping

    def enrolled_sources(self, universal_id: str) -> set[str]:
        rows = self.db.execute("SELECT source FROM enrolled WHERE universal_id = ?", (universal_id,)).fetchall()
        return {r["source"] for r in rows}

    def mark_enrolled(self, universal_id: str, sources: Iterable[str]) -> None:
        now = time.time()
        self.db.executemany("INSERT OR IGNORE INTO enrolled VALUES (?, ?, ?)",
                            [(universal_id, s, now) for s in sources])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")


def _suggestion_row(row: sqlite3.Row) -> dict:
    fields = {k: row[k] for k in row.keys() if k != "rank"}
    return {**fields, "person": json.loads(row["person"]), "candidate": json.loads(row["candidate"])}


class QueueFilter:
    """The review queue's filters as one SQL condition over ``suggestions s`` (rejected ones never show)."""

    def __init__(self, target_types: tuple[str, ...] = (), min_confidence: float = 0.0, max_confidence: float = 1.0,
                 performer: str | None = None, target_ids: dict[str, list[str]] | None = None):
        self.target_types = target_types
        self.min_confidence = min_confidence
        self.max_confidence = max_confidence
        self.performer = performer
        self.target_ids = target_ids  # only these targets (e.g. those with a tag), per type

    def sql(self) -> tuple[str, list]:
        parts = ["s.confidence >= ?", "s.confidence <= ?",
                 "NOT EXISTS (SELECT 1 FROM rejections r WHERE r.target_type = s.target_type"
                 " AND r.target_id = s.target_id AND r.universal_id = s.universal_id)"]
        args: list = [self.min_confidence, self.max_confidence]
        if self.target_types:
            parts.append(f"s.target_type IN ({', '.join('?' * len(self.target_types))})")
            args.extend(self.target_types)
        if self.performer:
            parts.append("(s.universal_id = ? OR json_extract(s.candidate, '$.name') LIKE ? ESCAPE '\\')")
            like = self.performer.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.extend([self.performer, f"%{like}%"])
        if self.target_ids is not None:
            ors = [f"(s.target_type = ? AND s.target_id IN ({', '.join('?' * len(ids))}))"
                   for ids in self.target_ids.values() if ids]
            parts.append("(" + (" OR ".join(ors) or "0") + ")")
            for kind, ids in self.target_ids.items():
                if ids:
                    args.extend([kind, *ids])
        return " AND ".join(parts), args
