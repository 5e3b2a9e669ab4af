"""One conversation with one Stash: connect once, run documents with retries, download its files.

Why a wrapper over stashapi at all:
- every failure raises one exception type (``StashError``) with a message a user can act on (Stash
  down, bad credentials, too old, ...) instead of stashapi's logged error and partial data;
- the StashInterface constructor costs three requests (version, apiKey, full introspection), so a
  session is made once per process (``client.get_client``);
- reads are retried when Stash hiccups, writes never (a retried write could apply twice).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Self

import requests

from stash_sense.hosts import url_host, verify_certificate

from . import queries as Q
from .connection import connection_from_plugin_input, connection_from_url
from .errors import StashAuthError, StashError, StashNotFound, StashServerError, StashTimeout, StashUnreachable
from .transport import CONNECT_TIMEOUT_S, SESSION_COOKIE, PyLogger, StrictInterface, request_timeout
from .versions import check_version

_log = logging.getLogger(__name__)

READ_ATTEMPTS = 3
RETRY_PAUSE_S = 1.0  # doubled after each failed attempt


def is_read(document: str) -> bool:
    """A query (changes nothing, safe to retry) rather than a mutation."""
    return re.search(r"^\s*mutation\b", document, re.MULTILINE) is None


class StashSession:
    """A connected, version-checked Stash: ``call`` runs one document, ``fetch`` downloads one file."""

    def __init__(self, conn: dict, *, verify_ssl: bool = True):
        self.conn = dict(conn)
        host = url_host(str(self.conn.get("Host") or "localhost"))
        self.conn["Host"] = host
        base_path = str(self.conn.pop("BasePath", "") or "").rstrip("/")
        self.base_url = f"{self.conn.get('Scheme', 'http')}://{host}:{self.conn.get('Port', 9999)}{base_path}"
        self.conn["Logger"] = PyLogger()
        verify = verify_certificate(str(self.conn.get("Scheme", "http")), host, verify_ssl)
        if not verify:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # on loopback, by choice
        try:
            self.stash = StrictInterface(self.conn, base_path, verify_ssl=verify)
        except StashError:
            raise
        except requests.exceptions.Timeout as exc:
            raise StashTimeout(f"Stash at {self.base_url} did not answer within {request_timeout()[1]:g}s") from exc
        except requests.exceptions.SSLError as exc:
            raise StashUnreachable(f"Stash at {self.base_url} answered with a TLS certificate that could not be "
                                   f"verified for that address: {exc}") from exc
        except requests.exceptions.ConnectionError as exc:
            raise StashUnreachable(
                f"Cannot reach Stash at {self.base_url}: is it running? ({exc.__class__.__name__})"
            ) from exc
        except Exception as exc:  # stashapi raises bare Exception
            raise StashError(f"Cannot connect to Stash at {self.base_url}: {exc}") from exc
        check_version(self.stash.version)

    @classmethod
    def from_plugin_input(cls, server_connection: dict, **kwargs: Any) -> Self:
        """Client for the plugin process, from the ``server_connection`` Stash writes on stdin."""
        return cls(connection_from_plugin_input(server_connection), **kwargs)

    @classmethod
    def from_url(cls, url: str, api_key: str | None = None, **kwargs: Any) -> Self:
        """Client for command-line use (URL and optional API key)."""
        return cls(connection_from_url(url, api_key), **kwargs)

    # -- GraphQL

    def call(self, query: str, variables: dict | None = None) -> dict:
        """Run one document; returns ``data`` or raises a ``StashError`` subclass.

        A read that found Stash unreachable, timed out or got an HTTP 5xx is tried again (up to
        ``READ_ATTEMPTS``, pausing between); a mutation is sent once.
        """
        attempts = READ_ATTEMPTS if is_read(query) else 1
        pause = RETRY_PAUSE_S
        for attempt in range(1, attempts + 1):
            try:
                return self._call_once(query, variables)
            except (StashUnreachable, StashServerError) as exc:
                if attempt == attempts:
                    raise
                _log.info("Stash read failed (%s); trying again in %.0fs", exc, pause)
                time.sleep(pause)
                pause *= 2
        raise AssertionError("unreachable")

    def _call_once(self, query: str, variables: dict | None) -> dict:
        try:
            return self.stash.call_GQL(query, dict(variables or {}))
        except StashError:
            raise
        except requests.exceptions.Timeout as exc:
            raise StashTimeout(f"Stash at {self.base_url} did not answer within {request_timeout()[1]:g}s: "
                               "is it overloaded or hung?") from exc
        except requests.exceptions.ConnectionError as exc:
            raise StashUnreachable(f"Lost connection to Stash at {self.base_url}: is it still running?") from exc
        except requests.RequestException as exc:
            raise StashError(f"HTTP error talking to Stash at {self.base_url}: {exc}") from exc
        except Exception as exc:
            raise StashError(f"Stash request failed: {exc}") from exc

    def ping(self) -> str | None:
        """Stash's version, or a ``StashError`` when it does not answer (after the read retries)."""
        return self.call(Q.VERSION)["version"]["version"]

    # -- bytes

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request outside this client (FFmpeg): API key or the newest cookie."""
        headers: dict[str, str] = {}
        cookie = self.stash.s.cookies.get(SESSION_COOKIE)
        if cookie:
            headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
        if self.stash.s.headers.get("ApiKey"):
            headers["ApiKey"] = str(self.stash.s.headers["ApiKey"])
        return headers

    def url_for(self, path: str) -> str:
        """Absolute URL on the Stash server we connect to (not ``paths.*``, which may use externalHost)."""
        return self.base_url + "/" + path.lstrip("/")

    def fetch(self, path: str, *, what: str = "file") -> bytes:
        """GET a Stash URL with our session cookie / ApiKey; clear errors for 401 / 404 / down."""
        url = self.url_for(path)
        try:
            resp = self.stash.s.get(url, timeout=(CONNECT_TIMEOUT_S, max(request_timeout()[1], 120.0)),
                                    allow_redirects=False)
        except requests.exceptions.Timeout as exc:
            raise StashTimeout(f"Stash at {self.base_url} did not send {what} in time") from exc
        except requests.exceptions.ConnectionError as exc:
            raise StashUnreachable(f"Cannot reach Stash at {self.base_url} to download {what}") from exc
        except requests.RequestException as exc:
            raise StashError(f"Downloading {what} from Stash failed: {exc}") from exc
        if resp.status_code in (401, 403) or _is_login_redirect(resp):
            # Stash sends a media request without a valid session to its login page (302)
            raise StashAuthError(
                f"Stash refused to serve {what} (HTTP {resp.status_code}): bad or expired session cookie or API key"
            )
        if resp.status_code == 404:
            raise StashNotFound(f"Stash has no {what} (HTTP 404 at {url})")
        if resp.status_code != 200:
            raise StashError(f"Stash answered HTTP {resp.status_code} for {what} at {url}")
        return resp.content


def _is_login_redirect(resp: requests.Response) -> bool:
    return resp.is_redirect and "/login" in (resp.headers.get("Location") or "")
