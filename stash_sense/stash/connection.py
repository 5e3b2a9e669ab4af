"""Connection dicts (stashapi's ``conn``) from what we are given: the plugin's stdin or a URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from stash_sense.hosts import url_host


def connection_from_plugin_input(server_connection: dict) -> dict:
    """Normalise the plugin stdin ``server_connection`` into a StashInterface connection dict.

    Stash often listens on 0.0.0.0, which is not a connectable address; only Name/Value of the Go
    ``http.Cookie`` are meaningful. ``ApiKey`` is not sent by Stash but is honoured when present.
    """
    conn: dict[str, Any] = {
        "Scheme": server_connection.get("Scheme") or "http",
        "Host": url_host(server_connection.get("Host") or "localhost"),
        "Port": int(server_connection.get("Port") or 9999),
    }
    cookie = server_connection.get("SessionCookie") or {}
    if cookie.get("Value"):
        conn["SessionCookie"] = {"Name": cookie.get("Name") or "session", "Value": cookie["Value"]}
    if server_connection.get("ApiKey"):
        conn["ApiKey"] = server_connection["ApiKey"]
    if server_connection.get("BasePath"):
        conn["BasePath"] = server_connection["BasePath"]
    return conn


def connection_from_url(url: str, api_key: str | None = None) -> dict:
    """Connection dict from a URL such as ``http://localhost:9999`` or ``https://host/stash/`` (CLI use)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = parts.scheme or "http"
    conn: dict[str, Any] = {
        "Scheme": scheme,
        "Host": parts.hostname or "localhost",
        "Port": parts.port or (443 if scheme == "https" else 80),
    }
    base_path = parts.path.rstrip("/")
    if base_path.endswith("/graphql"):
        base_path = base_path[: -len("/graphql")]
    if base_path:
        conn["BasePath"] = base_path
    if api_key:
        conn["ApiKey"] = api_key
    return conn
