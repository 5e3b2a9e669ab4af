"""A demo library with a known truth: galleries of real LFW faces, Stash performers in every state
the write-back has to handle, and a reference database built from *other* images of the same people.

Shared by ``make demo`` (``demo/run.py``) and the plugin tests, so both exercise the same cases:
a performer found by stash id, one only matched by name (no stash id yet), ones that exist only
on stash-box (to be created), a performer already on a gallery, a zip gallery, several people per
gallery, and a stranger who is in no database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from devtools.demo.samples import lfw_dir
from devtools.demo.seed import DEFAULT_ENDPOINT, make_zip

REFERENCE_IMAGES = 4  # images per identity in the reference database (never shown in galleries)
STRANGER = "Serena_Williams"  # in galleries, in no database: must come out unknown
USER_PERFORMER = "Someone Else"  # a performer the user put on a gallery: must never be removed


@dataclass(frozen=True)
class Identity:
    folder: str  # LFW folder name
    stash_state: str  # "stash_id" (local, linked) | "name" (local, no stash id) | "stashbox" (not local)

    @property
    def name(self) -> str:
        return self.folder.replace("_", " ")

    @property
    def stash_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stash-sense-demo/{self.folder}"))

    @property
    def universal_id(self) -> str:
        return f"stashdb.org:{self.stash_id}"


IDENTITIES = [
    Identity("Tony_Blair", "stash_id"),
    Identity("Donald_Rumsfeld", "stash_id"),
    Identity("Jacques_Chirac", "name"),
    Identity("Gerhard_Schroeder", "stashbox"),
    Identity("Hugo_Chavez", "stashbox"),
    Identity("Colin_Powell", "stash_id"),
]

# title -> (identity folders with how many images each, zip?, performers already on the gallery)
GALLERIES: list[tuple[str, dict[str, int], bool, list[str]]] = [
    ("Blair solo", {"Tony_Blair": 4}, False, [USER_PERFORMER]),
    ("Rumsfeld and Chirac", {"Donald_Rumsfeld": 3, "Jacques_Chirac": 3}, False, ["Donald Rumsfeld"]),
    ("Schroeder zip", {"Gerhard_Schroeder": 4}, True, []),
    ("Chavez, Powell and a stranger", {"Hugo_Chavez": 3, "Colin_Powell": 3, STRANGER: 2}, False, []),
    ("Stranger only", {STRANGER: 3}, False, []),
]

# People in no database who recur over several galleries, beside known ones: the library's own
# faces (recurring unknown people, "find this performer everywhere").
UNKNOWN_RECURRING = {"Silvio_Berlusconi", "Junichiro_Koizumi", "Vladimir_Putin"}
RECURRING_GALLERIES: list[tuple[str, dict[str, int], bool, list[str]]] = [
    ("Berlusconi one", {"Silvio_Berlusconi": 3}, False, []),
    ("Berlusconi and Koizumi", {"Silvio_Berlusconi": 2, "Junichiro_Koizumi": 2}, False, []),
    ("Koizumi two", {"Junichiro_Koizumi": 3}, False, []),
    ("Putin one", {"Vladimir_Putin": 3}, False, []),
    ("Putin and Berlusconi", {"Vladimir_Putin": 2, "Silvio_Berlusconi": 2}, False, []),
    ("Blair again", {"Tony_Blair": 3}, False, []),
    ("Blair and Powell", {"Tony_Blair": 2, "Colin_Powell": 2}, False, []),
]


def _images(folder: str) -> list[Path]:
    found = sorted((lfw_dir() / folder).glob("*.jpg"))
    if not found:
        raise FileNotFoundError(f"no LFW images for {folder} under {lfw_dir()}")
    return found


@dataclass
class Scenario:
    galleries: list[dict] = field(default_factory=list)  # seed() input
    performers: list[dict] = field(default_factory=list)  # seed() input
    truth: dict[str, set[str]] = field(default_factory=dict)  # gallery title -> names really in it
    reference: dict[str, list[Path]] = field(default_factory=dict)  # universal id -> reference images
    records: dict[str, dict] = field(default_factory=dict)  # universal id -> database performer record

    def identity(self, name: str) -> Identity:
        return next(i for i in IDENTITIES if i.name == name)


def build_scenario(workdir: Path, galleries: list | None = None, identities: list[Identity] | None = None) -> Scenario:
    """Seed input, truth and reference sets; zip galleries are written into ``workdir``."""
    scenario = Scenario()
    identities = identities or IDENTITIES
    for identity in identities:
        images = _images(identity.folder)
        scenario.reference[identity.universal_id] = images[:REFERENCE_IMAGES]
        scenario.records[identity.universal_id] = {
            "name": identity.name, "country": "XX",
            "stash_ids": [{"endpoint": "stashdb.org", "stash_id": identity.stash_id}]}
        performer = {"name": identity.name, "stash_ids": [identity.stash_id], "gender": "MALE",
                     "local": identity.stash_state != "stashbox"}
        scenario.performers.append(performer)
    scenario.performers.append({"name": USER_PERFORMER, "local": True})
    used: dict[str, int] = {}
    for title, members, zipped, present in galleries or GALLERIES:
        paths = []
        for folder, count in members.items():
            start = REFERENCE_IMAGES + used.get(folder, 0)
            paths += _images(folder)[start:start + count]
            used[folder] = used.get(folder, 0) + count
        gallery = {"title": title, "performers": list(present)}
        if zipped:
            gallery["zip"] = str(make_zip(Path(workdir) / f"{title.replace(' ', '_')}.zip", paths))
        else:
            gallery["images"] = [str(p) for p in paths]
        scenario.galleries.append(gallery)
        scenario.truth[title] = {f.replace("_", " ") for f in members if f != STRANGER}
    return scenario


def seed_performer_links(db_path: Path, scenario: Scenario) -> None:
    """Drop the stash ids of the performers that should be matched by name only (seed() links all)."""
    from devtools.demo.seed import connect

    conn = connect(db_path)
    try:
        for identity in IDENTITIES:
            if identity.stash_state == "name":
                conn.execute("DELETE FROM performer_stash_ids WHERE stash_id = ?", (identity.stash_id,))
    finally:
        conn.close()


def seed_stash(db_path: Path, scenario: Scenario) -> dict:
    """Seed the demo Stash database; returns the ids ``seed`` assigned."""
    from devtools.demo.seed import seed

    ids = seed(db_path, scenario.galleries, scenario.performers,
               stash_boxes=[{"endpoint": DEFAULT_ENDPOINT, "name": "StashDB"}])
    seed_performer_links(db_path, scenario)
    return ids


def build_reference(engine, scenario: Scenario, out: Path):
    """The reference database (built from images that appear in no gallery)."""
    from stash_sense.engine.builder import build_database

    return build_database(engine, scenario.reference, scenario.records, Path(out), version="demo")
