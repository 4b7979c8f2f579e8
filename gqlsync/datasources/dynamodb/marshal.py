"""DynamoDB values: AppSync typed values to the wire and back to plain JSON, opaque pagination tokens."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from gqlsync.errors import DataSourceError, ResolverError


def to_wire(av: Any) -> Any:
    """An AppSync typed value as botocore wants it: N as string, B as bytes."""
    if not isinstance(av, dict) or len(av) != 1:
        raise ResolverError(f"Invalid DynamoDB typed value: {json.dumps(av)[:200]}", "MappingTemplate")
    (kind, v), = av.items()
    if kind == "N":
        return {"N": num_text(v)}
    if kind == "NS":
        return {"NS": [num_text(x) for x in v]}
    if kind == "B":
        return {"B": _b64(v)}
    if kind == "BS":
        return {"BS": [_b64(x) for x in v]}
    if kind == "M":
        return {"M": {k: to_wire(x) for k, x in (v or {}).items()}}
    if kind == "L":
        return {"L": [to_wire(x) for x in (v or [])]}
    if kind in ("S", "BOOL", "NULL", "SS"):
        return {kind: v}
    raise ResolverError(f"Unknown DynamoDB type {kind!r}", "MappingTemplate")


def num_text(v: Any) -> str:
    if isinstance(v, bool):
        raise ResolverError("A DynamoDB N value must be a number", "MappingTemplate")
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e16 else repr(v)
    return str(v)


def _b64(v: Any) -> str:
    """B values travel as base64 text on DynamoDB's JSON wire; check that they are."""
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode()
    try:
        base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ResolverError("A DynamoDB B value must be base64 text", "MappingTemplate") from None
    return str(v)


def wire_map(m: dict[str, Any] | None) -> dict[str, Any]:
    return {k: to_wire(v) for k, v in (m or {}).items()}


def number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def plain(av: dict[str, Any]) -> Any:
    """A botocore attribute value as plain JSON (what AppSync hands the response template)."""
    (kind, v), = av.items()
    if kind == "S":
        return v
    if kind == "N":
        return number(v)
    if kind == "BOOL":
        return v
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: plain(x) for k, x in v.items()}
    if kind == "L":
        return [plain(x) for x in v]
    if kind == "SS":
        return list(v)
    if kind == "NS":
        return [number(x) for x in v]
    if kind == "B":
        return v if isinstance(v, str) else base64.b64encode(v).decode()
    if kind == "BS":
        return [x if isinstance(x, str) else base64.b64encode(x).decode() for x in v]
    raise ValueError(kind)


def plain_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if item is None else {k: plain(v) for k, v in item.items()}


def typed_json(av: Any) -> Any:
    """A wire value as JSON-safe data for tokens (bytes, should any appear, as tagged base64)."""
    if isinstance(av, bytes):
        return {"__b": base64.b64encode(av).decode()}
    if isinstance(av, dict):
        return {k: typed_json(v) for k, v in av.items()}
    if isinstance(av, list):
        return [typed_json(v) for v in av]
    return av


def typed_wire(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"__b"}:
            return base64.b64decode(v["__b"])
        return {k: typed_wire(x) for k, x in v.items()}
    if isinstance(v, list):
        return [typed_wire(x) for x in v]
    return v


def encode_state(state: dict[str, Any], table: str) -> str:
    """An opaque token for one table carrying `state`: a LastEvaluatedKey under "k", any JSON beside it."""
    body = json.dumps({**state, "v": 1, "t": table, "k": typed_json(state.get("k"))}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_state(token: str, table: str, valid: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The state `encode_state` wrote; a token that is not one (`valid` says what it must hold), or is another
    table's, is refused as DynamoDB refuses a bad nextToken."""
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(body, dict) or body.get("v") != 1 or not valid(body):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise DataSourceError("Invalid pagination token given.", "DynamoDB:InvalidNextTokenException") from None
    if body.get("t") != table:
        raise DataSourceError("The pagination token belongs to another table.",
                              "DynamoDB:InvalidNextTokenException")
    body["k"] = typed_wire(body.get("k"))
    return body


def encode_token(last_key: dict[str, Any] | None, table: str) -> str | None:
    """An opaque nextToken for DynamoDB's LastEvaluatedKey."""
    return encode_state({"k": last_key}, table) if last_key else None


def decode_token(token: str, table: str) -> dict[str, Any]:
    return dict(decode_state(token, table, lambda body: isinstance(body.get("k"), dict))["k"])


def key_id(item: dict[str, Any], key: dict[str, Any]) -> str:
    return json.dumps({k: typed_json(item.get(k)) for k in sorted(key)}, sort_keys=True)
