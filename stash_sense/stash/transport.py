"""How requests reach Stash: stashapi's ``StashInterface`` made strict, bounded and proxy-aware.

stashapi logs GraphQL errors and returns partial data, posts without a timeout, keeps a stale session
cookie next to the refreshed one, and lets the environment turn TLS verification back on; each class
here fixes one of those, and ``StrictInterface`` puts them together.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from stashapi.stashapp import StashInterface

from .errors import StashAuthError, StashError, StashGraphQLError, StashServerError

SESSION_COOKIE = "session"
_log = logging.getLogger(__name__)

# A hung Stash must not block the plugin (and Stash's task queue behind it) forever: every request
# is bounded. Reads are retried (they change nothing), writes never (a retried write could apply twice).
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0  # one answer; big libraries make some reads slow
# A write recorded at time t was answered (or given up on) by t + this: what ``settle`` compares
# Stash's updated_at against. At least connect + read timeout, plus slack for the clocks.
WRITE_WINDOW_S = CONNECT_TIMEOUT_S + READ_TIMEOUT_S + 30.0


def request_timeout() -> tuple[float, float]:
    """(connect, read) seconds; ``STASH_SENSE_STASH_TIMEOUT`` overrides the read part (slow servers)."""
    try:
        read = float(os.environ.get("STASH_SENSE_STASH_TIMEOUT") or READ_TIMEOUT_S)
    except ValueError:
        read = READ_TIMEOUT_S
    return CONNECT_TIMEOUT_S, max(read, 0.1)


class _TimeoutAdapter(HTTPAdapter):
    """Every request on the session gets the bounded timeout unless the caller gives its own."""

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = request_timeout()
        return super().send(request, **kwargs)


class PyLogger:
    """stashapi's logger interface on Python logging: who shows the lines (Stash's log, a terminal)
    is decided by the handler the entry point installs, never here."""

    def __getattr__(self, level: str):
        py = {"trace": "debug", "warn": "warning", "progress": "debug"}.get(level, level)
        return lambda msg, *a, **k: getattr(_log, py, _log.info)(str(msg))


class _OneSessionCookieJar(RequestsCookieJar):
    """A cookie jar where a new session cookie replaces the old one.

    Stash answers every request with a refreshed session cookie (``max_session_age``, 1 h by
    default). A plain jar keeps the host-less cookie we were given next to the refreshed host
    cookie and sends both, the old one first; Stash reads the first, so an hour after the plugin
    started every request would be refused.
    """

    def set_cookie(self, cookie: Any, *args: Any, **kwargs: Any) -> None:
        if cookie.name == SESSION_COOKIE:
            for old in [c for c in self if c.name == SESSION_COOKIE]:
                self.clear(old.domain, old.path, old.name)
        super().set_cookie(cookie, *args, **kwargs)


class _Session(requests.Session):
    """A session whose ``verify = False`` holds: plain requests lets ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE`` from the environment turn verification back on for every request."""

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict:
        settings = super().merge_environment_settings(*args, **kwargs)
        if self.verify is False:
            settings["verify"] = False
        return settings


class StrictInterface(StashInterface):
    """StashInterface that raises on any GraphQL error, honours a reverse-proxy base path, keeps one
    (the newest) session cookie, and uses Stash's API key when it has one (a key does not expire)."""

    RAISE_GQL_ERRORS = True  # stashapi >= 0.1.5 reads this; our _handle_GQL_response enforces it anyway

    def __init__(self, conn: dict, base_path: str = "", **kwargs: Any):
        self._base_path = base_path.rstrip("/")
        super().__init__(conn=conn, force_api_key=True, **kwargs)

    @property
    def s(self) -> requests.Session:
        return self._session

    @s.setter
    def s(self, session: requests.Session) -> None:
        # stashapi creates its session (and posts without a timeout) inside its constructor: ours
        # instead, with the one-session-cookie jar and the timeout adapter, before the first request.
        ours = _Session()
        ours.cookies = _OneSessionCookieJar()
        adapter = _TimeoutAdapter()
        ours.mount("http://", adapter)
        ours.mount("https://", adapter)
        self._session = ours

    @property
    def url(self) -> str:  # type: ignore[override]
        return self._url

    @url.setter
    def url(self, value: str) -> None:
        # StashInterface builds "<scheme>://<host>:<port>/graphql"; insert the base path before /graphql.
        if self._base_path and value.endswith("/graphql") and not value.endswith(self._base_path + "/graphql"):
            value = value[: -len("/graphql")] + self._base_path + "/graphql"
        self._url = value

    def _handle_GQL_response(self, response: requests.Response) -> dict:
        if response.status_code in (401, 403):
            raise StashAuthError(
                f"Stash refused the credentials (HTTP {response.status_code}) at {self.url}: "
                "the session cookie or API key is missing, wrong or expired"
            )
        try:
            content = response.json()
        except ValueError:
            content = None
        if isinstance(content, dict) and content.get("errors"):
            errors = content["errors"]
            msg = "; ".join(str(e.get("message", e)) for e in errors)
            raise StashGraphQLError(f"Stash GraphQL error: {msg}", errors)
        if response.status_code != 200 or not isinstance(content, dict) or content.get("data") is None:
            error = StashServerError if response.status_code >= 500 else StashError
            raise error(f"Stash answered HTTP {response.status_code} {response.reason} without data at {self.url}")
        return content["data"]
