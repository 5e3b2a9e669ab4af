"""How an engine failure is worded, the same by the worker and the in-process service."""

from __future__ import annotations


def error_message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
