"""The one place the plugin gets a face engine and an ``Identifier``.

Everything in the plugin calls ``identifier_for`` (or ``engine_for`` when no database is needed,
e.g. enrollment), so swapping the in-process engine for a warm worker process is a change here only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from stash_sense.paths import DEFAULT_PACK

if TYPE_CHECKING:  # the engine costs seconds to import: only operations that need it pay for it
    from stash_sense.engine.identify import Identifier
    from stash_sense.engine.pipeline import Engine
    from stash_sense.service import Service

NO_DATABASE = ("No face database installed yet. Run the task \"Download/update face database\" "
               "(or \"Build local reference from my performers\") in Settings > Tasks, then try again.")

_engine: Engine | None = None
_identifier: Identifier | None = None
_service: Service | None = None


class NoDatabaseError(RuntimeError):
    """No face database at all; the message starts with "No face database" (the UI keys on it)."""


def pack_name() -> str:
    """Model pack: ``STASH_SENSE_PACK`` (tests and demo use ``test-mbf128``), else the published one."""
    return os.environ.get("STASH_SENSE_PACK") or DEFAULT_PACK


def engine_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def engine_for(settings: object | None = None) -> Engine:
    """The process's engine (models loaded once)."""
    global _engine
    if _engine is None:
        from stash_sense.engine.pipeline import Engine

        _engine = Engine(pack_name(), threads=engine_threads())
    return _engine


def identifier_for(settings: object | None = None) -> Identifier:
    """Engine + every installed database for its pack; raises NoDatabaseError when there is none.

    The database check comes first so that a fresh install does not download models for nothing.
    """
    global _identifier
    if _identifier is None:
        from stash_sense.engine.identify import Identifier
        from stash_sense.service import databases

        if not databases.database_paths():
            raise NoDatabaseError(NO_DATABASE)
        engine = engine_for(settings)
        dbs = databases.open_databases(engine.pack)
        if not any(len(db.performers) for db in dbs):
            raise NoDatabaseError(NO_DATABASE.replace("installed yet", "with any performer installed yet"))
        _identifier = Identifier(engine, dbs)
    return _identifier


def service() -> Service:
    """The warm engine worker (or an in-process engine when it cannot run) for identification.

    Raises NoDatabaseError before anything starts when no database is installed.
    """
    global _service
    if _service is None:
        from stash_sense.service import databases, get_service

        if not databases.database_paths():
            raise NoDatabaseError(NO_DATABASE)
        if not database_info()["performers"]:
            raise NoDatabaseError(NO_DATABASE.replace("installed yet", "with any performer installed yet"))
        _service = get_service(pack_name(), engine_threads())
    return _service


def database_info() -> dict:
    """Version(s) and performer count of the installed databases, from their manifests on disk."""
    from stash_sense.service import databases

    versions, performers = [], 0
    for path in databases.database_paths():
        try:
            manifest = json.loads((path / "manifest.json").read_text())
            count = manifest.get("performer_count")
            if count is None:  # a Stash Sense release's own manifest does not carry it
                count = len(json.loads((path / "performers.json").read_text()))
        except (OSError, ValueError):
            continue
        versions.append(str(manifest.get("version")))
        performers += int(count)
    return {"version": " + ".join(versions) if versions else None, "performers": performers}


def calibration_thresholds() -> dict[str, float]:
    """The pack's calibrated auto/review thresholds, read without importing the engine."""
    path = Path(__file__).resolve().parents[1] / "engine" / "packs" / f"{pack_name()}.calibration.json"
    try:
        data = json.loads(path.read_text())
        return {"auto": float(data["auto_threshold"]), "review": float(data["review_threshold"])}
    except (OSError, ValueError, KeyError):
        from stash_sense.engine.calibration import load_calibration
        from stash_sense.engine.packs import load_pack

        calibration = load_calibration(load_pack(pack_name()))
        return {"auto": calibration.auto_threshold, "review": calibration.review_threshold}


def database_record(universal_id: str) -> dict:
    """An identity's record from the installed databases' performers.json (no index loading)."""
    from stash_sense.service import databases

    for path in databases.database_paths():
        try:
            record = json.loads((path / "performers.json").read_text()).get(universal_id)
        except (OSError, ValueError):
            continue
        if record:
            return record
    return {}


def forget() -> None:
    """Drop the cached identifier (after a database download or enrollment changed the files).

    The worker notices changed database files by itself and reloads them.
    """
    global _identifier
    _identifier = None
