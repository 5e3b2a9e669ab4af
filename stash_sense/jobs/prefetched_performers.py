"""Performer lookups for a whole bulk run from one read of all performers.

The plugin's ``PerformerResolver`` asks Stash once per identity (``findPerformers`` by stash id).
Over thousands of galleries with many different people those round trips dominate a run whose
faces come from the cache. This subclass reads every performer once (paged) and answers stash-id
lookups from that; performers the run creates are remembered by the resolver itself.
"""

from __future__ import annotations

from stash_sense.jobs.enroll import all_performers
from stash_sense.library.performers import LOCAL_PREFIX, PerformerResolver


class PrefetchedResolver(PerformerResolver):
    def __init__(self, client):
        super().__init__(client)
        self._by_stash_id: dict[tuple[str, str], dict] | None = None

    def _index(self) -> dict[tuple[str, str], dict]:
        if self._by_stash_id is None:
            index: dict[tuple[str, str], dict] = {}
            for performer in sorted(all_performers(self.client, per_page=500), key=lambda p: int(p["id"])):
                for sid in performer.get("stash_ids") or []:
                    index.setdefault((sid["endpoint"], sid["stash_id"]), performer)
            self._by_stash_id = index
        return self._by_stash_id

    def _lookup(self, universal_id: str, record: dict) -> dict | None:
        if universal_id.startswith(LOCAL_PREFIX):
            return super()._lookup(universal_id, record)
        index = self._index()
        for sid in self.stash_ids(universal_id, record):
            found = index.get((sid["endpoint"], sid["stash_id"]))
            if found is not None:
                return found
        return None
