"""Stash's filter semantics on Python values: criterion modifiers, unsupported keys, FindFilterType paging.

Why: the demo must filter like Stash (and refuse a filter key it does not implement rather than
silently ignore it), so that a query that works here works against real Stash.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from typing import Any

from graphql import GraphQLError


def id_set(values: Iterable[Any] | None) -> set[int]:
    """GraphQL IDs (strings) as a set of ints."""
    return {int(v) for v in values or []}


def require_ids(ctx: Any, table: str, kind: str, ids: Iterable[Any] | None) -> None:
    """Stash's ``FindMany`` fails on the first id it does not have ("gallery with id 7 not found")
    instead of leaving it out of the answer."""
    for wanted in sorted(id_set(ids)):
        if ctx.one(f"SELECT id FROM {table} WHERE id = ?", (wanted,)) is None:
            raise GraphQLError(f"{kind} with id {wanted} not found")


def match_string(value: str | None, crit: dict) -> bool:
    mod, want = crit["modifier"], crit.get("value") or ""
    v = (value or "").lower()
    if mod == "EQUALS":
        return v == want.lower()
    if mod == "NOT_EQUALS":
        return v != want.lower()
    if mod == "INCLUDES":
        return want.lower() in v
    if mod == "EXCLUDES":
        return want.lower() not in v
    if mod == "MATCHES_REGEX":
        return re.search(want, value or "", re.I) is not None
    if mod == "IS_NULL":
        return not value
    if mod == "NOT_NULL":
        return bool(value)
    raise GraphQLError(f"demo Stash: string modifier {mod} not implemented")


def match_int(value: int, crit: dict) -> bool:
    mod, a, b = crit["modifier"], crit["value"], crit.get("value2")
    ops: dict[str, Callable[[], bool]] = {
        "EQUALS": lambda: value == a,
        "NOT_EQUALS": lambda: value != a,
        "GREATER_THAN": lambda: value > a,
        "LESS_THAN": lambda: value < a,
        "BETWEEN": lambda: b is not None and a <= value <= b,
        "NOT_BETWEEN": lambda: b is not None and not a <= value <= b,
    }
    if mod not in ops:
        raise GraphQLError(f"demo Stash: int modifier {mod} not implemented")
    return ops[mod]()


def match_multi(have: set[int], crit: dict) -> bool:
    mod, want = crit["modifier"], id_set(crit.get("value"))
    if id_set(crit.get("excludes")) & have:
        return False
    if mod == "INCLUDES":
        return bool(want & have) if want else True
    if mod == "INCLUDES_ALL":
        return want <= have
    if mod == "EXCLUDES":
        return not (want & have)
    if mod == "IS_NULL":
        return not have
    if mod == "NOT_NULL":
        return bool(have)
    raise GraphQLError(f"demo Stash: multi modifier {mod} not implemented")


def check_keys(kind: str, filt: dict, supported: set[str]) -> None:
    extra = set(filt) - supported
    if extra:
        raise GraphQLError(f"demo Stash: {kind} keys {sorted(extra)} not implemented")


# The demo creates everything in id order and has no dates: these sorts follow the ids.
CREATION_ORDER = {"date", "created_at", "updated_at"}


def paginate(items: list[dict], filt: dict | None, sort_keys: dict[str, Callable[[dict], Any]], default: str) -> list:
    """Apply FindFilterType: q is handled by callers; sort, direction, page, per_page (25; -1 = all)."""
    filt = filt or {}
    sort = filt.get("sort") or default
    if sort == "random" or sort.startswith("random_"):
        random.Random(0).shuffle(items)
    else:
        if sort in CREATION_ORDER and sort not in sort_keys:
            sort = "id"
        if sort not in sort_keys:
            raise GraphQLError(f"demo Stash: sort {sort!r} not implemented")
        items.sort(key=sort_keys[sort], reverse=(filt.get("direction") == "DESC"))
    per_page = filt.get("per_page")
    per_page = 25 if per_page is None else per_page
    if per_page < 0:
        return items
    page = max(1, filt.get("page") or 1)
    return items[(page - 1) * per_page : page * per_page]
