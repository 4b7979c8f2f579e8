"""Conflict handlers for versioned writes: reject (OPTIMISTIC_CONCURRENCY) or merge by AppSync's Automerge rules."""

from __future__ import annotations

import copy
from typing import Any

from gqlsync.datasources.dynamodb.marshal import plain_item
from gqlsync.errors import DataSourceError
from gqlsync.lambda_runner import LocalFunction

_SETS = ("SS", "NS", "BS")


def conflict_unhandled(server_item: dict[str, Any] | None) -> DataSourceError:
    """What AppSync answers when a conflict is rejected: the server item is `$ctx.result` (Amplify's response
    templates pass it to `$util.error` as the error's data) and the error's `data`; DataStore's conflict
    handler reads it."""
    item = plain_item(server_item)
    return DataSourceError("Conflict resolver rejects mutation.", "ConflictUnhandled", data=item, result=item)


def _is_null(av: Any) -> bool:
    return av is None or (isinstance(av, dict) and av.get("NULL") is True)


def _merge_value(server: Any, incoming: Any) -> Any:
    if _is_null(server):
        return copy.deepcopy(incoming)  # a new field, or one that is null on the server, is taken
    if _is_null(incoming):
        return server
    (s_kind, s_val), = server.items()
    (i_kind, i_val), = incoming.items()
    if s_kind == "L" and i_kind == "L":
        return {"L": [*s_val, *copy.deepcopy(i_val)]}  # lists: the incoming values appended, duplicates kept
    if s_kind == i_kind and s_kind in _SETS:
        return {s_kind: [*s_val, *(v for v in i_val if v not in s_val)]}  # sets: union
    if s_kind == "M" and i_kind == "M":
        return {"M": automerge(s_val, i_val)}  # maps: the same rules, property by property
    return server  # a scalar in conflict keeps the server's value


def automerge(server: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """AppSync's Automerge of two images (wire form): scalars keep the server's value, lists are concatenated,
    sets united, maps merged by the same rules; fields the server lacks (or holds null) are taken."""
    merged = copy.deepcopy(server)
    for name, value in incoming.items():
        if name in ("_version", "_lastChangedAt", "_deleted", "_ttl"):
            continue  # the metadata is the server's to set
        if name in server and value == server[name]:
            continue
        merged[name] = _merge_value(server.get(name), value)
    return merged


class LambdaConflictHandler:
    """conflictHandler LAMBDA: the app's handler (run by the local Lambda runner) decides a conflict.

    It gets `{newItem, existingItem, arguments, resolver: {tableName, awsRegion, parentType, field}, identity}`
    and answers `{"action": "RESOLVE", "item": {...}}` (PutItem/UpdateItem), `{"action": "REJECT"}` or
    `{"action": "REMOVE"}` (DeleteItem); anything else, or a handler that fails, is a `ConflictError`.
    """

    def __init__(self, function: LocalFunction) -> None:
        self.function = function

    async def decide(self, event: dict[str, Any], op: str) -> tuple[str, dict[str, Any] | None]:
        try:
            answer = await self.function.invoke(event)
        except DataSourceError as exc:
            raise DataSourceError(f"The conflict handler failed: {exc.message}", "ConflictError") from None
        action = answer.get("action") if isinstance(answer, dict) else None
        allowed = ("RESOLVE", "REJECT") if op != "DeleteItem" else ("REMOVE", "REJECT")
        if action not in allowed:
            raise DataSourceError(f"The conflict handler answered {answer!r}; for {op} it must answer action "
                                  f"{' or '.join(allowed)}", "ConflictError")
        item = answer.get("item") if action == "RESOLVE" else None
        if action == "RESOLVE" and not isinstance(item, dict):
            raise DataSourceError("The conflict handler resolved without an item", "ConflictError")
        return str(action), item
