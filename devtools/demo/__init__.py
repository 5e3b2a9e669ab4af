"""Embedded demo Stash (GraphQL on the real Stash schema, SQLite-backed) for tests and local demos.

Seed data with ``devtools.demo.seed.seed(...)``; run with ``devtools.demo.server.DemoStash``.
(``seed`` is not re-exported here: it would shadow the ``seed`` module.)
"""

from .server import DemoStash, load_schema, validate_document

__all__ = ["DemoStash", "load_schema", "validate_document"]
