"""Thin Stash client over ``stashapi.stashapp.StashInterface``.

Why a wrapper at all:
- stashapi logs GraphQL errors and returns partial data (or ``{}``); we want every failure to raise one
  exception type (``StashError``) with a message a user can act on (Stash down, bad credentials, ...).
- the StashInterface constructor costs three requests (version, apiKey, full introspection), so one
  instance is kept per process (``get_client``).
- every GraphQL document lives in ``queries.py`` so tests can validate it against the real schema.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from stashapi.stashapp import StashInterface

from . import queries as Q

PLUGIN_ID = "stash_sense"
SESSION_COOKIE = "session"
_log = logging.getLogger(__name__)

# A hung Stash must not block the plugin (and Stash's task queue behind it) forever: every request
# is bounded. Reads are retried (they change nothing), writes never (a retried write could apply twice).
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0  # one answer; big libraries make some reads slow
READ_ATTEMPTS = 3
RETRY_PAUSE_S = 1.0  # doubled after each failed attempt
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


# --- errors -------------------------------------------------------------------------------------


class StashError(Exception):
    """Any failure talking to Stash; ``str(exc)`` is meant to be shown to the user."""


class StashUnreachable(StashError):
    """No HTTP answer at all (Stash not running, wrong host/port)."""


class StashAuthError(StashError):
    """HTTP 401/403: wrong or expired session cookie / API key."""


class StashGraphQLError(StashError):
    """Stash answered with GraphQL ``errors`` (invalid query, failed mutation)."""

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.errors = errors or []


class StashNotFound(StashError):
    """The requested object or file does not exist in Stash (e.g. image 404)."""


class StashTimeout(StashUnreachable):
    """Stash accepted the connection but did not answer in time (hung or overloaded)."""


class StashServerError(StashError):
    """HTTP 5xx without a GraphQL error: Stash failed internally (a read may succeed when retried)."""


class _TimeoutAdapter(HTTPAdapter):
    """Every request on the session gets the bounded timeout unless the caller gives its own."""

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = request_timeout()
        return super().send(request, **kwargs)


class StashTooOld(StashError):
    """Stash older than ``queries.MIN_STASH_VERSION``: our documents would fail its schema."""


def check_version(version: Any) -> None:
    """Refuse a Stash older than the oldest schema our documents are tested against, in one message.

    ``version`` is stashapi's ``StashVersion`` (or anything with major/minor/patch). A build without
    a release tag parses as 0.0.0: unknown, so it is let through rather than refused.
    """
    found = (int(version.major), int(version.minor), int(version.patch))
    if found == (0, 0, 0) or found >= Q.MIN_STASH_VERSION:
        return
    need = "v" + ".".join(map(str, Q.MIN_STASH_VERSION))
    raise StashTooOld(f"Stash Sense needs Stash {need} or newer; this Stash is v{'.'.join(map(str, found))}. "
                      "Update Stash, then run Stash Sense again.")


# --- connection dicts ---------------------------------------------------------------------------


def url_host(host: str) -> str:
    """The host part of a URL to Stash: an any-address becomes loopback, an IPv6 literal gets brackets.

    Stash's ``host`` setting (sent as ``server_connection.Host``) is where it listens: ``0.0.0.0``
    or ``::`` is not an address to connect to, and ``http://::1:9999`` is not a URL.
    """
    host = host.strip()
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if bare in ("", "0.0.0.0"):
        return "127.0.0.1" if bare else "localhost"
    if bare == "::":
        return "[::1]"
    return f"[{bare}]" if ":" in bare else bare


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.x.x.x`` or ``::1`` (brackets allowed): Stash on this very machine."""
    bare = host.strip().strip("[]")
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def verify_certificate(scheme: str, host: str, verify_ssl: bool = True) -> bool:
    """Check Stash's TLS certificate, except on loopback.

    Stash with its own certificate (``Scheme: https`` in ``server_connection``) is reached on
    127.0.0.1, a name its certificate cannot carry, and a self-signed one has no CA either; on
    loopback nothing travels over a network, so there is nothing for the check to protect. The
    bootstrap (``stash_sense_plugin.py``) reads the settings under the same rule.
    """
    return verify_ssl and not (scheme == "https" and is_loopback(host))


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


class _PyLogger:
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


class _Interface(StashInterface):
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


# --- client -------------------------------------------------------------------------------------


class StashClient:
    """The operations Stash Sense needs, each one GraphQL document from ``queries.py``."""

    def __init__(self, conn: dict, *, verify_ssl: bool = True):
        self.conn = dict(conn)
        host = url_host(str(self.conn.get("Host") or "localhost"))
        self.conn["Host"] = host
        base_path = str(self.conn.pop("BasePath", "") or "").rstrip("/")
        self.base_url = f"{self.conn.get('Scheme', 'http')}://{host}:{self.conn.get('Port', 9999)}{base_path}"
        self.conn["Logger"] = _PyLogger()
        verify = verify_certificate(str(self.conn.get("Scheme", "http")), host, verify_ssl)
        if not verify:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # on loopback, by choice
        try:
            self.stash = _Interface(self.conn, base_path, verify_ssl=verify)
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
    def from_plugin_input(cls, server_connection: dict, **kwargs: Any) -> StashClient:
        """Client for the plugin process, from the ``server_connection`` Stash writes on stdin."""
        return cls(connection_from_plugin_input(server_connection), **kwargs)

    @classmethod
    def from_url(cls, url: str, api_key: str | None = None, **kwargs: Any) -> StashClient:
        """Client for command-line use (URL and optional API key)."""
        return cls(connection_from_url(url, api_key), **kwargs)

    # -- generic

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

    # -- galleries / images / scenes

    def find_gallery(self, gallery_id: str | int) -> dict | None:
        """Gallery with its performers (not its images: Gallery has no image list field)."""
        return self.call(Q.FIND_GALLERY, {"id": str(gallery_id)})["findGallery"]

    def gallery_images_page(
        self, gallery_id: str | int, *, page: int = 1, per_page: int = 100
    ) -> tuple[int, list[dict]]:
        """One page of a gallery's images, ordered by path so pages are stable."""
        filt = {"page": page, "per_page": per_page, "sort": "path", "direction": "ASC"}
        res = self.call(Q.FIND_GALLERY_IMAGES, {"gallery_id": str(gallery_id), "filter": filt})["findImages"]
        return res["count"], res["images"]

    def gallery_images(self, gallery_id: str | int, *, per_page: int = 100) -> Iterator[dict]:
        """All images of a gallery, fetched page by page (no single huge response)."""
        page = 1
        while True:
            count, images = self.gallery_images_page(gallery_id, page=page, per_page=per_page)
            yield from images
            if not images or page * per_page >= count:
                return
            page += 1

    def find_galleries(
        self,
        *,
        without_performers: bool = False,
        tag_id: str | int | None = None,
        page: int = 1,
        per_page: int = 100,
    ) -> tuple[int, list[dict]]:
        """One page of galleries (all, or only those without performers, and/or having a tag)."""
        gfilter: dict[str, Any] = {}
        if without_performers:
            gfilter["performer_count"] = {"value": 0, "modifier": "EQUALS"}
        if tag_id is not None:
            gfilter["tags"] = {"value": [str(tag_id)], "modifier": "INCLUDES", "depth": 0}
        variables = {
            "gallery_filter": gfilter or None,
            "filter": {"page": page, "per_page": per_page, "sort": "id", "direction": "ASC"},
        }
        res = self.call(Q.FIND_GALLERIES, variables)["findGalleries"]
        return res["count"], res["galleries"]

    def iter_galleries(
        self, *, without_performers: bool = False, tag_id: str | int | None = None, per_page: int = 100
    ) -> Iterator[dict]:
        """All matching galleries, page by page."""
        page = 1
        while True:
            count, galleries = self.find_galleries(
                without_performers=without_performers, tag_id=tag_id, page=page, per_page=per_page
            )
            yield from galleries
            if not galleries or page * per_page >= count:
                return
            page += 1

    def find_image(self, image_id: str | int) -> dict | None:
        return self.call(Q.FIND_IMAGE, {"id": str(image_id)})["findImage"]

    def find_scene(self, scene_id: str | int) -> dict | None:
        return self.call(Q.FIND_SCENE, {"id": str(scene_id)})["findScene"]

    def scenes_page(self, *, page: int = 1, per_page: int = 100) -> tuple[int, list[dict]]:
        found = self.call(Q.FIND_SCENES_PAGE, {"filter": {"page": page, "per_page": per_page, "sort": "id",
                                                          "direction": "ASC"}})["findScenes"]
        return int(found["count"]), found["scenes"]

    def iter_scenes(self, *, per_page: int = 100) -> Iterator[dict]:
        page = 1
        while True:
            total, scenes = self.scenes_page(page=page, per_page=per_page)
            yield from scenes
            if not scenes or page * per_page >= total:
                return
            page += 1

    def scene_markers(self, scene_id: str | int) -> list[dict]:
        found = self.call(Q.SCENE_MARKERS, {"id": str(scene_id)})["findScene"]
        if found is None:
            raise StashNotFound(f"Stash has no scene with id {scene_id}")
        return found["scene_markers"]

    def create_scene_marker(self, scene_id: str | int, title: str, seconds: float, primary_tag_id: str | int) -> dict:
        inp = {"scene_id": str(scene_id), "title": title, "seconds": float(seconds),
               "primary_tag_id": str(primary_tag_id)}
        return self.call(Q.SCENE_MARKER_CREATE, {"input": inp})["sceneMarkerCreate"]

    def destroy_scene_markers(self, ids: list) -> None:
        if ids:
            self.call(Q.SCENE_MARKERS_DESTROY, {"ids": [str(i) for i in ids]})

    # -- performers

    def find_performer(self, performer_id: str | int) -> dict | None:
        return self.call(Q.FIND_PERFORMER, {"id": str(performer_id)})["findPerformer"]

    def performer_usage(self, performer_id: str | int) -> int | None:
        """Scenes + images + galleries the performer is on; None when it no longer exists."""
        found = self.call(Q.PERFORMER_USAGE, {"id": str(performer_id)})["findPerformer"]
        return None if found is None else sum(found[k] or 0 for k in ("scene_count", "image_count", "gallery_count"))

    def destroy_performer(self, performer_id: str | int) -> None:
        self.call(Q.PERFORMER_DESTROY, {"input": {"id": str(performer_id)}})

    def find_performers_by_stash_id(self, endpoint: str, stash_id: str) -> list[dict]:
        """Local performers already linked to this stash-box ID (normally 0 or 1)."""
        res = self.call(Q.FIND_PERFORMERS_BY_STASH_ID, {"endpoint": endpoint, "stash_id": stash_id})
        return res["findPerformers"]["performers"]

    def performers_created_with_stash_id(self, endpoint: str, stash_id: str) -> list[dict]:
        """``[{"id", "name", "created_at"}]`` of the performers linked to this stash-box ID."""
        res = self.call(Q.PERFORMERS_CREATED_WITH_STASH_ID, {"endpoint": endpoint, "stash_id": stash_id})
        return res["findPerformers"]["performers"]

    def image_gallery_ids(self, image_id: str | int) -> list[str]:
        """Ids of the galleries an image is in (none when the image is gone)."""
        image = self.call(Q.IMAGE_GALLERIES, {"id": str(image_id)})["findImage"] or {}
        return [str(g["id"]) for g in image.get("galleries") or []]

    def find_performers_by_name(self, name: str) -> list[dict]:
        """Exact-name matches; more than one means the name alone is ambiguous."""
        return self.call(Q.FIND_PERFORMERS_BY_NAME, {"name": name})["findPerformers"]["performers"]

    def create_performer(
        self,
        *,
        name: str,
        disambiguation: str | None = None,
        stash_ids: list[dict] | None = None,
        image: str | None = None,
        alias_list: list[str] | None = None,
        country: str | None = None,
        gender: str | None = None,
    ) -> dict:
        """performerCreate; ``stash_ids`` items are ``{"endpoint", "stash_id"}``."""
        inp: dict[str, Any] = {"name": name}
        for key, value in (
            ("disambiguation", disambiguation),
            ("image", image),
            ("alias_list", alias_list),
            ("country", country),
            ("gender", gender),
        ):
            if value:
                inp[key] = value
        if stash_ids:
            inp["stash_ids"] = [{"endpoint": s["endpoint"], "stash_id": s["stash_id"]} for s in stash_ids]
        return self.call(Q.PERFORMER_CREATE, {"input": inp})["performerCreate"]

    def add_performer_stash_id(self, performer_id: str | int, endpoint: str, stash_id: str) -> dict:
        """Link an existing performer to a stash-box ID, keeping the IDs it already has.

        performerUpdate's ``stash_ids`` replaces the whole list, so read it first and append.
        """
        performer = self.find_performer(performer_id)
        if performer is None:
            raise StashNotFound(f"Stash has no performer {performer_id}")
        current = performer.get("stash_ids") or []
        if any(s["endpoint"] == endpoint and s["stash_id"] == stash_id for s in current):
            return performer
        new_ids = [
            {k: s[k] for k in ("endpoint", "stash_id", "updated_at") if s.get(k) is not None} for s in current
        ] + [{"endpoint": endpoint, "stash_id": stash_id}]
        return self.call(Q.PERFORMER_UPDATE, {"input": {"id": str(performer_id), "stash_ids": new_ids}})[
            "performerUpdate"
        ]

    # -- tags

    def find_tag_by_name(self, name: str) -> dict | None:
        tags = self.call(Q.FIND_TAGS_BY_NAME, {"name": name})["findTags"]["tags"]
        exact = [t for t in tags if t["name"] == name]
        return (exact or tags or [None])[0]

    def find_or_create_tag(self, name: str) -> dict:
        return self.find_tag_by_name(name) or self.call(Q.TAG_CREATE, {"input": {"name": name}})["tagCreate"]

    # -- bulk updates

    def _bulk(
        self, query: str, field: str, ids: list, performer_ids: list | None, tag_ids: list | None, mode: str
    ) -> list[dict]:
        if mode not in ("ADD", "REMOVE"):
            raise ValueError("mode must be ADD (apply) or REMOVE (undo); SET would drop existing links")
        inp: dict[str, Any] = {"ids": [str(i) for i in ids]}
        if performer_ids:
            inp["performer_ids"] = {"ids": [str(i) for i in performer_ids], "mode": mode}
        if tag_ids:
            inp["tag_ids"] = {"ids": [str(i) for i in tag_ids], "mode": mode}
        if not ids or len(inp) == 1:
            return []
        return self.call(query, {"input": inp})[field] or []

    def update_galleries(
        self, ids: list, *, performer_ids: list | None = None, tag_ids: list | None = None, mode: str = "ADD"
    ) -> list[dict]:
        """Add (or, for undo, remove) performers/tags on galleries without touching the others."""
        return self._bulk(Q.BULK_GALLERY_UPDATE, "bulkGalleryUpdate", ids, performer_ids, tag_ids, mode)

    def update_images(
        self, ids: list, *, performer_ids: list | None = None, tag_ids: list | None = None, mode: str = "ADD"
    ) -> list[dict]:
        return self._bulk(Q.BULK_IMAGE_UPDATE, "bulkImageUpdate", ids, performer_ids, tag_ids, mode)

    def update_scenes(
        self, ids: list, *, performer_ids: list | None = None, tag_ids: list | None = None, mode: str = "ADD"
    ) -> list[dict]:
        return self._bulk(Q.BULK_SCENE_UPDATE, "bulkSceneUpdate", ids, performer_ids, tag_ids, mode)

    # -- current links of targets (journal "before" state)

    def links(self, target_type: str, ids: list) -> dict[str, dict[str, set[str]]]:
        """``{id: {"performer": {ids}, "tag": {ids}}}`` for galleries, images or scenes."""
        return link_sets(self._link_objects(target_type, ids))

    def link_state(self, target_type: str, ids: list) -> tuple[dict[str, dict[str, set[str]]], dict[str, str]]:
        """``links()`` plus ``{id: updated_at}`` (Stash's RFC 3339 time of the object's last change),
        from one read: what the journal compares to tell our write from a later one."""
        found = self._link_objects(target_type, ids)
        return link_sets(found), {str(o["id"]): o.get("updated_at") or "" for o in found}

    def _link_objects(self, target_type: str, ids: list) -> list[dict]:
        ids = [str(i) for i in ids]
        if target_type == "gallery":
            found = self._find_many(Q.GALLERY_LINKS, ids, "findGalleries", "galleries")
        elif target_type == "image":
            found = self._find_many(Q.IMAGE_LINKS, ids, "findImages", "images")
        elif target_type == "scene":
            found = [s for s in (self.call(Q.SCENE_LINKS, {"id": i})["findScene"] for i in ids) if s]
        else:
            raise ValueError(f"unknown target type {target_type!r}")
        missing = [i for i in ids if i not in {str(o["id"]) for o in found}]
        if missing:
            raise StashNotFound(f"Stash has no {target_type} with id {', '.join(missing)}")
        return found

    def find_existing(self, query: str, ids: list[str], field: str, key: str) -> list[dict]:
        """``find*(ids:)`` over ids some of which may have been deleted: Stash fails the whole query
        on the first missing id, so that id is dropped and the rest asked again."""
        ids = list(ids)
        while ids:
            try:
                return self._find_many(query, ids, field, key)
            except StashNotFound as exc:
                gone = re.search(r"with id (\d+)$", str(exc))
                if gone is None or gone.group(1) not in ids:
                    raise
                ids.remove(gone.group(1))
        return []

    def _find_many(self, query: str, ids: list[str], field: str, key: str) -> list[dict]:
        """``find*(ids:)``: Stash fails the whole query on an id it does not have ("gallery with id 7
        not found") where one might expect it left out; that is StashNotFound, as for one id."""
        try:
            return self.call(query, {"ids": ids})[field][key]
        except StashGraphQLError as exc:
            missing = re.search(r"(\w+) with id (\d+) not found", str(exc))
            if missing:
                raise StashNotFound(f"Stash has no {missing.group(1)} with id {missing.group(2)}") from exc
            raise

    # -- local enrollment

    def performers_page(self, *, page: int = 1, per_page: int = 100) -> tuple[int, list[dict]]:
        """One page of all performers (with image path and stash ids), by id."""
        filt = {"page": page, "per_page": per_page, "sort": "id", "direction": "ASC"}
        res = self.call(Q.FIND_PERFORMERS_PAGE, {"filter": filt})["findPerformers"]
        return res["count"], res["performers"]

    def solo_images(self, performer_id: str | int, *, limit: int = 50) -> list[dict]:
        """Images tagged with exactly this one performer."""
        filt = {"page": 1, "per_page": limit, "sort": "path", "direction": "ASC"}
        res = self.call(Q.FIND_SOLO_IMAGES, {"performer_id": str(performer_id), "filter": filt})
        return res["findImages"]["images"]

    def solo_galleries(self, performer_id: str | int, *, limit: int = 20) -> list[dict]:
        """Galleries tagged with exactly this one performer."""
        filt = {"page": 1, "per_page": limit, "sort": "id", "direction": "ASC"}
        res = self.call(Q.FIND_SOLO_GALLERIES, {"performer_id": str(performer_id), "filter": filt})
        return res["findGalleries"]["galleries"]

    # -- stash-box

    def set_performer_stash_ids(self, performer_id: str | int, stash_ids: list[dict]) -> dict:
        """Replace a performer's stash ids (undo of a link we made; the list is SET in Stash)."""
        clean = [{k: s[k] for k in ("endpoint", "stash_id", "updated_at") if s.get(k) is not None} for s in stash_ids]
        return self.call(Q.PERFORMER_UPDATE, {"input": {"id": str(performer_id), "stash_ids": clean}})[
            "performerUpdate"
        ]

    def stashbox_endpoints(self) -> list[dict]:
        """Configured stash-box instances: ``[{"endpoint", "name"}]``."""
        return self.call(Q.STASHBOX_ENDPOINTS)["configuration"]["general"]["stashBoxes"] or []

    def scrape_stashbox_performer(self, endpoint: str, stash_id: str) -> dict | None:
        """The stash-box performer with this ID, scraped through Stash (Stash holds the API key)."""
        res = self.call(
            Q.SCRAPE_STASHBOX_PERFORMER,
            {"source": {"stash_box_endpoint": endpoint}, "input": {"query": stash_id}},
        )["scrapeSinglePerformer"]
        return next((p for p in res if p.get("remote_site_id") == stash_id), None)

    def create_performer_from_stashbox(self, endpoint: str, stash_id: str) -> dict:
        """Local performer for a stash-box ID: the existing one if linked, else created from stash-box data."""
        existing = self.find_performers_by_stash_id(endpoint, stash_id)
        if existing:
            return existing[0]
        scraped = self.scrape_stashbox_performer(endpoint, stash_id)
        if scraped is None or not scraped.get("name"):
            raise StashNotFound(f"stash-box {endpoint} has no performer {stash_id}")
        gender = scraped.get("gender")
        valid_genders = {"MALE", "FEMALE", "TRANSGENDER_MALE", "TRANSGENDER_FEMALE", "INTERSEX", "NON_BINARY"}
        fields: dict[str, Any] = dict(
            name=scraped["name"],
            disambiguation=scraped.get("disambiguation"),
            stash_ids=[{"endpoint": endpoint, "stash_id": stash_id}],
            alias_list=clean_aliases(scraped["name"], (scraped.get("aliases") or "").split(",")) or None,
            country=scraped.get("country"),
            gender=gender if gender in valid_genders else None,
        )
        image = (scraped.get("images") or [None])[0]
        try:
            return self.create_performer(image=image, **fields)
        except StashGraphQLError as exc:
            if not image or "processing image" not in str(exc):
                raise
        # Stash downloads the picture itself and fails the whole creation when it cannot (offline,
        # stash-box image host down): the performer matters more than its picture
        _log.warning(f"Stash could not download the picture of {scraped['name']} ({image}); "
                     "creating the performer without it")
        return self.create_performer(**fields)

    # -- plugin settings

    def plugin_settings(self, plugin_id: str = PLUGIN_ID) -> dict:
        """Saved settings of a plugin; ``{}`` until the user saves them (always default in code)."""
        plugins = self.call(Q.PLUGIN_CONFIG, {"ids": [plugin_id]})["configuration"]["plugins"] or {}
        return dict(plugins.get(plugin_id) or {})

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


def is_read(document: str) -> bool:
    """A query (changes nothing, safe to retry) rather than a mutation."""
    return re.search(r"^\s*mutation\b", document, re.MULTILINE) is None


def clean_aliases(name: str, aliases: list[str]) -> list[str]:
    """Aliases Stash accepts: trimmed, none equal to the name or to another alias ignoring case
    (performerCreate refuses the whole performer otherwise: "performer contains duplicate alias")."""
    seen = {name.strip().lower()}
    out = []
    for alias in (a.strip() for a in aliases):
        if alias and alias.lower() not in seen:
            seen.add(alias.lower())
            out.append(alias)
    return out


def _is_login_redirect(resp: requests.Response) -> bool:
    return resp.is_redirect and "/login" in (resp.headers.get("Location") or "")


def is_zip_member(file: dict) -> bool:
    """The file lives inside a zip (its path is not a real file): ``zip_file_id`` on every Stash
    version, ``zip_file`` as newer Stash also answers."""
    return bool(file.get("zip_file_id") or file.get("zip_file"))


def fingerprint(file: dict, fp_type: str) -> str | None:
    """Value of one fingerprint (``md5``, ``oshash``, ``phash``) of a file dict, if present."""
    for fp in file.get("fingerprints") or []:
        if fp.get("type") == fp_type:
            return fp.get("value")
    return None


# --- one instance per process -------------------------------------------------------------------

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


def link_sets(objects: list[dict]) -> dict[str, dict[str, set[str]]]:
    """``{id: {"performer": {ids}, "tag": {ids}}}`` from objects read with ``performers { id } tags { id }``."""
    return {str(o["id"]): {"performer": {str(p["id"]) for p in o["performers"]},
                           "tag": {str(t["id"]) for t in o["tags"]}} for o in objects}
