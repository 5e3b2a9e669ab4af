"""Operations and tasks on the library face index (issue 20): recurring unknown people and "find this
performer everywhere". The answer shapes here are the contract with the Stash Sense page.

Tasks: ``unknown_people`` (cluster), ``library_index_rebuild``.
Operations: ``unknown_people_list``, ``unknown_person_name`` (``performer_id`` or ``new_name``),
``unknown_person_hide``, ``find_everywhere`` (``performer_id``), ``find_everywhere_add``
(``performer_id`` with ``items`` [{type, id}] or ``above_auto``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

CROPS_PER_PERSON = 3


class LibraryUserError(LookupError):
    """Bad arguments; the message goes to the user as is."""


@contextmanager
def opened_index():
    from stash_sense.jobs.library_index import open_index
    from stash_sense.service import access as engine_access

    index = open_index(engine_access.pack_name())
    try:
        yield index
    finally:
        index.close()


def cluster_threshold() -> float:
    from stash_sense.engine.calibration import load_calibration
    from stash_sense.engine.packs import load_pack
    from stash_sense.service import access as engine_access

    return load_calibration(load_pack(engine_access.pack_name())).cluster_threshold


def _int_arg(args: dict, name: str) -> int:
    try:
        return int(str(args.get(name)).strip())
    except (TypeError, ValueError):
        raise LibraryUserError(f"{name} must be a number, not {args.get(name)!r}") from None


def unknown_people(ctx: Any) -> dict:
    """Task "Find recurring unknown people"."""
    from stash_sense.jobs.unknown_people import find_unknown_people

    with opened_index() as index:
        _reconcile(ctx, index)
        return find_unknown_people(index, cluster_threshold()).to_dict()


def _reconcile(ctx: Any, index: Any) -> list[int]:
    from stash_sense.engine.packs import load_pack
    from stash_sense.jobs.unknown_people import reconcile_undone
    from stash_sense.service import access as engine_access
    from stash_sense.service import databases

    reopened = reconcile_undone(index, ctx.journal, databases.local_db_path(), load_pack(engine_access.pack_name()))
    if reopened:
        engine_access.forget()
    return reopened


def after_undo(ctx: Any) -> None:
    """An undone naming of an unknown person also takes its faces out of the local database."""
    from stash_sense.jobs.library_index import index_folder

    if (index_folder() / "faces.sqlite").exists():
        with opened_index() as index:
            _reconcile(ctx, index)


def rebuild(ctx: Any) -> dict:
    """Task "Rebuild the library face index" (from the side table and the embedding cache)."""
    with opened_index() as index:
        faces = index.rebuild()
    log.info(f"Stash Sense: library face index rebuilt with {faces} face(s)")
    return {"faces": faces}


def unknown_people_list(ctx: Any) -> dict:
    from stash_sense.jobs.unknown_people import list_people

    status = str(ctx.args.get("status") or "open")
    with opened_index() as index:
        _reconcile(ctx, index)
        people = list_people(index, status)
    if str(ctx.args.get("crops", "true")).lower() not in ("false", "0", "no"):
        for person in people[:int(ctx.args.get("max_people") or 50)]:
            _add_crops(ctx.client, person)
    return {"people": people}


def _add_crops(client: Any, person: dict) -> None:
    """Data-URL crops of a person's best faces in images (frames carry their time instead)."""
    from stash_sense.library.images import face_crop, image_source
    from stash_sense.stash.errors import StashError

    shown = 0
    for sample in person["samples"]:
        sample["crop"] = None
        if shown >= CROPS_PER_PERSON or sample["item_type"] == "scene":
            continue
        try:
            image = client.find_image(sample["image"])
            sample["crop"] = face_crop(image_source(client, image), sample["box"]) if image else None
            shown += sample["crop"] is not None
        except (StashError, OSError, ValueError) as exc:
            log.warning(f"Stash Sense: no crop for image {sample['image']}: {exc}")


def unknown_person_name(ctx: Any) -> dict:
    """"This is performer X" (``performer_id``) or "new performer named ..." (``new_name``)."""
    from stash_sense.jobs.run_lock import exclusive_run

    person_id = _int_arg(ctx.args, "person_id")
    performer_id, new_name = ctx.args.get("performer_id"), str(ctx.args.get("new_name") or "").strip()
    if not performer_id and not new_name:
        raise LibraryUserError("say who this is: performer_id (an existing performer) or new_name")
    with exclusive_run("unknown_person_name"):
        return _name_locked(ctx, person_id, performer_id, new_name)


def _name_locked(ctx: Any, person_id: int, performer_id: Any, new_name: str) -> dict:
    from stash_sense.engine.packs import load_pack
    from stash_sense.jobs import unknown_people
    from stash_sense.library.undo import rollback
    from stash_sense.service import access as engine_access
    from stash_sense.service import databases

    writeback = ctx.writeback("unknown_person")
    try:
        with opened_index() as index:
            unknown_people.status_of(index, person_id)
            if performer_id:
                performer = ctx.client.find_performer(str(performer_id))
                if performer is None:
                    raise LibraryUserError(f"There is no performer {performer_id} in Stash")
            else:
                performer = unknown_people.new_performer(ctx.client, writeback, new_name)
            out = unknown_people.name_person(index, person_id, ctx.client, writeback, performer,
                                             databases.local_db_path(), load_pack(engine_access.pack_name()))
    except Exception as exc:
        rollback(ctx.client, ctx.journal, writeback.run_id, str(exc))
        raise
    engine_access.forget()  # the local database changed: the next identification reloads it
    return out


def unknown_person_hide(ctx: Any) -> dict:
    from stash_sense.jobs.unknown_people import hide

    with opened_index() as index:
        return hide(index, _int_arg(ctx.args, "person_id"))


def _performer(ctx: Any) -> dict:
    performer_id = ctx.args.get("performer_id")
    if not performer_id:
        raise LibraryUserError("missing argument 'performer_id'")
    performer = ctx.client.find_performer(str(performer_id))
    if performer is None:
        raise LibraryUserError(f"There is no performer {performer_id} in Stash")
    return performer


def find_everywhere(ctx: Any) -> dict:
    """Galleries, scenes and images that look like this performer and do not have them yet."""
    from stash_sense.engine.packs import load_pack
    from stash_sense.jobs.find_everywhere import find_everywhere as find
    from stash_sense.service import access as engine_access
    from stash_sense.service import databases

    performer = _performer(ctx)
    pack = load_pack(engine_access.pack_name())
    dbs = databases.open_databases(pack)
    thresholds = ctx.settings.thresholds(engine_access.calibration_thresholds())
    with opened_index() as index:
        return find(index, engine_access.service(), ctx.client, performer, dbs, thresholds, cluster_threshold())


def find_everywhere_add(ctx: Any) -> dict:
    """Add the performer to the chosen items, or to every item found at or above the auto threshold."""
    from stash_sense.jobs.find_everywhere import add_to_items
    from stash_sense.library.undo import rollback

    performer = _performer(ctx)
    items = ctx.args.get("items") or []
    if str(ctx.args.get("above_auto", "")).lower() in ("true", "1", "yes"):
        found = find_everywhere(ctx)
        items = [i for i in found["items"] if i["band"] == "auto"]
    if not items:
        return {"added": {}, "items": 0}
    from stash_sense.jobs.run_lock import exclusive_run

    with exclusive_run("find_everywhere_add"):
        writeback = ctx.writeback("find_everywhere")
        try:
            added = add_to_items(writeback, str(performer["id"]), items)
        except Exception as exc:
            rollback(ctx.client, ctx.journal, writeback.run_id, str(exc))
            raise
    return {"added": added, "items": len(items), "journal_run_id": writeback.run_id, "dry_run": writeback.dry_run}


OPERATIONS: dict[str, Callable[[Any], Any]] = {
    "unknown_people": unknown_people,
    "library_index_rebuild": rebuild,
    "unknown_people_list": unknown_people_list,
    "unknown_person_name": unknown_person_name,
    "unknown_person_hide": unknown_person_hide,
    "find_everywhere": find_everywhere,
    "find_everywhere_add": find_everywhere_add,
}
