"""Undo of a journalled run: remove exactly the ids we added that are still there.

Ids the user added after the run are not in the journal's ``added`` lists, so they are never
touched; ids that were already present before the run were never in ``added`` either. Performers
created by the run are deleted when nothing uses them any more, kept when the user has used them.
"""

from __future__ import annotations

import logging

from stash_sense.library.journal import Journal
from stash_sense.library.markers import remove_markers
from stash_sense.library.writeback import UPDATERS
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashNotFound

log = logging.getLogger(__name__)


class NothingToUndo(LookupError):
    """No journalled run is left to undo."""


def undo_last(client: StashClient, journal: Journal, kind: str | None = None) -> dict:
    """Undo the most recent run that changed something (optionally only of ``kind``)."""
    run = journal.last_undoable_run(kind)
    if run is None:
        raise NothingToUndo("Nothing to undo: Stash Sense has no run with changes that was not undone already")
    return undo_run(client, journal, run["id"])


def rollback(client: StashClient, journal: Journal, run_id: int | None, reason: str) -> None:
    """Take back what a run already changed (it failed half way): nothing stays half-written."""
    if run_id is None:
        return
    try:
        undo_run(client, journal, run_id, status="rolled_back")
    except Exception as exc:  # Stash gone: the journal still lets "Undo last run" finish the job later
        log.error(f"Could not take back the partial changes ({exc}); run the task \"Undo last bulk run\"")
        journal.finish_run(run_id, "failed", {"error": reason})
        return
    journal.set_summary(run_id, {"error": reason})


def undo_run(client: StashClient, journal: Journal, run_id: int, status: str = "undone") -> dict:
    """Revert one run; returns what was removed per target.

    Link writes whose answer was lost are settled first (``settle``): only what the journal proves
    Stash applied for us is taken back; an ``unknown`` one is left in place and listed.
    """
    from stash_sense.library.creations import reconcile_intents
    from stash_sense.library.settle import is_link, settle, unverified

    settle(client, journal, journal.mutations(run_id), strict=True)
    reconcile_intents(client, journal, run_id)
    all_mutations = journal.mutations(run_id)
    mutations = [m for m in all_mutations if m["status"] == "done" or (m["status"] == "pending" and not is_link(m))]
    kept_unverified = unverified(all_mutations)
    removed: dict[str, dict[str, dict[str, list[str]]]] = {}
    for target_type in UPDATERS:
        for target_id, fields in _by_target(mutations, target_type).items():
            gone = _remove_links(client, target_type, target_id, fields)
            if gone:
                removed.setdefault(target_type, {})[target_id] = gone
    for scene_id, ids in _markers(mutations).items():
        gone = remove_markers(client, scene_id, ids)
        if gone:
            removed.setdefault("scene", {}).setdefault(scene_id, {})["marker"] = gone
    for mutation in mutations:
        if mutation["target_type"] == "performer" and mutation["field"] == "stash_id":
            _unlink_stash_ids(client, mutation)
    for mutation in mutations:
        journal.confirm(mutation["id"], mutation["after"], status="undone")
    journal.mark_undone(run_id, status)
    deleted, kept = _remove_unused_created(client, journal.created_in(run_id))
    log.info(f"Undid run {run_id}: {_count(removed)} link(s) removed"
             + (f", {len(deleted)} performer(s) it created deleted" if deleted else "")
             + (f"; kept {len(kept)} performer(s) it created that are in use since" if kept else ""))
    for entry in kept_unverified:
        log.warning(f"Left {entry['field']}(s) {', '.join(entry['ids'])} on {entry['target_type']} "
                    f"{entry['target_id']}: a write whose answer was lost, and the {entry['target_type']} was "
                    "changed since, so it may be yours; remove it by hand if it is not")
    return {"run_id": run_id, "removed": removed, "deleted_created_performers": deleted,
            "kept_created_performers": kept, "kept_unverified": kept_unverified}


def _remove_unused_created(client: StashClient, created: list[dict]) -> tuple[list[dict], list[dict]]:
    """Performers the run created are deleted again when nothing uses them any more; one the user
    has put on something since the run is theirs now and stays."""
    deleted, kept = [], []
    for performer in created:
        usage = client.performer_usage(performer["performer_id"])
        if usage == 0:
            client.destroy_performer(performer["performer_id"])
            deleted.append(performer)
        elif usage is not None:
            kept.append(performer)
    return deleted, kept


def _by_target(mutations: list[dict], target_type: str) -> dict[str, dict[str, set[str]]]:
    out: dict[str, dict[str, set[str]]] = {}
    for m in mutations:
        if m["target_type"] == target_type and m["field"] in ("performer", "tag"):
            out.setdefault(m["target_id"], {"performer": set(), "tag": set()})[m["field"]].update(m["added"])
    return out


def _markers(mutations: list[dict]) -> dict[str, set[str]]:
    """Scene markers the run created, per scene."""
    out: dict[str, set[str]] = {}
    for m in mutations:
        if m["field"] == "marker":
            out.setdefault(m["target_id"], set()).update(str(i) for i in m["added"])
    return out


def _remove_links(client: StashClient, target_type: str, target_id: str, added: dict[str, set[str]]) -> dict:
    try:
        current = client.links(target_type, [target_id])[target_id]
    except StashNotFound:
        log.info(f"{target_type} {target_id} was deleted in Stash since the run: nothing to take back there")
        return {}
    remove = {field: sorted(added[field] & current[field]) for field in ("performer", "tag")}
    if not (remove["performer"] or remove["tag"]):
        return {}
    getattr(client, UPDATERS[target_type])([target_id], performer_ids=remove["performer"], tag_ids=remove["tag"],
                                           mode="REMOVE")
    return {k: v for k, v in remove.items() if v}


def _unlink_stash_ids(client: StashClient, mutation: dict) -> None:
    performer = client.find_performer(mutation["target_id"])
    if performer is None:
        return
    ours = {(s["endpoint"], s["stash_id"]) for s in mutation["added"]}
    current = performer.get("stash_ids") or []
    keep = [s for s in current if (s["endpoint"], s["stash_id"]) not in ours]
    if len(keep) != len(current):
        client.set_performer_stash_ids(performer["id"], keep)


def _count(removed: dict) -> int:
    return sum(len(ids) for targets in removed.values() for fields in targets.values() for ids in fields.values())
