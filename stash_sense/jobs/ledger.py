"""Which galleries a bulk run has finished, so a re-run skips them and a killed run resumes.

A gallery is recorded as done only after its writes went through, in the same process step, so
a kill at any point leaves it either done (skipped next time) or not (processed again; the
write-back adds only what is still missing, so nothing is written twice). Runs are recorded with
their journal run id so that a resumed run keeps writing into the same journal run and
"Undo last bulk run" takes back the whole of it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from stash_sense import paths
from stash_sense.library.store import open_store

# synchronous=NORMAL: no fsync per gallery. A power cut can lose the last marks (never corrupt the
# file); those galleries are then processed again, which writes nothing twice. The journal, which
# undo relies on, keeps full durability.
SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS bulk_runs (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, signature TEXT NOT NULL, selection TEXT NOT NULL,
  journal_run_id INTEGER, status TEXT NOT NULL DEFAULT 'running',   -- running | done
  started_at REAL NOT NULL, finished_at REAL, summary TEXT
);
CREATE TABLE IF NOT EXISTS galleries (
  gallery_id TEXT PRIMARY KEY, signature TEXT NOT NULL, status TEXT NOT NULL,   -- done | failed
  bulk_run_id INTEGER NOT NULL, result TEXT, updated_at REAL NOT NULL
);
"""


def ledger_path() -> Path:
    return paths.data_dir() / "bulk.sqlite"


class Ledger:
    def __init__(self, path: Path | None = None):
        self.path = Path(path or ledger_path())
        self.db = open_store(self.path, SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- runs

    def interrupted_run(self, kind: str, signature: str, selection: str) -> sqlite3.Row | None:
        """The latest run of this kind that never finished, if it ran with the same signature and selection."""
        row = self.db.execute("SELECT * FROM bulk_runs WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,)).fetchone()
        if row and row["status"] == "running" and row["signature"] == signature and row["selection"] == selection:
            return row
        return None

    def start_run(self, kind: str, signature: str, selection: str, journal_run_id: int | None) -> int:
        self.db.execute("UPDATE bulk_runs SET status = 'abandoned' WHERE kind = ? AND status = 'running'", (kind,))
        return self.db.execute(
            "INSERT INTO bulk_runs (kind, signature, selection, journal_run_id, started_at) VALUES (?, ?, ?, ?, ?)",
            (kind, signature, selection, journal_run_id, time.time())).lastrowid

    def finish_run(self, run_id: int, summary: dict) -> None:
        self.db.execute("UPDATE bulk_runs SET status = 'done', finished_at = ?, summary = ? WHERE id = ?",
                        (time.time(), json.dumps(summary), run_id))

    # -- galleries

    def done_with(self, signature: str) -> set[str]:
        """Galleries finished with this signature (same database version and deciding settings)."""
        rows = self.db.execute("SELECT gallery_id FROM galleries WHERE status = 'done' AND signature = ?",
                               (signature,))
        return {r["gallery_id"] for r in rows}

    def done_in(self, run_id: int) -> set[str]:
        """Galleries a given run finished (a resumed forced run skips only these)."""
        rows = self.db.execute("SELECT gallery_id FROM galleries WHERE status = 'done' AND bulk_run_id = ?",
                               (run_id,))
        return {r["gallery_id"] for r in rows}

    def mark(self, gallery_id: str, signature: str, status: str, run_id: int, result: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO galleries VALUES (?, ?, ?, ?, ?, ?)",
                        (str(gallery_id), signature, status, run_id, json.dumps(result), time.time()))
