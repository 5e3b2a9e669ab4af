"""``StashClient``, the one object callers hold, and the one instance per process behind it.

The verbs live in cohesive layers (``session``: connecting and running documents, ``reads``: the
typed queries, ``writes``: ADD-only mutations and their undo); this module puts them together and
caches the result, because connecting costs stashapi three requests (version, apiKey, introspection).
Every GraphQL document lives in ``queries.py`` so tests can validate it against the real schema.
"""

from __future__ import annotations

from typing import Any

from .connection import connection_from_plugin_input, connection_from_url
from .writes import StashWrites


class StashClient(StashWrites):
    """The operations Stash Sense needs, each one GraphQL document from ``queries.py``."""


_CLIENTS: dict[tuple, StashClient] = {}


def get_client(
    server_connection: dict | None = None, *, url: str | None = None, api_key: str | None = None, **kwargs: Any
) -> StashClient:
    """Shared client: the StashInterface start-up (introspection) is paid once per process."""
    if server_connection is not None:
        conn = connection_from_plugin_input(server_connection)
    elif url is not None:
        conn = connection_from_url(url, api_key)
    else:
        raise ValueError("need the plugin server_connection or a Stash URL")
    key = (
        conn["Scheme"],
        conn["Host"],
        conn["Port"],
        conn.get("BasePath"),
        (conn.get("SessionCookie") or {}).get("Value"),
        conn.get("ApiKey"),
    )
    if key not in _CLIENTS:
        _CLIENTS[key] = StashClient(conn, **kwargs)
    return _CLIENTS[key]


def reset_clients() -> None:
    """Forget cached clients (tests, or after credentials change)."""
    _CLIENTS.clear()
