"""AppSync's predefined scalars: each validates input and output as AppSync does."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from datetime import date, time
from typing import Any

from graphql import GraphQLError, GraphQLScalarType, GraphQLSchema, ValueNode, print_ast
from graphql.language import IntValueNode, StringValueNode

_OFFSET = r"(?:Z|[+-]\d{2}:\d{2}(?::\d{2})?)"
_DATE_RE = re.compile(rf"^(\d{{4}})-(\d{{2}})-(\d{{2}})({_OFFSET})?$")
_TIME_RE = re.compile(rf"^(\d{{2}}):(\d{{2}})(?::(\d{{2}})(?:\.(\d{{1,9}}))?)?({_OFFSET})?$")
_DATETIME_RE = re.compile(
    rf"^(\d{{4}})-(\d{{2}})-(\d{{2}})T(\d{{2}}):(\d{{2}})(?::(\d{{2}})(?:\.(\d{{1,9}}))?)?({_OFFSET})$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/?#]+[^\s]*$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().\-]{2,}$")


def _check_date(y: str, m: str, d: str) -> bool:
    try:
        date(int(y), int(m), int(d))
        return True
    except ValueError:
        return False


def _check_time(h: str, mi: str, s: str | None) -> bool:
    try:
        time(int(h), int(mi), int(s or 0))
        return True
    except ValueError:
        return False


def _is_date(v: str) -> bool:
    m = _DATE_RE.match(v)
    return bool(m) and _check_date(*m.groups()[:3])  # type: ignore[union-attr]


def _is_time(v: str) -> bool:
    m = _TIME_RE.match(v)
    return bool(m) and _check_time(*m.groups()[:3])  # type: ignore[union-attr]


def _is_datetime(v: str) -> bool:
    m = _DATETIME_RE.match(v)
    if not m:
        return False
    g = m.groups()
    return _check_date(g[0], g[1], g[2]) and _check_time(g[3], g[4], g[5])


def _is_ip(v: str) -> bool:
    try:
        ipaddress.ip_interface(v)
        return True
    except ValueError:
        return False


def _string_scalar(name: str, valid: Callable[[str], bool], what: str) -> dict[str, Callable[..., Any]]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not valid(value):
            raise GraphQLError(f"Unable to serialize {value!r} as a valid {what}.")
        return value

    def parse_literal(node: ValueNode, _vars: Any = None) -> str:
        if not isinstance(node, StringValueNode):
            raise GraphQLError(f"{name} expects a string, found {print_ast(node)}.", node)
        return check(node.value)

    return {"serialize": check, "parse_value": check, "parse_literal": parse_literal}


def _timestamp() -> dict[str, Callable[..., Any]]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise GraphQLError(f"Unable to serialize {value!r} as a valid AWSTimestamp (seconds since epoch).")
        return int(value)

    def parse_literal(node: ValueNode, _vars: Any = None) -> int:
        if not isinstance(node, IntValueNode):
            raise GraphQLError(f"AWSTimestamp expects an integer, found {print_ast(node)}.", node)
        return int(node.value)

    return {"serialize": check, "parse_value": check, "parse_literal": parse_literal}


def _json() -> dict[str, Callable[..., Any]]:
    def parse_value(value: Any) -> Any:
        if not isinstance(value, str):
            raise GraphQLError(f"Unable to parse {value!r} as valid JSON: AWSJSON input must be a JSON string.")
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise GraphQLError(f"Unable to parse {value!r} as valid JSON: {exc.msg}.") from None

    def parse_literal(node: ValueNode, _vars: Any = None) -> Any:
        if not isinstance(node, StringValueNode):
            raise GraphQLError(f"AWSJSON expects a JSON string, found {print_ast(node)}.", node)
        return parse_value(node.value)

    def serialize(value: Any) -> str:
        if isinstance(value, str):
            return value
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    return {"serialize": serialize, "parse_value": parse_value, "parse_literal": parse_literal}


SCALARS: dict[str, dict[str, Callable[..., Any]]] = {
    "AWSDate": _string_scalar("AWSDate", _is_date, "Date (YYYY-MM-DD with optional offset)"),
    "AWSTime": _string_scalar("AWSTime", _is_time, "Time (hh:mm[:ss[.sss]] with optional offset)"),
    "AWSDateTime": _string_scalar("AWSDateTime", _is_datetime,
                                  "DateTime (YYYY-MM-DDThh:mm[:ss[.sss]] with a Z or +hh:mm offset)"),
    "AWSTimestamp": _timestamp(),
    "AWSEmail": _string_scalar("AWSEmail", lambda v: bool(_EMAIL_RE.match(v)), "email address"),
    "AWSJSON": _json(),
    "AWSURL": _string_scalar("AWSURL", lambda v: bool(_URL_RE.match(v)), "URL (scheme://host...)"),
    "AWSPhone": _string_scalar("AWSPhone", lambda v: bool(_PHONE_RE.match(v)) and sum(c.isdigit() for c in v) >= 3,
                               "phone number"),
    "AWSIPAddress": _string_scalar("AWSIPAddress", _is_ip, "IPv4 or IPv6 address"),
}


def install_scalars(schema: GraphQLSchema) -> None:
    """Give the schema's AWS scalar types their validation and serialization."""
    for name, fns in SCALARS.items():
        t = schema.type_map.get(name)
        if isinstance(t, GraphQLScalarType):
            t.serialize = fns["serialize"]  # type: ignore[method-assign]
            t.parse_value = fns["parse_value"]  # type: ignore[method-assign]
            t.parse_literal = fns["parse_literal"]  # type: ignore[method-assign]
