"""Errors that cross stages (runtime, data source, engine) and carry AppSync's error fields."""

from __future__ import annotations

from typing import Any


class GqlsyncError(Exception):
    """An error that becomes one AppSync-shaped GraphQL error (errorType, message, data, errorInfo)."""

    error_type: str = "InternalFailure"

    def __init__(self, message: str, error_type: str | None = None, data: Any = None,
                 error_info: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if error_type is not None:
            self.error_type = error_type
        self.data = data
        self.error_info = error_info


class ResolverError(GqlsyncError):
    """Raised by mapping code: $util.error, $util.unauthorized, a template that fails."""

    error_type = "MappingTemplate"


class UnauthorizedError(ResolverError):
    """A field the caller may not read or write."""

    error_type = "Unauthorized"


class DataSourceError(GqlsyncError):
    """A data source call failed: service error, timeout, endpoint down.

    `result` is what the response mapping code sees as `$ctx.result` beside `$ctx.error`
    (e.g. a transaction's cancellation reasons).
    """

    error_type = "DataSource"

    def __init__(self, message: str, error_type: str | None = None, data: Any = None,
                 error_info: Any = None, result: Any = None) -> None:
        super().__init__(message, error_type, data, error_info)
        self.result = result


class RequestError(GqlsyncError):
    """A request-level failure (bad body, bad variables, limits) answered before execution."""

    error_type = "BadRequestException"

    def __init__(self, message: str, error_type: str | None = None, status: int = 400) -> None:
        super().__init__(message, error_type)
        self.status = status
