"""Raising and appending AppSync errors for one resolver invocation (`util.error`, `appendError`, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from gqlsync.errors import ResolverError, UnauthorizedError

if TYPE_CHECKING:
    from gqlsync.runtimes.context import ResolverContext

#: The errorType of a failed `util.validate` that names none.
VALIDATE_ERROR_TYPE = "CustomTemplateException"


def make_error(message: str | None = None, error_type: str | None = None, data: Any = None,
               info: Any = None) -> ResolverError:
    """The error `util.error` raises: message "Error" when none is given, errorType MappingTemplate."""
    return ResolverError("Error" if message is None else message, error_type, data, info)


def error(message: str | None = None, error_type: str | None = None, data: Any = None,
          info: Any = None) -> NoReturn:
    """`util.error`: stop the resolver with this error."""
    raise make_error(message, error_type, data, info)


def append_error(ctx: ResolverContext, message: str | None = None, error_type: str | None = None,
                 data: Any = None, info: Any = None) -> None:
    """`util.appendError`: record an error for the response (and `ctx.outErrors`) and carry on."""
    err = make_error(message, error_type, data, info)
    ctx.out_errors.append({"message": err.message, "type": err.error_type, "data": data, "errorInfo": info})
    ctx.scope.appended_errors.append((err, ctx.path, ctx.info.locations()))


def unauthorized(ctx: ResolverContext) -> NoReturn:
    """`util.unauthorized`: the caller may not resolve this field."""
    info = ctx.info
    raise UnauthorizedError(f"Not Authorized to access {info.fieldName} on type {info.parentTypeName}")


def validate(condition: Any, message: str | None, error_type: str | None = None, data: Any = None) -> None:
    """`util.validate`: `util.error` (errorType CustomTemplateException by default) when condition is falsy."""
    if not condition:
        error(message, VALIDATE_ERROR_TYPE if error_type is None else error_type, data)
