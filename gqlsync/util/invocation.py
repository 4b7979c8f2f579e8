"""Helpers that act on the invocation's request: log lines, response headers and the auth type name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gqlsync.util.values import Stringify

if TYPE_CHECKING:
    from gqlsync.runtimes.context import ResolverContext

#: Request headers `util.http.copyHeaders` leaves out.
UNCOPIED_HEADERS = frozenset({"authorization", "x-api-key", "host", "content-length", "connection",
                              "x-amz-security-token"})

AUTH_TYPE_NAMES = {
    "API_KEY": "API Key Authorization",
    "AWS_IAM": "IAM Authorization",
    "AMAZON_COGNITO_USER_POOLS": "User Pool Authorization",
    "OPENID_CONNECT": "Open ID Connect Authorization",
    "AWS_LAMBDA": "Lambda Authorization",
}


def log_message(args: Sequence[Any], stringify: Stringify = str) -> str:
    """`"a {} b", x` fills each {} with the next argument; otherwise the arguments joined by spaces."""
    if args and isinstance(args[0], str) and "{}" in args[0]:
        message = args[0]
        for a in args[1:]:
            message = message.replace("{}", stringify(a), 1)
        return message
    return " ".join(stringify(a) for a in args)


def auth_type_name(auth_type: str) -> str:
    """`util.authType()`: "API Key Authorization" and so on (unknown types as they are)."""
    return AUTH_TYPE_NAMES.get(auth_type, auth_type)


def copy_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (headers or {}).items() if k.lower() not in UNCOPIED_HEADERS}


class LogUtil:
    """The `util.log` family: lines in the request's log, tagged with the resolver."""

    def __init__(self, ctx: ResolverContext, stringify: Stringify = str) -> None:
        self._ctx = ctx
        self._stringify = stringify

    def _emit(self, level: str, args: tuple[Any, ...]) -> str:
        self._ctx.scope.log(level, log_message(args, self._stringify), self._ctx.where)
        return ""

    def info(self, *args: Any) -> str:
        return self._emit("info", args)

    def error(self, *args: Any) -> str:
        return self._emit("error", args)


class HttpUtil:
    """The `util.http` family."""

    def __init__(self, ctx: ResolverContext, stringify: Stringify = str) -> None:
        self._ctx = ctx
        self._stringify = stringify

    def copyHeaders(self, headers: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - AppSync names
        return copy_headers(headers)

    def addResponseHeader(self, name: str, value: Any) -> str:  # noqa: N802
        self._ctx.scope.response_headers[str(name)] = self._stringify(value)
        return ""

    def addResponseHeaders(self, headers: dict[str, Any]) -> str:  # noqa: N802
        for k, v in (headers or {}).items():
            self.addResponseHeader(k, v)
        return ""
