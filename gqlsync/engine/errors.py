"""GraphQL errors in AppSync's shape: path, data, errorType, errorInfo, locations, message."""

from __future__ import annotations

import logging
from typing import Any

from graphql import FieldNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode, SelectionSetNode

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


def selected(data: Any, selection_set: SelectionSetNode | None, fragments: dict[str, Any]) -> Any:
    """`data` keeping only the fields the selection set asks for, at every level (lists element by element).
    AppSync filters an error's `data` this way (`errorInfo` is left as it is)."""
    if selection_set is None or data is None:
        return data
    if isinstance(data, list):
        return [selected(x, selection_set, fragments) for x in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}

    def walk(sel_set: SelectionSetNode) -> None:
        for sel in sel_set.selections:
            if isinstance(sel, FieldNode):
                name = sel.name.value
                if name in data:
                    value = selected(data[name], sel.selection_set, fragments)
                    previous = out.get(name)
                    out[name] = {**previous, **value} if isinstance(previous, dict) and isinstance(value, dict) \
                        else value
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                walk(fragments[sel.name.value].selection_set)

    walk(selection_set)
    return out


def format_error(err: GraphQLError, request_id: str | None = None,
                 fragments: dict[str, Any] | None = None) -> dict[str, Any]:
    """An execution or validation error as AppSync writes it (a resolver error's `data` filtered by the
    field's selection set, given the document's `fragments`)."""
    orig = err.original_error
    path = list(err.path) if err.path is not None else None
    if isinstance(orig, GqlsyncError):
        data = orig.data
        node = err.nodes[0] if err.nodes else None
        if isinstance(node, FieldNode) and node.selection_set is not None:
            data = selected(data, node.selection_set, fragments or {})
        return appsync_error(orig.message, orig.error_type, path=path, locations=_locations(err),
                             data=data, error_info=orig.error_info)
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
