"""Local enrollment: the user's own performers become a face database (``data/local_db``).

Only images whose subject is not in doubt are used: the performer's own image, images tagged with
exactly that one performer, and images of galleries tagged with exactly that one performer (the
builder still refuses faces it cannot attribute). Enrolled images are remembered in the journal,
so running the task again only adds what is new; it commits every few performers, so a stopped
run keeps what it did.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from stash_sense.library import images
from stash_sense.library.journal import Journal
from stash_sense.library.performers import universal_id_for
from stash_sense.progress import report_progress
from stash_sense.service import access as engine_access
from stash_sense.service import databases
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashError
from stash_sense.stash.files import fingerprint
from stash_sense.stash.reads import all_pages

log = logging.getLogger(__name__)

IMAGES_PER_PERFORMER = 30
GALLERIES_PER_PERFORMER = 10
BATCH_PERFORMERS = 25


def all_performers(client: StashClient, per_page: int = 200) -> list[dict]:
    return list(all_pages(lambda page: client.performers_page(page=page, per_page=per_page), per_page))


def performer_images(client: StashClient, performer: dict, limit: int = IMAGES_PER_PERFORMER) -> Iterator[tuple]:
    """(key, kind, payload) of every usable image of a performer; the key identifies the pixels."""
    image_path = performer.get("image_path") or ""
    if image_path and "default=true" not in image_path:
        # image_path is built on Stash's external host (reverse proxy, path prefix) which the plugin
        # may not reach: the route is rebuilt on the Stash we talk to, keeping the version query.
        query = urlsplit(image_path).query
        path = f"/performer/{performer['id']}/image" + (f"?{query}" if query else "")
        yield f"performer:{performer['id']}:{query}", "url", path
    seen: set[str] = set()
    solo = client.solo_images(performer["id"], limit=limit)
    for gallery in client.solo_galleries(performer["id"], limit=GALLERIES_PER_PERFORMER):
        solo.extend(images.spread(list(client.gallery_images(gallery["id"])), limit))
    for image in solo:
        file = images.primary_file(image)
        key = f"image:{image['id']}:{fingerprint(file, 'md5') or fingerprint(file, 'oshash') or file.get('size')}"
        if key not in seen:
            seen.add(key)
            yield key, "image", image


def _materialise(client: StashClient, kind: str, payload, folder: Path, name: str) -> str:
    """A file path for the engine: the original file when readable, else the bytes saved in ``folder``."""
    if kind == "url":
        data = client.fetch(payload, what="performer image")
    else:
        source = images.image_source(client, payload)
        if isinstance(source, str):
            return source
        data = source
    target = folder / name
    target.write_bytes(data)
    return str(target)


def enroll_local(client: StashClient, journal: Journal, settings: object | None = None) -> dict:
    """Build or extend the local reference database from the library's performers."""
    engine = engine_access.engine_for(settings)
    performers = all_performers(client)
    log.info(f"Stash Sense: building the local reference from {len(performers)} performer(s)")
    totals = {"performers": len(performers), "enrolled_performers": 0, "images": 0, "faces_added": 0,
              "skipped_images": 0, "errors": []}
    with tempfile.TemporaryDirectory(prefix="stash-sense-enroll-") as tmp:
        for start in range(0, len(performers), BATCH_PERFORMERS):
            batch = performers[start:start + BATCH_PERFORMERS]
            _enroll_batch(client, journal, engine, batch, Path(tmp), totals)
            report_progress(log, (start + len(batch)) / max(len(performers), 1))
    engine_access.forget()
    totals["database"] = str(databases.local_db_path())
    log.info(f"Stash Sense: local reference now has {totals['faces_added']} new face(s) from "
             f"{totals['enrolled_performers']} performer(s)")
    return totals


def _enroll_batch(client: StashClient, journal: Journal, engine, batch: list[dict], tmp: Path, totals: dict) -> None:
    identities, records, keys = {}, {}, {}
    for performer in batch:
        uid = universal_id_for(performer)
        done = journal.enrolled_sources(uid)
        paths, new_keys = [], []
        try:
            for key, kind, payload in performer_images(client, performer):
                if key in done or len(paths) >= IMAGES_PER_PERFORMER:
                    continue
                try:
                    paths.append(_materialise(client, kind, payload, tmp, f"{len(list(tmp.iterdir()))}.img"))
                    new_keys.append(key)
                except StashError as exc:
                    totals["errors"].append({"performer": performer["id"], "error": str(exc)})
        except StashError as exc:
            totals["errors"].append({"performer": performer["id"], "error": str(exc)})
        if paths:
            identities[uid], keys[uid] = paths, new_keys
            records[uid] = {"name": performer["name"], "disambiguation": performer.get("disambiguation"),
                            "country": performer.get("country"), "local_id": str(performer["id"]),
                            "stash_ids": [{"endpoint": s["endpoint"], "stash_id": s["stash_id"]}
                                          for s in performer.get("stash_ids") or []]}
    if not identities:
        return
    from stash_sense.engine import builder  # numpy: not on the light side (remote engine), which never enrolls here

    db = builder.open_or_create(engine, databases.local_db_path())
    report = builder.enroll(engine, db, identities, records)
    for uid, new_keys in keys.items():
        journal.mark_enrolled(uid, new_keys)
    totals["enrolled_performers"] += len(identities)
    totals["images"] += sum(len(p) for p in identities.values())
    totals["faces_added"] += report.faces_added
    totals["skipped_images"] += len(report.skipped)
    for path in tmp.iterdir():
        path.unlink()
