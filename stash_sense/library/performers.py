"""Which local Stash performer a database identity is, and creating it when it is missing.

A database identity has a universal id: ``<stash-box domain>:<stash id>`` for published and
stash-box-linked performers, ``local:<Stash performer id>`` for ones enrolled from this library.
Lookup order: the stash id (exact link) -> an unambiguous exact name (and link the stash id to it,
so the next lookup is exact) -> create it from the stash-box entry (setting). Matching by name
before creating avoids duplicates: Stash refuses two performers with the same name anyway.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashError, StashNotFound

log = logging.getLogger(__name__)

LOCAL_PREFIX = "local:"


def domain_of(endpoint: str) -> str:
    """``https://stashdb.org/graphql`` -> ``stashdb.org``; a bare domain stays as it is."""
    return (urlsplit(endpoint).hostname if "://" in endpoint else endpoint.split("/")[0]).lower()


def universal_id_for(performer: dict) -> str:
    """The universal id of a local performer: its first stash id, else ``local:<id>``."""
    for sid in performer.get("stash_ids") or []:
        if sid.get("endpoint") and sid.get("stash_id"):
            return f"{domain_of(sid['endpoint'])}:{sid['stash_id']}"
    return f"{LOCAL_PREFIX}{performer['id']}"


class PerformerResolver:
    """Local performer lookups for one plugin run (answers cached: one Stash query per identity)."""

    def __init__(self, client: StashClient):
        self.client = client
        self._endpoints: list[str] | None = None
        self._cache: dict[str, dict | None] = {}

    def endpoints(self) -> list[str]:
        if self._endpoints is None:
            self._endpoints = [b["endpoint"] for b in self.client.stashbox_endpoints()]
        return self._endpoints

    def endpoint_for(self, endpoint_or_domain: str) -> str | None:
        """The configured stash-box endpoint URL for a domain or URL (None if not configured)."""
        want = domain_of(endpoint_or_domain)
        return next((e for e in self.endpoints() if domain_of(e) == want), None)

    def stash_ids(self, universal_id: str, record: dict) -> list[dict]:
        """``[{"endpoint": <configured URL>, "stash_id"}]`` known for the identity, on configured boxes."""
        found: list[tuple[str, str]] = [(s.get("endpoint", ""), s.get("stash_id", ""))
                                        for s in record.get("stash_ids") or []]
        if not universal_id.startswith(LOCAL_PREFIX) and ":" in universal_id:
            found.insert(0, tuple(universal_id.rsplit(":", 1)))  # type: ignore[arg-type]
        out, seen = [], set()
        for endpoint, stash_id in found:
            url = self.endpoint_for(endpoint) if endpoint and stash_id else None
            if url and (url, stash_id) not in seen:
                seen.add((url, stash_id))
                out.append({"endpoint": url, "stash_id": stash_id})
        return out

    def find_local(self, universal_id: str, record: dict) -> dict | None:
        """The local performer this identity already is (by id or stash id), without creating anything."""
        if universal_id not in self._cache:
            self._cache[universal_id] = self._lookup(universal_id, record)
        return self._cache[universal_id]

    def _lookup(self, universal_id: str, record: dict) -> dict | None:
        if universal_id.startswith(LOCAL_PREFIX):
            try:
                return self.client.find_performer(universal_id[len(LOCAL_PREFIX):])
            except StashError:
                return None
        for sid in self.stash_ids(universal_id, record):
            existing = self.client.find_performers_by_stash_id(sid["endpoint"], sid["stash_id"])
            if existing:
                return existing[0]
        return None

    def by_name(self, record: dict) -> dict | None:
        """The one performer with exactly this name (and disambiguation, when given); None if 0 or 2+."""
        name = (record.get("name") or "").strip()
        if not name:
            return None
        matches = [p for p in self.client.find_performers_by_name(name) if p["name"].lower() == name.lower()]
        if record.get("disambiguation"):
            matches = [p for p in matches if (p.get("disambiguation") or "") == record["disambiguation"]] or matches
        return matches[0] if len(matches) == 1 else None

    def remember(self, universal_id: str, performer: dict) -> None:
        """This identity is ``performer`` from now on (one found after a lost answer, see creations.py)."""
        self._cache[universal_id] = performer

    def create(self, universal_id: str, record: dict) -> dict:
        """Create from the stash-box entry; raises a user-readable StashError when that is not possible."""
        sids = self.stash_ids(universal_id, record)
        if not sids:
            raise StashNotFound(f"{record.get('name') or universal_id} is not in your Stash and has no stash-box "
                                "ID on a stash-box configured in Stash, so it cannot be created")
        sid = sids[0]
        created = self.client.create_performer_from_stashbox(sid["endpoint"], sid["stash_id"])
        log.info(f"Created performer {created['name']} (id {created['id']}) from {sid['endpoint']}")
        self._cache[universal_id] = created
        return created
