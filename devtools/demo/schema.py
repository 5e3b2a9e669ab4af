"""The real Stash GraphQL schema (SDL from ../shared/stash-schema): loading, validation, field resolution.

Why: a query real Stash would reject must be rejected by the demo too, so the demo builds its schema
from Stash's own SDL instead of a hand-written copy.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    build_schema,
    parse,
    validate,
)

from .seed import now

REPO = Path(__file__).resolve().parents[2]


def schema_dir() -> Path:
    """The real Stash SDL: $STASH_SENSE_SHARED/stash-schema, else <repo>/../shared/stash-schema."""
    shared = Path(os.environ.get("STASH_SENSE_SHARED", REPO.parent / "shared"))
    return shared / "stash-schema"


_SCHEMA: GraphQLSchema | None = None


def load_schema(directory: str | os.PathLike | None = None) -> GraphQLSchema:
    """Build the Stash schema from its SDL files (cached for the default location)."""
    global _SCHEMA
    if directory is None and _SCHEMA is not None:
        return _SCHEMA
    d = Path(directory) if directory is not None else schema_dir()
    # versions/ holds older Stash schemas side by side: never mix them into this one
    found = glob.glob(str(d / "**" / "*.graphql"), recursive=True)
    files = sorted(f for f in found if "versions" not in Path(f).relative_to(d).parts)
    if not files:
        raise FileNotFoundError(f"no Stash schema (*.graphql) under {d}; set STASH_SENSE_SHARED")
    schema = build_schema("\n".join(Path(f).read_text(encoding="utf-8") for f in files))
    if directory is None:
        _SCHEMA = schema
    return schema


def validate_document(query: str, schema: GraphQLSchema | None = None) -> list[GraphQLError]:
    """Validation errors of a document against the Stash schema (empty list = valid)."""
    try:
        doc = parse(query)
    except GraphQLError as exc:
        return [exc]
    return list(validate(schema or load_schema(), doc))


SCALAR_ZERO: dict[str, Any] = {
    "String": "",
    "ID": "0",
    "Int": 0,
    "Int64": 0,
    "Float": 0.0,
    "Boolean": False,
    "Map": {},
    "BoolMap": {},
    "PluginConfigMap": {},
    "Any": None,
}


def zero_value(return_type: GraphQLOutputType) -> Any:
    """What an empty Stash answers for a non-null field the demo does not model: "", 0, false, [],
    the first enum value, an object of zero values, the current time.

    Why: Stash's web UI asks for hundreds of fields (the whole configuration, every field of a
    gallery); a null in a non-null field fails its whole query and the page shows an error. Nullable
    fields stay null, like Stash for data that is not set.
    """
    if not isinstance(return_type, GraphQLNonNull):
        return None
    inner = return_type.of_type
    if isinstance(inner, GraphQLList):
        return []
    if isinstance(inner, GraphQLEnumType):
        return next(iter(inner.values))
    if isinstance(inner, GraphQLObjectType):
        return {}
    if inner.name in ("Time", "Timestamp"):
        return now()
    return SCALAR_ZERO.get(inner.name)


def resolve_field(*pos: Any, **args: Any) -> Any:
    """Default field resolver without named ``source``/``info`` parameters: Stash has fields whose
    arguments are called ``source`` (scrapeSinglePerformer), which clash with graphql-core's default.
    A non-null field the demo leaves unset gets its zero value (see ``zero_value``)."""
    parent, info = pos
    name = info.field_name
    value = parent.get(name) if isinstance(parent, dict) else getattr(parent, name, None)
    value = value(info, **args) if callable(value) else value
    return zero_value(info.return_type) if value is None else value
