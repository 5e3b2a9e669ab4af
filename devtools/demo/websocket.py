"""GraphQL subscriptions over WebSocket with the ``graphql-transport-ws`` subprotocol, as Stash has them.

Why: Stash's UI learns about jobs only from ``jobsSubscribe`` (the Tasks page's progress bars) and
about logs from ``loggingSubscribe``. The frames are wsproto's; this module speaks the graphql-ws 5.x
messages (connection_init/ack, subscribe, next, complete, ping/pong) and turns the demo's job table
into ADD/UPDATE/REMOVE events by polling it.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, OperationDefinitionNode, graphql_sync, parse, validate
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import CloseConnection, Message, Ping, TextMessage

from .schema import resolve_field

if TYPE_CHECKING:
    from .server import DemoStash

SUBPROTOCOL = "graphql-transport-ws"
POLL_SECONDS = 0.2
DONE = ("FINISHED", "FAILED", "CANCELLED")


@dataclass
class Subscription:
    """One active ``subscribe``: its document, and what the client has already been told."""

    id: str
    query: str
    variables: dict | None
    operation_name: str | None
    field: str
    jobs_seen: dict[str, tuple] = field(default_factory=dict)
    logs_seen: int = 0


def root_field(query: str, operation_name: str | None) -> str:
    """The subscription's root field (Stash subscriptions select exactly one)."""
    ops = [d for d in parse(query).definitions if isinstance(d, OperationDefinitionNode)]
    op = next((o for o in ops if o.name and o.name.value == operation_name), ops[0])
    return op.selection_set.selections[0].name.value  # type: ignore[attr-defined]


def job_state(job: dict) -> tuple:
    return job["status"], job.get("progress"), job.get("description"), tuple(job.get("subTasks") or ())


class SubscriptionSession:
    """One WebSocket connection: reads client messages, pushes events for its subscriptions."""

    def __init__(self, sock: socket.socket, stash: DemoStash):
        self.sock, self.stash = sock, stash
        self.ws = Connection(ConnectionType.SERVER)
        self.subs: dict[str, Subscription] = {}
        self.open = True

    def send(self, message: dict) -> None:
        self.sock.sendall(self.ws.send(Message(data=json.dumps(message))))

    def run(self) -> None:
        self.sock.settimeout(POLL_SECONDS)
        while self.open and self.stash.running:
            try:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.ws.receive_data(data)
            except TimeoutError:
                pass
            except OSError:
                break
            for event in self.ws.events():
                self.on_event(event)
            for sub in list(self.subs.values()):
                self.push(sub)

    def on_event(self, event: Any) -> None:
        if isinstance(event, TextMessage):
            self.on_message(json.loads(event.data))
        elif isinstance(event, Ping):
            self.sock.sendall(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            self.sock.sendall(self.ws.send(event.response()))
            self.open = False

    def on_message(self, msg: dict) -> None:
        kind = msg.get("type")
        if kind == "connection_init":
            self.send({"type": "connection_ack"})
        elif kind == "ping":
            self.send({"type": "pong"})
        elif kind == "complete":
            self.subs.pop(msg.get("id"), None)
        elif kind == "subscribe":
            self.subscribe(msg["id"], msg.get("payload") or {})

    def subscribe(self, sub_id: str, payload: dict) -> None:
        query, op = payload.get("query") or "", payload.get("operationName")
        try:
            errors = validate(self.stash.schema, parse(query))
        except GraphQLError as exc:
            errors = [exc]
        if errors:
            self.send({"type": "error", "id": sub_id, "payload": [e.formatted for e in errors]})
            return
        sub = Subscription(sub_id, query, payload.get("variables"), op, root_field(query, op))
        sub.jobs_seen = {jid: job_state(j) for jid, j in list(self.stash.jobs.items())}
        sub.logs_seen = len(self.stash.log_entries)
        self.subs[sub_id] = sub

    def push(self, sub: Subscription) -> None:
        if sub.field == "jobsSubscribe":
            for update in job_updates(sub, self.stash.jobs):
                self.next(sub, update)
        elif sub.field == "loggingSubscribe":
            entries = self.stash.log_entries[sub.logs_seen :]
            if entries:
                sub.logs_seen += len(entries)
                self.next(sub, [{"level": lv.capitalize(), "message": m} for lv, m in entries])

    def next(self, sub: Subscription, value: Any) -> None:
        result = graphql_sync(
            self.stash.schema,
            sub.query,
            root_value={sub.field: value},
            variable_values=sub.variables,
            operation_name=sub.operation_name,
            field_resolver=resolve_field,
        )
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        self.send({"type": "next", "id": sub.id, "payload": payload})


def job_updates(sub: Subscription, jobs: dict[str, dict]) -> list[dict]:
    """Stash's JobStatusUpdate events since the last poll: ADD a new job, UPDATE a changed one,
    REMOVE one that ended (with its final status)."""
    updates = []
    for jid, job in list(jobs.items()):
        state, seen = job_state(job), sub.jobs_seen.get(jid)
        if state == seen:
            continue
        sub.jobs_seen[jid] = state
        if state[0] in DONE:
            if seen is None or seen[0] not in DONE:
                updates.append({"type": "REMOVE", "job": dict(job)})
        else:
            updates.append({"type": "ADD" if seen is None else "UPDATE", "job": dict(job)})
    return updates
