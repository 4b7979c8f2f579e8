"""The Python side of APPSYNC_JS's `util`, `extensions` and ddb builders: gqlsync.util's core behind an allowlist."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

from gqlsync.errors import GqlsyncError, ResolverError
from gqlsync.runtimes.context import ResolverContext
from gqlsync.runtimes.js.dynamodb import BUILDERS
from gqlsync.runtimes.vtl.extensions import Extensions
from gqlsync.util import transform as core_transform
from gqlsync.util.core import UtilCore
from gqlsync.util.jsontext import to_json


def js_str(v: Any) -> str:
    """JavaScript's String(v) for JSON values: null, true, 1 (not 1.0), "a,b" for arrays, [object Object]."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isfinite(v) and v == int(v) and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, (list, tuple)):
        return ",".join("" if x is None else js_str(x) for x in v)
    if isinstance(v, dict):
        return "[object Object]"
    return str(v)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """JSON text for the engine (DynamoDB's Decimals as numbers, sets as arrays)."""
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits, which orjson refuses and json writes out
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default)


#: JSON text from the engine to Python values.
loads = orjson.loads


class TransformUtil:
    """`util.transform` in APPSYNC_JS: the DynamoDB and OpenSearch expressions are JSON text, filters objects."""

    def toDynamoDBFilterExpression(self, spec: Any) -> str | None:  # noqa: N802 - AppSync names
        doc = core_transform.dynamodb_expression(spec)
        return None if doc is None else to_json(doc)

    def toDynamoDBConditionExpression(self, spec: Any) -> str | None:  # noqa: N802
        return self.toDynamoDBFilterExpression(spec)

    def toElasticsearchQueryDSL(self, spec: Any) -> str | None:  # noqa: N802
        doc = core_transform.TransformUtil().toElasticsearchQueryDSL(spec)
        return None if doc is None else to_json(doc)

    def toSubscriptionFilter(self, spec: Any, ignored_fields: Any = None, rules: Any = None) -> dict[str, Any]:  # noqa: N802
        return core_transform.subscription_filter(spec, ignored_fields, rules)


class JsUtil(UtilCore):
    """`util` for one APPSYNC_JS invocation: the core with JavaScript's String() as the stringify hook."""

    transform = TransformUtil()

    def __init__(self, ctx: ResolverContext) -> None:
        super().__init__(ctx, js_str)


#: The `util` members resolver code may call, by their dotted JS names (everything else stays out of reach).
UTIL_NAMES = (
    "error", "appendError", "unauthorized", "validate", "isNull", "isNullOrEmpty", "isNullOrBlank",
    "defaultIfNull", "defaultIfNullOrEmpty", "defaultIfNullOrBlank", "isString", "isNumber", "isBoolean",
    "isList", "isMap", "typeOf", "matches", "authType", "escapeJavaScript", "urlEncode", "urlDecode",
    "base64Encode", "base64Decode", "autoId", "autoUlid", "autoKsuid",
    *(f"time.{n}" for n in ("nowISO8601", "nowEpochSeconds", "nowEpochMilliSeconds", "nowFormatted",
                            "parseFormattedToEpochMilliSeconds", "parseISO8601ToEpochMilliSeconds",
                            "epochMilliSecondsToSeconds", "epochMilliSecondsToISO8601",
                            "epochMilliSecondsToFormatted")),
    *(f"dynamodb.{n}" for n in ("toDynamoDB", "toString", "toStringSet", "toNumber", "toNumberSet", "toBinary",
                                "toBinarySet", "toBoolean", "toNull", "toList", "toMap", "toMapValues",
                                "toS3Object", "fromS3ObjectJson")),
    *(f"transform.{n}" for n in ("toDynamoDBFilterExpression", "toDynamoDBConditionExpression",
                                 "toElasticsearchQueryDSL", "toSubscriptionFilter")),
    *(f"str.{n}" for n in ("toUpper", "toLower", "toReplace", "normalize")),
    *(f"math.{n}" for n in ("roundNum", "minVal", "maxVal", "randomDouble", "randomWithinRange")),
    *(f"http.{n}" for n in ("copyHeaders", "addResponseHeader", "addResponseHeaders")),
)


def _resolve(obj: Any, dotted: str) -> Callable[..., Any]:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    assert callable(obj)
    return obj


class Invocation:
    """What the engine's `__py` callback dispatches to while one resolver half runs; keeps the first error."""

    def __init__(self, ctx: ResolverContext) -> None:
        self.ctx = ctx
        self.util = JsUtil(ctx)
        self.error: GqlsyncError | None = None

    def call(self, name: str, args_json: str) -> str | None:
        """JSON text of the result ("" for undefined), or None after recording the error to raise."""
        try:
            args = loads(args_json)
            result = self._dispatch(name, args)
        except GqlsyncError as exc:
            self.error = exc
            return None
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            self.error = ResolverError(f"{name}(): {type(exc).__name__}: {exc}", "MappingTemplate")
            return None
        return "" if name in _VOID else dumps(result)

    def _dispatch(self, name: str, args: list[Any]) -> Any:
        prefix, _, rest = name.partition(".")
        if prefix == "ddb" and rest in BUILDERS:
            return BUILDERS[rest](*args)
        if prefix == "extensions" and rest in _EXTENSIONS:
            getattr(Extensions(self.ctx), rest)(*args)
            return None
        if prefix == "info" and rest in _INFO:
            return getattr(self.ctx.info, rest)
        if name == "log":
            level, message = args
            self.ctx.scope.log("error" if level == "error" else "info", str(message), self.ctx.where)
            return None
        if name == "names":
            return list(UTIL_NAMES)
        if name in _ALLOWED:
            return _resolve(self.util, name)(*args)
        raise ResolverError(f"util has no function {name}", "MappingTemplate")


_ALLOWED = frozenset(UTIL_NAMES)
_EXTENSIONS = frozenset({"setSubscriptionFilter", "setSubscriptionInvalidationFilter", "invalidateSubscriptions",
                         "evictFromApiCache"})
_INFO = frozenset({"variables", "selectionSetList", "selectionSetGraphQL"})
_VOID = frozenset({"appendError", "validate", "http.addResponseHeader", "http.addResponseHeaders", "log",
                   *(f"extensions.{n}" for n in _EXTENSIONS)})
