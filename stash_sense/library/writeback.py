"""Adding performers and bookkeeping tags to Stash objects without ever losing anything.

Only ``bulk*Update`` with mode ADD is used (a plain ``*Update`` list would replace the user's
performers). Every change is journalled before it is sent, with the ids that were not there yet,
so undo can take back exactly those. A run that fails half way takes back what it already did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from stash_sense.library.journal import Journal
from stash_sense.library.performers import PerformerResolver
from stash_sense.stash.client import StashClient

log = logging.getLogger(__name__)

UPDATERS = {"gallery": "update_galleries", "image": "update_images", "scene": "update_scenes"}


class WriteBack:
    """The Stash changes of one journalled run (or, in dry-run mode, only log lines)."""

    def __init__(self, client: StashClient, journal: Journal, kind: str, *, dry_run: bool = False,
                 create_performers: bool = True, continue_run: int | None = None):
        """``continue_run``: the journal run of a killed run being resumed, so one undo covers both halves."""
        self.client = client
        self.journal = journal
        self.dry_run = dry_run
        self.create_performers = create_performers
        self.resolver = PerformerResolver(client)
        self.run_id = None if dry_run else continue_run or journal.start_run(kind)
        self._tags: dict[str, str | None] = {}

    # -- performers

    def performer_for(self, universal_id: str, record: dict) -> tuple[str | None, bool]:
        """(local performer id, created?) for an identity; None only in dry run ("would create")."""
        found = self.resolver.find_local(universal_id, record)
        if found:
            return str(found["id"]), False
        by_name = self.resolver.by_name(record)
        if by_name:
            self._link_stash_ids(by_name, universal_id, record)
            return str(by_name["id"]), False
        if not self.create_performers:
            raise LookupError(f"{record.get('name') or universal_id} is not a performer in your Stash and "
                              "\"Create missing performers\" is off")
        if self.dry_run:
            if not self.resolver.stash_ids(universal_id, record):
                raise LookupError(f"{record.get('name') or universal_id} is not in your Stash and has no stash-box "
                                  "ID on a stash-box configured in Stash, so it cannot be created")
            log.info(f"[dry run] would create performer {record.get('name') or universal_id}")
            return None, True
        from stash_sense.library.creations import create_performer

        created = create_performer(self.client, self.journal, self.resolver, self.run_id, universal_id, record)
        return str(created["id"]), True

    def _link_stash_ids(self, performer: dict, universal_id: str, record: dict) -> None:
        """Give a name-matched performer the stash id, so the next lookup is exact (journalled)."""
        have = {(s["endpoint"], s["stash_id"]) for s in performer.get("stash_ids") or []}
        new = [s for s in self.resolver.stash_ids(universal_id, record) if (s["endpoint"], s["stash_id"]) not in have]
        if not new:
            return
        if self.dry_run:
            log.info(f"[dry run] would link {performer['name']} to {new[0]['endpoint']} {new[0]['stash_id']}")
            return
        mutation = self.journal.record(self.run_id, "performer", str(performer["id"]), "stash_id", new[:1],
                                       performer.get("stash_ids") or [])
        updated = self.client.add_performer_stash_id(performer["id"], new[0]["endpoint"], new[0]["stash_id"])
        self.journal.confirm(mutation, updated.get("stash_ids"))
        log.info(f"Linked performer {performer['name']} (id {performer['id']}) to stash id {new[0]['stash_id']}")

    # -- tags

    def tag_id(self, name: str) -> str | None:
        """Id of a bookkeeping tag, created when missing (in dry run: None if it does not exist yet)."""
        if name not in self._tags:
            tag = self.client.find_tag_by_name(name)
            if tag is None and not self.dry_run:
                tag = self.client.find_or_create_tag(name)
                log.info(f"Created tag {name!r}")
            self._tags[name] = str(tag["id"]) if tag else None
        return self._tags[name]

    # -- links

    def add(self, target_type: str, ids: Iterable, *, performer_ids: Iterable = (), tag_ids: Iterable = ()) -> dict:
        """Add performers/tags to targets (mode ADD); returns ``{target id: {"performer": [...], "tag": [...]}}``
        with only what was not there before."""
        ids = [str(i) for i in ids]
        wanted = {"performer": {str(p) for p in performer_ids if p}, "tag": {str(t) for t in tag_ids if t}}
        if not ids or not (wanted["performer"] or wanted["tag"]):
            return {}
        before = self.client.links(target_type, ids)
        plan = {i: {f: sorted(wanted[f] - before[i][f]) for f in wanted} for i in ids}
        plan = {i: p for i, p in plan.items() if p["performer"] or p["tag"]}
        if not plan:
            return {}
        if self.dry_run:
            for target_id, added in plan.items():
                log.info(f"[dry run] would add to {target_type} {target_id}: {_describe(added)}")
            return plan
        pending = [(self.journal.record(self.run_id, target_type, i, field, added, sorted(before[i][field])), i, field)
                   for i, p in plan.items() for field, added in p.items() if added]
        updater = getattr(self.client, UPDATERS[target_type])
        try:
            result = updater(list(plan), performer_ids=sorted(wanted["performer"]), tag_ids=sorted(wanted["tag"]),
                             mode="ADD")
        except Exception as exc:
            if not self._applied_anyway(target_type, [m for m, _, _ in pending], exc):
                raise
            result = None  # settled from Stash's state: the journal entries are confirmed already
        if result is not None:
            after = {str(o["id"]): {"performer": [str(p["id"]) for p in o.get("performers") or []],
                                    "tag": [str(t["id"]) for t in o.get("tags") or []]} for o in result}
            for mutation_id, target_id, field in pending:
                self.journal.confirm(mutation_id, sorted(after.get(target_id, {}).get(field, [])))
        for target_id, added in plan.items():
            log.info(f"Added to {target_type} {target_id}: {_describe(added)}")
        return plan

    def _applied_anyway(self, target_type: str, mutation_ids: list[int], exc: Exception) -> bool:
        """After a write that failed without saying whether Stash applied it: settle its journal
        entries from Stash's state now (``settle``). True when Stash did apply all of it."""
        from stash_sense.library.settle import settle

        wanted = set(mutation_ids)
        decided = settle(self.client, self.journal, [m for m in self.journal.mutations(self.run_id)
                                                      if m["id"] in wanted])
        if decided and set(decided) == wanted and all(s == "done" for s in decided.values()):
            log.warning(f"Stash answered the write to {target_type} with an error ({exc}) but applied it")
            return True
        return False

    # -- end of run

    def finish(self, summary: dict | None = None) -> None:
        if self.run_id is not None:
            self.journal.finish_run(self.run_id, "done", summary)


def _describe(added: dict) -> str:
    parts = [f"performers {', '.join(added['performer'])}" if added.get("performer") else "",
             f"tags {', '.join(added['tag'])}" if added.get("tag") else ""]
    return "; ".join(p for p in parts if p)
