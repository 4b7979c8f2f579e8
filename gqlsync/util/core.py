"""`UtilCore`: the top-level `util` object with AppSync's method names, for any runtime to expose or extend."""

from __future__ import annotations

import re
from functools import cached_property
from typing import TYPE_CHECKING, Any

from gqlsync.util import encoding, errors, ids, jsontext, values
from gqlsync.util.dynamodb import DynamoDBUtil
from gqlsync.util.families import ListUtil, MapUtil, MathUtil, StrUtil
from gqlsync.util.invocation import HttpUtil, LogUtil, auth_type_name
from gqlsync.util.time import TimeUtil
from gqlsync.util.values import Stringify

if TYPE_CHECKING:
    from gqlsync.runtimes.context import ResolverContext


class UtilCore:
    """`util` for one resolver invocation (errors, logs and unauthorized need the invocation).

    `stringify` is the runtime's toString: it turns error messages and types, log arguments, header
    values and the text arguments of the encoders into strings (VTL passes Java's). The `transform`
    family is left to each runtime, whose expressions are objects (`gqlsync.util.transform.TransformUtil`)
    or JSON text (VTL).
    """

    time = TimeUtil()
    dynamodb = DynamoDBUtil()
    math = MathUtil()

    def __init__(self, ctx: ResolverContext, stringify: Stringify = str) -> None:
        self._ctx = ctx
        self._text = stringify

    @cached_property
    def log(self) -> LogUtil:  # made on first use: most code never logs
        return LogUtil(self._ctx, self._text)

    @cached_property
    def http(self) -> HttpUtil:
        return HttpUtil(self._ctx, self._text)

    def _text_or_none(self, v: Any) -> str | None:
        return None if v is None else self._text(v)

    # -- errors
    def error(self, message: Any = None, error_type: Any = None, data: Any = None, info: Any = None) -> None:
        errors.error(self._text_or_none(message), self._text_or_none(error_type), data, info)

    def appendError(self, message: Any = None, error_type: Any = None, data: Any = None,  # noqa: N802
                    info: Any = None) -> str:
        errors.append_error(self._ctx, self._text_or_none(message), self._text_or_none(error_type), data, info)
        return ""

    def unauthorized(self) -> None:
        errors.unauthorized(self._ctx)

    def validate(self, condition: Any, message: Any, error_type: Any = None, data: Any = None) -> str:
        errors.validate(condition, self._text_or_none(message), self._text_or_none(error_type), data)
        return ""

    # -- predicates
    def isNull(self, v: Any) -> bool:  # noqa: N802
        return v is None

    def isNullOrEmpty(self, v: Any) -> bool:  # noqa: N802
        return values.is_null_or_empty(v)

    def isNullOrBlank(self, v: Any) -> bool:  # noqa: N802
        return values.is_null_or_blank(v)

    def defaultIfNull(self, v: Any, default: Any) -> Any:  # noqa: N802
        return default if v is None else v

    def defaultIfNullOrEmpty(self, v: Any, default: Any) -> Any:  # noqa: N802
        return default if values.is_null_or_empty(v) else v

    def defaultIfNullOrBlank(self, v: Any, default: Any) -> Any:  # noqa: N802
        return default if values.is_null_or_blank(v) else v

    def isString(self, v: Any) -> bool:  # noqa: N802
        return isinstance(v, str)

    def isNumber(self, v: Any) -> bool:  # noqa: N802
        return values.is_number(v)

    def isBoolean(self, v: Any) -> bool:  # noqa: N802
        return isinstance(v, bool)

    def isList(self, v: Any) -> bool:  # noqa: N802
        return values.is_list(v)

    def isMap(self, v: Any) -> bool:  # noqa: N802
        return values.is_map(v)

    def typeOf(self, v: Any) -> str:  # noqa: N802
        return values.type_of(v)

    def matches(self, pattern: str, s: Any) -> bool:
        return s is not None and re.fullmatch(pattern, self._text(s)) is not None

    def authType(self) -> str:  # noqa: N802
        return auth_type_name(self._ctx.scope.auth_type)

    # -- JSON and encodings
    def parseJson(self, text: Any) -> Any:  # noqa: N802
        return jsontext.parse_json(self._text_or_none(text))

    def escapeJavaScript(self, s: Any) -> str:  # noqa: N802
        return encoding.escape_javascript(self._text(s))

    def urlEncode(self, s: Any) -> str:  # noqa: N802
        return encoding.url_encode(self._text(s))

    def urlDecode(self, s: Any) -> str:  # noqa: N802
        return encoding.url_decode(self._text(s))

    def base64Encode(self, s: Any) -> str:  # noqa: N802
        # A number or boolean is its string form ("5"), not bytes(5): five NUL bytes.
        return encoding.base64_encode(s if isinstance(s, (bytes, bytearray)) else self._text(s))

    def base64Decode(self, s: Any) -> str:  # noqa: N802
        return encoding.base64_decode(self._text(s))

    # -- identifiers
    def autoId(self) -> str:  # noqa: N802
        return ids.auto_id()

    def autoUlid(self) -> str:  # noqa: N802
        return ids.auto_ulid()

    def autoKsuid(self) -> str:  # noqa: N802
        return ids.auto_ksuid()

    def random(self) -> str:
        return ids.random_hex()


# `util.str`, `util.list`, `util.map`: set after the class so the names do not shadow the builtins
# inside its body.
for _name, _family in (("str", StrUtil()), ("list", ListUtil()), ("map", MapUtil())):
    setattr(UtilCore, _name, _family)
