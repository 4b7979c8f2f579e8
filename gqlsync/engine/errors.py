"""GraphQL errors in AppSync's shape: path, data, errorType, errorInfo, locations, message."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from gqlsync.errors import GqlsyncError

log = logging.getLogger("gqlsync.engine")


def _locations(err: GraphQLError) -> list[dict[str, Any]] | None:
    if not err.locations:
        return None
    return [{"line": loc.line, "column": loc.column, "sourceName": None} for loc in err.locations]


def appsync_error(message: str, error_type: str | None, *, path: Any = None, locations: Any = None,
                  data: Any = None, error_info: Any = None) -> dict[str, Any]:
    return {"path": path, "data": data, "errorType": error_type, "errorInfo": error_info,
            "locations": locations, "message": message}


def format_error(err: GraphQLError, request_id: str | None = None) -> dict[str, Any]:
    """An execution or validation error as AppSync writes it."""
    orig = err.original_error
    path = list(err.path) if err.path is not None else None
    if isinstance(orig, GqlsyncError):
        return appsync_error(orig.message, orig.error_type, path=path, locations=_locations(err),
                             data=orig.data, error_info=orig.error_info)
    if isinstance(orig, TypeError) and "non-nullable" in str(orig):
        return appsync_error(str(orig), "NullValueInNonNullableField", path=path, locations=_locations(err))
    if orig is not None and not isinstance(orig, GraphQLError):
        log.error("resolver raised an unexpected exception", exc_info=orig,
                  extra={"request_id": request_id, "path": path})
        return appsync_error("An internal failure occurred while resolving this field.", "InternalFailure",
                             path=path, locations=_locations(err))
    if path is not None:
        kind = "NullValueInNonNullableField" if "non-nullable" in err.message else "DataFetchingException"
        return appsync_error(err.message, kind, path=path, locations=_locations(err))
    return appsync_error(err.message, "ValidationError", path=None, locations=_locations(err))


def format_syntax_error(err: GraphQLError) -> dict[str, Any]:
    return appsync_error(err.message, "InvalidSyntax", locations=_locations(err))
