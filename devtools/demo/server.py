"""Embedded demo Stash: the subset of the Stash server that Stash Sense talks to.

Why: tests (and a local demo) need a Stash that behaves like the real one where it matters, without
Go, ffmpeg or a library scan. The GraphQL schema is the real Stash SDL (``schema.py``), so a query
that real Stash would reject is rejected here too. Only the resolvers we use exist (``resolvers/``);
other fields resolve to null (and fail if non-null), and unsupported filter keys raise instead of
being silently ignored (``filters.py``). Data lives in SQLite (``seed.py``). The HTTP layer is
``httpd.py``; plugins run as Stash runs them (``plugin_runner.py``).
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, execute_sync, parse, validate

from .httpd import Handler, HTTPServer
from .media import read_file_bytes
from .objects import Ctx
from .plugin_runner import PluginRunner
from .resolvers import Root
from .scan import start_scan
from .schema import REPO, load_schema, resolve_field, validate_document
from .seed import init_db
from .sessions import COOKIE_NAME, DEFAULT_MAX_AGE, SessionStore

PLUGIN_ID = "stash_sense"
DOCUMENT_CACHE = 256  # parsed and validated documents kept (by query text)

__all__ = ["DemoStash", "load_schema", "validate_document", "PLUGIN_ID"]


class DemoStash(PluginRunner):
    """A running demo Stash (GraphQL + image routes + plugin runner) on 127.0.0.1.

    ``plugin_command`` defaults to ``[python, <repo>/stash_sense_plugin.py]``; ``task_default_args``
    maps a task name to the ``defaultArgs`` Stash would apply for ``runPluginTask(task_name=...)``.
    ``max_session_age`` is Stash's ``max_session_age`` (seconds a cookie lives unless refreshed);
    ``tls`` = (certificate file, key file) serves HTTPS as Stash does with its own certificate;
    ``host`` is where it listens (``::`` or ``::1`` for IPv6, the former also taking IPv4);
    ``version`` is what ``version { version }`` answers. ``metadataScan`` (``scan.py``) handles new
    files on ``parallel_tasks`` workers (Stash's "parallel tasks" setting, default 1) and creates
    folder galleries when ``create_galleries_from_folders`` (Stash's default: off); it fires the
    hooks of the plugin's manifest, or ``hooks`` (trigger -> list of defaultArgs) when given.
    """

    def __init__(
        self,
        db_path: str | os.PathLike,
        port: int = 0,
        session: str | None = "demo-session",
        api_key: str | None = None,
        plugin_command: list[str] | None = None,
        *,
        plugin_id: str = PLUGIN_ID,
        plugin_dir: str | os.PathLike | None = None,
        task_default_args: dict[str, dict] | None = None,
        err_log_level: str = "error",
        schema: GraphQLSchema | None = None,
        max_session_age: float = DEFAULT_MAX_AGE,
        tls: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
        version: str = "v0.30.1",
        parallel_tasks: int = 1,
        create_galleries_from_folders: bool = False,
        hooks: dict[str, list[dict]] | None = None,
    ):
        self.db_path = str(db_path)
        self.requested_port = port
        self.session = session
        self.sessions = SessionStore(session, max_session_age)
        self.api_key = api_key
        self.tls = tls
        self.host = host
        self.version = version
        self.parallel_tasks = parallel_tasks
        self.create_galleries_from_folders = create_galleries_from_folders
        super().__init__(
            list(plugin_command or [sys.executable, str(REPO / "stash_sense_plugin.py")]),
            plugin_id,
            str(plugin_dir or REPO),
            task_default_args or {},
            err_log_level,
            hooks,
        )
        self.schema = schema or load_schema()
        self._documents: dict[tuple[int, str], tuple[DocumentNode | None, list[dict]]] = {}
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        init_db(self.db_path)

    # -- lifecycle

    def start(self) -> str:
        """Serve in a background thread; returns the base URL (``http://127.0.0.1:<port>``)."""
        server_class = _V6HTTPServer if ":" in self.host else HTTPServer
        self._httpd = server_class((self.host, self.requested_port), Handler)
        self._httpd.stash = self
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            # the handshake happens in the request's thread, not in the accept loop
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="demo-stash", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self.stop_all_jobs()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DemoStash:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("demo Stash is not running")
        return self._httpd.server_address[1]

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        host = "[::1]" if ":" in self.host else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}"

    def server_connection(self, host: str = "0.0.0.0") -> dict:
        """The ``server_connection`` Stash puts in PluginInput (Host is often 0.0.0.0 in real Stash).

        Like ``MakePluginCookie``, each plugin run gets a cookie stamped now, which expires after
        ``max_session_age`` unless the plugin sends the refreshed cookies Stash answers with.
        """
        return {
            "Scheme": self.scheme,
            "Host": host,
            "Port": self.port,
            "SessionCookie": {
                "Name": COOKIE_NAME,
                "Value": self.sessions.issue(),
                "Path": "",
                "Domain": "",
                "Expires": "0001-01-01T00:00:00Z",
                "RawExpires": "",
                "MaxAge": 0,
                "Secure": False,
                "HttpOnly": False,
                "SameSite": 0,
                "Raw": "",
                "Unparsed": None,
            },
            "Dir": str(Path(self.db_path).resolve().parent),
            "PluginDir": self.plugin_dir,
        }

    # -- GraphQL

    def execute(
        self, query: str, variables: dict | None = None, operation_name: str | None = None, base_url: str | None = None
    ) -> tuple[int, dict]:
        """Run one GraphQL request; (HTTP status, response body). 422 for invalid documents, like gqlgen."""
        doc, errors = self._document(query)
        if errors:
            return 422, {"errors": errors, "data": None}
        ctx = Ctx(self, base_url or (self.url if self._httpd else "http://127.0.0.1"))
        try:
            result = execute_sync(
                self.schema,
                doc,
                root_value=Root(ctx),
                context_value=ctx,
                variable_values=variables,
                operation_name=operation_name,
                field_resolver=resolve_field,
            )
        finally:
            ctx.close()
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        return 200, body

    def _document(self, query: str) -> tuple[DocumentNode | None, list[dict]]:
        """The parsed document and its validation errors, kept per query text: a client sends the same
        few documents thousands of times, and validating one against Stash's schema costs more than
        running it (Stash's gqlgen keeps a query cache for the same reason)."""
        key = (id(self.schema), query)  # a test may swap the schema (another Stash version)
        found = self._documents.get(key)
        if found is None:
            try:
                doc: DocumentNode | None = parse(query)
                errors = [e.formatted for e in validate(self.schema, doc)]
            except GraphQLError as exc:
                doc, errors = None, [exc.formatted]
            if len(self._documents) >= DOCUMENT_CACHE:
                self._documents.pop(next(iter(self._documents)), None)  # the oldest (threads share it)
            found = self._documents[key] = (doc, errors)
        return found

    def query(self, query: str, variables: dict | None = None) -> dict:
        """In-process GraphQL for tests/demo; raises on errors."""
        _, body = self.execute(query, variables)
        if body.get("errors"):
            raise RuntimeError("; ".join(e["message"] for e in body["errors"]))
        return body["data"]

    def start_scan(self, paths: list[str]) -> str:
        """``metadataScan``: a scan job of ``paths``; returns the job id (``scan.py``)."""
        return start_scan(self, paths)

    def read_file_bytes(self, kind: str, obj_id: int, what: str) -> tuple[bytes | None, str]:
        """Bytes for /image/{id}/image|thumbnail, /scene/{id}/stream|screenshot, /performer/{id}/image."""
        return read_file_bytes(self.db_path, kind, obj_id, what)


class _V6HTTPServer(HTTPServer):
    """Listens on IPv6; on ``::`` also on IPv4 (dual stack, as Go's listener on an any-address)."""

    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
