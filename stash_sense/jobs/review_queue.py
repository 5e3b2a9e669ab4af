"""The review queue of the Stash Sense page: every stored suggestion across the library, one
decision per identity and target set, and undo of any run.

Why grouped by identity: after a bulk run the same performer is typically suggested in dozens of
galleries; one "accept" for the group clears all of them. A decision first *claims* its suggestion
rows in one SQLite transaction (``Journal.claim_suggestions``): two tabs deciding the same thing
give one write, and a bulk run storing suggestions at the same time is serialised by SQLite. An
accept is a journalled run of kind ``review`` (undo takes back exactly its links); every decision's
run summary keeps the claimed rows, so undo puts them back in the queue.
"""

from __future__ import annotations

import logging
from typing import Any

from stash_sense.library.journal import Journal, QueueFilter
from stash_sense.library.undo import undo_run
from stash_sense.library.writeback import UPDATERS, WriteBack
from stash_sense.settings import Settings
from stash_sense.stash.client import StashClient

log = logging.getLogger(__name__)

DECISIONS = ("accept", "reject", "dismiss")
TITLE_QUERIES = {
    "gallery": ("query($ids: [ID!]) { findGalleries(ids: $ids, filter: {per_page: -1}) "
                "{ galleries { id title image_count } } }", "findGalleries", "galleries"),
    "scene": ("query($ids: [ID!]) { findScenes(ids: $ids, filter: {per_page: -1}) { scenes { id title } } }",
              "findScenes", "scenes"),
    "image": ("query($ids: [ID!]) { findImages(ids: $ids, filter: {per_page: -1}) { images { id title } } }",
              "findImages", "images"),
}


class AlreadyDecided(LookupError):
    """Another tab (or an earlier click) decided these suggestions already."""


# --- the queue ----------------------------------------------------------------------------------


def queue_page(client: StashClient, journal: Journal, where: QueueFilter, thresholds: dict, page: int,
               per_page: int) -> dict:
    """One page of identity groups with their targets, each target checked against Stash (deleted
    galleries/performers are flagged so the user can dismiss them)."""
    groups_total, suggestions_total, groups = journal.queue_groups(where, per_page, (page - 1) * per_page)
    rows = journal.queue_rows([g["universal_id"] for g in groups], where)
    titles = _titles(client, {(r["target_type"], r["target_id"]) for r in rows})
    performers = _existing_performers(client, {r["candidate"].get("local_performer_id") for r in rows} - {None})
    out = []
    for group in groups:
        mine = [r for r in rows if r["universal_id"] == group["universal_id"]]
        out.append(_group(group, mine, titles, performers, thresholds))
    return {"groups": out, "total_groups": groups_total, "total_suggestions": suggestions_total,
            "page": page, "per_page": per_page, "thresholds": thresholds}


def _group(group: dict, rows: list[dict], titles: dict, performers: set[str], thresholds: dict) -> dict:
    best = rows[0]["candidate"] if rows else {}
    local_id = best.get("local_performer_id")
    return {
        "universal_id": group["universal_id"],
        "name": best.get("name") or group["universal_id"],
        "disambiguation": best.get("disambiguation"),
        "image_url": best.get("image_url"),
        "local_performer_id": local_id if local_id in performers else None,
        "performer_deleted": bool(local_id) and local_id not in performers,
        "count": group["targets"],
        "best": group["best"],
        "targets": [_target(r, titles, thresholds) for r in rows],
    }


def _target(row: dict, titles: dict, thresholds: dict) -> dict:
    key = (row["target_type"], row["target_id"])
    confidence = float(row["confidence"])
    band = "auto" if confidence >= thresholds["auto"] else "review" if confidence >= thresholds["review"] else "low"
    return {"type": row["target_type"], "id": row["target_id"], "confidence": round(confidence, 4), "band": band,
            "crop": row["person"].get("crop"), "image_ids": (row["person"].get("image_ids") or [])[:4],
            "faces": row["person"].get("faces"), "title": (titles.get(key) or {}).get("title"),
            "image_count": (titles.get(key) or {}).get("image_count"), "deleted": key not in titles}


def _titles(client: StashClient, targets: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """Title of each target that still exists in Stash, one request per target type."""
    out: dict[tuple[str, str], dict] = {}
    for kind, (query, root, key) in TITLE_QUERIES.items():
        ids = sorted({i for t, i in targets if t == kind}, key=int)
        if ids:
            for obj in client.find_existing(query, ids, root, key):
                out[(kind, str(obj["id"]))] = obj
    return out


def _existing_performers(client: StashClient, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    found = client.find_existing("query($ids: [ID!]) { findPerformers(ids: $ids, filter: {per_page: -1}) "
                                 "{ performers { id } } }", sorted(ids, key=int), "findPerformers", "performers")
    return {str(p["id"]) for p in found}


def tagged_targets(client: StashClient, tag_id: str) -> dict[str, list[str]]:
    """Galleries carrying a tag (the queue's tag filter, e.g. "needs review")."""
    return {"gallery": [str(g["id"]) for g in client.iter_galleries(tag_id=tag_id)]}


# --- decisions ----------------------------------------------------------------------------------


def decide(client: StashClient, journal: Journal, settings: Settings, universal_id: str,
           targets: list[tuple[str, str]], decision: str) -> dict:
    """Accept (add the performer to every target that still exists, journalled), reject (never
    propose it there again) or dismiss (drop the suggestion, e.g. its gallery was deleted)."""
    rows = journal.claim_suggestions(universal_id, targets)
    if not rows:
        raise AlreadyDecided("Already decided (in another tab or by an earlier click); nothing was written")
    claimed = sorted({(r["target_type"], r["target_id"]) for r in rows})
    try:
        if decision == "accept":
            out = _accept(client, journal, settings, universal_id, rows, claimed)
        else:
            out = _forget(journal, universal_id, rows, claimed, decision)
        out["untagged"] = _clear_review_tag(client, journal, settings, claimed)
    except Exception:
        journal.restore_suggestions(rows)
        raise
    journal.set_summary(out["run_id"], {"decision": decision, "universal_id": universal_id,
                                        "name": rows[0]["candidate"].get("name"), "targets": claimed,
                                        "untagged": out["untagged"], "restore": rows})
    log.info(f"Stash Sense: {decision} {rows[0]['candidate'].get('name') or universal_id} on {len(claimed)} target(s)")
    return out


def _accept(client: StashClient, journal: Journal, settings: Settings, universal_id: str, rows: list[dict],
            claimed: list[tuple[str, str]]) -> dict:
    from stash_sense.library.undo import rollback

    writeback = WriteBack(client, journal, "review", create_performers=settings.create_performers)
    try:
        performer_id, created = writeback.performer_for(universal_id, rows[0]["candidate"])
        tag_id = writeback.tag_id(settings.identified_tag)
        added, gone = [], []
        for kind in UPDATERS:
            ids = [i for t, i in claimed if t == kind]
            alive = _alive(client, kind, ids)
            gone += [(kind, i) for i in ids if i not in alive]
            plan = writeback.add(kind, alive, performer_ids=[performer_id], tag_ids=[tag_id])
            added += [(kind, i) for i, p in plan.items() if p["performer"]]
        writeback.finish()
    except Exception as exc:
        rollback(client, journal, writeback.run_id, str(exc))
        raise
    return {"run_id": writeback.run_id, "decision": "accept", "performer_id": performer_id, "created": created,
            "added": added, "deleted_targets": gone}


def _forget(journal: Journal, universal_id: str, rows: list[dict], claimed: list[tuple[str, str]],
            decision: str) -> dict:
    run_id = journal.start_run("review")
    if decision == "reject":
        for kind, target_id in claimed:
            journal.reject(kind, target_id, universal_id)
    journal.finish_run(run_id, "done")
    return {"run_id": run_id, "decision": decision, "added": []}


def _alive(client: StashClient, kind: str, ids: list[str]) -> list[str]:
    if not ids:
        return []
    found = _titles(client, {(kind, i) for i in ids})
    return [i for i in ids if (kind, i) in found]


def _clear_review_tag(client: StashClient, journal: Journal, settings: Settings,
                      claimed: list[tuple[str, str]]) -> list[str]:
    """Galleries whose last suggestion was just decided lose the "needs review" tag (they have
    nothing left to review); returns those it was taken from, so undo can put it back."""
    galleries = [i for t, i in claimed if t == "gallery"]
    done = [i for i in galleries if i not in journal.with_suggestions("gallery", galleries)]
    tag = client.find_tag_by_name(settings.review_tag)
    if not done or tag is None:
        return []
    alive = set(_alive(client, "gallery", done))
    links = client.links("gallery", sorted(alive, key=int)) if alive else {}
    tagged = [i for i in sorted(alive, key=int) if str(tag["id"]) in links[i]["tag"]]
    if tagged:
        client.update_galleries(tagged, tag_ids=[str(tag["id"])], mode="REMOVE")
    return tagged


# --- runs and their undo ------------------------------------------------------------------------


def undo_preview(client: StashClient, journal: Journal, run_id: int) -> dict:
    """Exactly what undoing this run removes, and what stays because it is gone already (the user
    removed it since) or was there before the run; review decisions also list what returns to the queue."""
    run = _undoable(journal, run_id)
    remove: list[dict] = []
    stays: list[dict] = []
    for m in journal.mutations(run_id):
        if m["status"] not in ("pending", "done") or m["field"] not in ("performer", "tag"):
            continue
        current = _current(client, m["target_type"], m["target_id"], m["field"])
        for item in m["added"]:
            entry = {"target_type": m["target_type"], "target_id": m["target_id"], "field": m["field"], "id": str(item)}
            shared = (journal.other_live_run_on(m["target_type"], m["target_id"], run_id) if m["field"] == "tag"
                      else None)
            if shared is not None and current is not None and str(item) in current:
                stays.append({**entry, "why": f"also run {shared}'s: its performer is still there"})
            elif current is not None and str(item) in current:
                remove.append(entry)
            else:
                stays.append({**entry, "why": "deleted since" if current is None else "removed since"})
    _name_entries(client, remove + stays)
    summary = _summary(run)
    return {"run_id": run_id, "kind": run["kind"], "remove": remove, "stays": stays,
            "created_performers": journal.created_in(run_id),
            "requeue": len(summary.get("restore") or []), "retag": summary.get("untagged") or []}


def _name_entries(client: StashClient, entries: list[dict]) -> None:
    """Performer/tag names and target titles for the preview (people read names, not ids)."""
    titles = _titles(client, {(e["target_type"], e["target_id"]) for e in entries if e["target_type"] in UPDATERS})
    names: dict[tuple[str, str], str] = {}
    for field, root in (("performer", "findPerformers"), ("tag", "findTags")):
        ids = sorted({e["id"] for e in entries if e["field"] == field}, key=int)
        if ids:
            key = root[4:].lower()
            found = client.call(f"query($ids: [ID!]) {{ {root}(ids: $ids, filter: {{per_page: -1}}) "
                                f"{{ {key} {{ id name }} }} }}", {"ids": ids})[root][key]
            names.update({(field, str(o["id"])): o["name"] for o in found})
    for e in entries:
        e["name"] = names.get((e["field"], e["id"]))
        e["target_title"] = (titles.get((e["target_type"], e["target_id"])) or {}).get("title")


def undo_any(client: StashClient, journal: Journal, settings: Settings, run_id: int) -> dict:
    """Undo one run, any run: its links (only what it added and is still there), and for a review
    decision the suggestions, rejections and "needs review" tags it took away."""
    from stash_sense.jobs.run_lock import exclusive_run

    run = _undoable(journal, run_id)
    summary = _summary(run)
    with exclusive_run(f"undo of run {run_id}"):
        _hand_over_shared_tags(journal, run_id)
        out = undo_run(client, journal, run_id) if journal.mutations(run_id) else {"run_id": run_id, "removed": {}}
        if run["kind"] == "review":
            out.update(_undo_decision(client, journal, settings, summary))
        journal.mark_undone(run_id)
    return out


def _hand_over_shared_tags(journal: Journal, run_id: int) -> None:
    """Overlapping runs: run A added the identified tag to a gallery, a later run B added another
    performer there (the tag was present, so B recorded none). Undoing A must not strip the tag B's
    performer still carries: the tag goes to B, and undoing B later removes it."""
    for m in journal.mutations(run_id):
        if m["field"] == "tag" and m["status"] == "done":
            other = journal.other_live_run_on(m["target_type"], m["target_id"], run_id)
            if other is not None:
                journal.hand_over(m["id"], other)


def _undo_decision(client: StashClient, journal: Journal, settings: Settings, summary: dict) -> dict:
    rows = summary.get("restore") or []
    for row in rows:
        journal.unreject(row["target_type"], row["target_id"], row["universal_id"])
    journal.restore_suggestions(rows)
    retag = [i for i in summary.get("untagged") or [] if _alive(client, "gallery", [i])]
    if retag:
        tag = client.find_or_create_tag(settings.review_tag)
        client.update_galleries(retag, tag_ids=[str(tag["id"])], mode="ADD")
    return {"requeued": len(rows), "retagged": retag}


def _undoable(journal: Journal, run_id: int) -> Any:
    run = journal.run(run_id)
    if run is None:
        raise LookupError(f"There is no run {run_id} in the journal")
    if run["undone_at"] is not None:
        raise LookupError(f"Run {run_id} was undone already")
    return run


def _summary(run: Any) -> dict:
    import json

    return json.loads(run["summary"]) if run["summary"] else {}


def _current(client: StashClient, target_type: str, target_id: str, field: str) -> set[str] | None:
    from stash_sense.stash.errors import StashNotFound

    try:
        return client.links(target_type, [target_id])[target_id][field]
    except StashNotFound:
        return None
