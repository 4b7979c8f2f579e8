"""Errors that cross stages (runtime, data source, engine) and carry AppSync's error fields."""

from __future__ import annotations

from typing import Any, Literal


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


#: How safe a failed data-source call is to try again (gqlsync.datasources.limits reads it):
#: "unsent" — it failed before the request left gqlsync (connection refused, DNS): safe for any call;
#: "rejected" — the backend refused it without acting on it (throttling): safe for any call;
#: "transient" — it may have reached the backend (timeout, reset connection, 5xx-like): safe only for reads.
RetryKind = Literal["unsent", "rejected", "transient"]


class DataSourceError(GqlsyncError):
    """A data source call failed: service error, timeout, endpoint down.

    `result` is what the response mapping code sees as `$ctx.result` beside `$ctx.error`
    (e.g. a transaction's cancellation reasons). `retry` says whether it may be retried (None: never, unless
    gqlsync.datasources.limits knows its errorType).
    """

    error_type = "DataSource"

    def __init__(self, message: str, error_type: str | None = None, data: Any = None,
                 error_info: Any = None, result: Any = None, retry: RetryKind | None = None) -> None:
        super().__init__(message, error_type, data, error_info)
        self.result = result
        self.retry = retry


class RequestError(GqlsyncError):
    """A request-level failure (bad body, bad variables, limits) answered before execution."""

    error_type = "BadRequestException"

    def __init__(self, message: str, error_type: str | None = None, status: int = 400) -> None:
        super().__init__(message, error_type)
        self.status = status
