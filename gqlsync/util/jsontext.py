"""JSON text in and out: compact UTF-8 output, and parse errors as AppSync's MappingTemplate errors."""

from __future__ import annotations

import json
from typing import Any

from gqlsync.errors import ResolverError


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    """Compact JSON (no spaces, non-ASCII kept); sets and tuples are arrays."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default)


def parse_json(text: str | None) -> Any:
    """The value of a JSON text (None for None); malformed text raises a MappingTemplate ResolverError."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResolverError(f"Unable to parse JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                            "MappingTemplate") from None
