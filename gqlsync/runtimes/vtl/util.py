"""`$util`: AppSync's core helpers plus the str, math, list, map, http and log families."""

from __future__ import annotations

import base64
import json
import math
import os
import random
import re
import secrets
import time
import unicodedata
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from ulid import ULID

from gqlsync.errors import ResolverError, UnauthorizedError
from gqlsync.runtimes.context import ResolverContext
from gqlsync.runtimes.vtl.util_dynamodb import DynamoDBUtil
from gqlsync.runtimes.vtl.util_time import TimeUtil
from gqlsync.runtimes.vtl.util_transform import TransformUtil
from gqlsync.runtimes.vtl.velocity import dumps, is_number, java_str

_KSUID_EPOCH = 1400000000
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _ksuid() -> str:
    payload = int(time.time() - _KSUID_EPOCH).to_bytes(4, "big") + os.urandom(16)
    n = int.from_bytes(payload, "big")
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out.rjust(27, "0")


class StrUtil:
    def toUpper(self, s: str) -> str:  # noqa: N802 - AppSync names
        return s.upper()

    def toLower(self, s: str) -> str:  # noqa: N802
        return s.lower()

    def toReplace(self, s: str, find: str, repl: str) -> str:  # noqa: N802
        return s.replace(find, repl)

    def normalize(self, s: str, form: str) -> str:
        forms: dict[str, Literal["NFC", "NFD", "NFKC", "NFKD"]] = {
            "NFC": "NFC", "NFD": "NFD", "NFKC": "NFKC", "NFKD": "NFKD"}
        if form.upper() not in forms:
            raise ValueError(f"unknown normalization form {form!r}")
        return unicodedata.normalize(forms[form.upper()], s)


class MathUtil:
    def roundNum(self, x: float) -> int:  # noqa: N802
        return math.floor(x + 0.5)

    def minVal(self, a: float, b: float) -> float:  # noqa: N802
        return min(a, b)

    def maxVal(self, a: float, b: float) -> float:  # noqa: N802
        return max(a, b)

    def randomDouble(self) -> float:  # noqa: N802
        return random.random()

    def randomWithinRange(self, lo: int, hi: int) -> int:  # noqa: N802
        return random.randint(int(lo), int(hi))


class ListUtil:
    def copyAndRetainAll(self, lst: list[Any], keep: list[Any]) -> list[Any]:  # noqa: N802
        return [x for x in lst if x in keep]

    def copyAndRemoveAll(self, lst: list[Any], drop: list[Any]) -> list[Any]:  # noqa: N802
        return [x for x in lst if x not in drop]

    def sortList(self, lst: list[Any], descending: bool = False, prop: str = "") -> list[Any]:  # noqa: N802
        if len(lst) > 1000:
            return list(lst)  # AppSync returns the list unsorted above 1000 entries

        def key(x: Any) -> Any:
            v = x.get(prop) if prop and isinstance(x, Mapping) else x
            return (v is None, v if is_number(v) else java_str(v)) if not is_number(v) else (False, v)

        try:
            return sorted(lst, key=key, reverse=bool(descending))
        except TypeError:
            return sorted(lst, key=lambda x: java_str(x), reverse=bool(descending))


class MapUtil:
    def copyAndRetainAllKeys(self, m: dict[str, Any], keys: list[str]) -> dict[str, Any]:  # noqa: N802
        return {k: v for k, v in m.items() if k in keys}

    def copyAndRemoveAllKeys(self, m: dict[str, Any], keys: list[str]) -> dict[str, Any]:  # noqa: N802
        return {k: v for k, v in m.items() if k not in keys}


class LogUtil:
    def __init__(self, ctx: ResolverContext) -> None:
        self._ctx = ctx

    def _emit(self, level: str, args: tuple[Any, ...]) -> str:
        if args and isinstance(args[0], str) and "{}" in args[0]:
            message = args[0]
            for a in args[1:]:
                message = message.replace("{}", java_str(a), 1)
        else:
            message = " ".join(java_str(a) for a in args)
        self._ctx.scope.log(level, message, self._ctx.where)
        return ""

    def info(self, *args: Any) -> str:
        return self._emit("info", args)

    def error(self, *args: Any) -> str:
        return self._emit("error", args)


class HttpUtil:
    def __init__(self, ctx: ResolverContext) -> None:
        self._ctx = ctx

    def copyHeaders(self, headers: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        skip = {"authorization", "x-api-key", "host", "content-length", "connection", "x-amz-security-token"}
        return {k: v for k, v in (headers or {}).items() if k.lower() not in skip}

    def addResponseHeader(self, name: str, value: Any) -> str:  # noqa: N802
        self._ctx.scope.response_headers[str(name)] = java_str(value)
        return ""

    def addResponseHeaders(self, headers: dict[str, Any]) -> str:  # noqa: N802
        for k, v in (headers or {}).items():
            self.addResponseHeader(k, v)
        return ""


class Util:
    """`$util` for one resolver invocation (errors, logs and unauthorized need the invocation)."""

    time = TimeUtil()
    dynamodb = DynamoDBUtil()
    transform = TransformUtil()
    math = MathUtil()

    def __init__(self, ctx: ResolverContext) -> None:
        self._ctx = ctx
        self.log = LogUtil(ctx)
        self.http = HttpUtil(ctx)

    # -- errors
    def error(self, message: Any = None, error_type: Any = None, data: Any = None, info: Any = None) -> None:
        raise ResolverError(java_str(message) if message is not None else "Error",
                            None if error_type is None else java_str(error_type), data, info)

    def appendError(self, message: Any = None, error_type: Any = None, data: Any = None,  # noqa: N802
                    info: Any = None) -> str:
        err = ResolverError(java_str(message) if message is not None else "Error",
                            None if error_type is None else java_str(error_type), data, info)
        self._ctx.out_errors.append({"message": err.message, "type": err.error_type, "data": data,
                                     "errorInfo": info})
        self._ctx.scope.appended_errors.append((err, self._ctx.path, self._ctx.info.locations()))
        return ""

    def unauthorized(self) -> None:
        info = self._ctx.info
        raise UnauthorizedError(f"Not Authorized to access {info.fieldName} on type {info.parentTypeName}")

    def validate(self, condition: Any, message: Any, error_type: Any = None, data: Any = None) -> str:
        if not condition:
            self.error(message, error_type if error_type is not None else "CustomTemplateException", data)
        return ""

    # -- silencing
    def qr(self, *args: Any) -> str:
        return ""

    def quiet(self, *args: Any) -> str:
        return ""

    # -- predicates
    def isNull(self, v: Any) -> bool:  # noqa: N802
        return v is None

    def isNullOrEmpty(self, v: Any) -> bool:  # noqa: N802
        return v is None or (hasattr(v, "__len__") and len(v) == 0)

    def isNullOrBlank(self, v: Any) -> bool:  # noqa: N802
        return v is None or (isinstance(v, str) and v.strip() == "")

    def defaultIfNull(self, v: Any, default: Any) -> Any:  # noqa: N802
        return default if v is None else v

    def defaultIfNullOrEmpty(self, v: Any, default: Any) -> Any:  # noqa: N802
        return default if self.isNullOrEmpty(v) else v

    def defaultIfNullOrBlank(self, v: Any, default: Any) -> Any:  # noqa: N802
        return default if self.isNullOrBlank(v) else v

    def isString(self, v: Any) -> bool:  # noqa: N802
        return isinstance(v, str)

    def isNumber(self, v: Any) -> bool:  # noqa: N802
        return is_number(v)

    def isBoolean(self, v: Any) -> bool:  # noqa: N802
        return isinstance(v, bool)

    def isList(self, v: Any) -> bool:  # noqa: N802
        return isinstance(v, (list, tuple))

    def isMap(self, v: Any) -> bool:  # noqa: N802
        return isinstance(v, Mapping)

    def typeOf(self, v: Any) -> str:  # noqa: N802
        if v is None:
            return "Null"
        if isinstance(v, bool):
            return "Boolean"
        if is_number(v):
            return "Number"
        if isinstance(v, str):
            return "String"
        if isinstance(v, Mapping):
            return "Map"
        if isinstance(v, (list, tuple)):
            return "List"
        return "Object"

    def matches(self, pattern: str, s: Any) -> bool:
        return s is not None and re.fullmatch(pattern, java_str(s)) is not None

    def authType(self) -> str:  # noqa: N802
        return {
            "API_KEY": "API Key Authorization",
            "AWS_IAM": "IAM Authorization",
            "AMAZON_COGNITO_USER_POOLS": "User Pool Authorization",
            "OPENID_CONNECT": "Open ID Connect Authorization",
            "AWS_LAMBDA": "Lambda Authorization",
        }.get(self._ctx.scope.auth_type, self._ctx.scope.auth_type)

    # -- JSON and encodings
    def toJson(self, v: Any) -> str:  # noqa: N802
        return dumps(v)

    def parseJson(self, text: Any) -> Any:  # noqa: N802
        if text is None:
            return None
        try:
            return json.loads(java_str(text))
        except json.JSONDecodeError as exc:
            raise ResolverError(f"Unable to parse JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                                "MappingTemplate") from None

    def escapeJavaScript(self, s: Any) -> str:  # noqa: N802
        text = java_str(s)
        out = []
        for ch in text:
            if ch in "\"'\\/":
                out.append("\\" + ch)
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\r":
                out.append("\\r")
            elif ch == "\t":
                out.append("\\t")
            elif ch == "\b":
                out.append("\\b")
            elif ch == "\f":
                out.append("\\f")
            elif ord(ch) < 32 or ord(ch) > 126:
                out.append(f"\\u{ord(ch):04X}")
            else:
                out.append(ch)
        return "".join(out)

    def urlEncode(self, s: Any) -> str:  # noqa: N802
        return urllib.parse.quote_plus(java_str(s), safe="*")

    def urlDecode(self, s: Any) -> str:  # noqa: N802
        return urllib.parse.unquote_plus(java_str(s))

    def base64Encode(self, s: Any) -> str:  # noqa: N802
        # A number or boolean is its Java string form ("5"), not bytes(5): five NUL bytes.
        data = bytes(s) if isinstance(s, (bytes, bytearray)) else java_str(s).encode()
        return base64.b64encode(data).decode()

    def base64Decode(self, s: Any) -> str:  # noqa: N802
        return base64.b64decode(java_str(s)).decode("utf-8", errors="replace")

    # -- identifiers
    def autoId(self) -> str:  # noqa: N802
        return str(uuid.uuid4())

    def autoUlid(self) -> str:  # noqa: N802
        return str(ULID())

    def autoKsuid(self) -> str:  # noqa: N802
        return _ksuid()

    def random(self) -> str:
        return secrets.token_hex(16)


# `$util.str`, `$util.list`, `$util.map`: set after the class so the names do not shadow the builtins
# inside its body.
for _name, _family in (("str", StrUtil()), ("list", ListUtil()), ("map", MapUtil())):
    setattr(Util, _name, _family)
