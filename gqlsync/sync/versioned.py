"""Versioned writes on a Delta Sync data source: version checks, conflict handling, soft deletes, change records.

Each PutItem/UpdateItem/DeleteItem reads the item (consistently), checks the request's `_version` against
the stored one, lets the resolver's conflict handler decide on a mismatch, computes the new image
(`_version` + 1, `_lastChangedAt` = now in epoch ms; a delete keeps the item with `_deleted: true` until
`baseTableTTL`), and writes it together with its change record in ONE DynamoDB transaction, guarded by
the version it read: no change is ever in one table and not the other. Should another writer get in
between the read and the write, the guard fails and the write is tried again on the new state.
"""

from __future__ import annotations

import asyncio
import copy
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from gqlsync.app.model import SyncConfig
from gqlsync.datasources.base import Call
from gqlsync.datasources.dynamodb.errors import condition_failed, error_code
from gqlsync.datasources.dynamodb.expressions import Expressions, all_of
from gqlsync.datasources.dynamodb.marshal import plain_item, wire_map
from gqlsync.datasources.dynamodb.update_expression import apply_update
from gqlsync.errors import DataSourceError, ResolverError
from gqlsync.lambda_runner import LocalFunction, load_handler
from gqlsync.sync import delta
from gqlsync.sync.config import TTL_ATTRIBUTE, DeltaSyncConfig
from gqlsync.sync.conflicts import LambdaConflictHandler, automerge, conflict_unhandled
from gqlsync.util.dynamodb import to_item

VERSION = "_version"
CHANGED_AT = "_lastChangedAt"
DELETED = "_deleted"
#: Set by the server only: a client's write of one is refused (UpdateItem) or dropped (PutItem's values).
METADATA = (VERSION, CHANGED_AT, DELETED, TTL_ATTRIBUTE)
#: How often a write is tried again when another writer changed the item between its read and its write
#: (with a short random pause that grows, so racing writers spread out).
RACE_RETRIES = 25

#: The default when a resolver has no syncConfig: AppSync's conflict detection is per resolver.
NO_SYNC = SyncConfig(conflict_detection="NONE")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _version_of(item: dict[str, Any] | None) -> int | None:
    if item is None or VERSION not in item:
        return None
    try:
        return int(str(item[VERSION].get("N")))
    except (TypeError, ValueError, AttributeError):
        return None


def _expected_version(request: dict[str, Any]) -> int | None:
    given = request.get(VERSION)
    if given is None:
        return None
    try:
        return int(given)
    except (TypeError, ValueError):
        raise ResolverError(f"_version must be an integer, got {given!r}", "MappingTemplate") from None


class VersionedTable:
    """The versioned operations of one table (the DynamoDB data source hands them over when `versioned`)."""

    def __init__(self, table: str, config: DeltaSyncConfig, root: Path, region: str | None = None,
                 clock: Callable[[], int] = _now_ms) -> None:
        self.table = table
        self.config = config
        self.root = root
        self.region = region
        self.clock = clock
        self._handlers: dict[tuple[str, float], LambdaConflictHandler] = {}

    def _handler(self, sync: SyncConfig) -> LambdaConflictHandler:
        """The resolver's Lambda conflict handler, loaded once (a handler that does not load is a ConflictError)."""
        cfg = sync.lambda_conflict_handler_config
        assert cfg is not None
        key = (cfg.handler, cfg.timeout_seconds)
        if key not in self._handlers:
            try:
                fn = load_handler(cfg.handler, self.root)
            except (ValueError, OSError, SyntaxError, ImportError) as exc:
                raise DataSourceError(f"The conflict handler {cfg.handler} does not load: {exc}",
                                      "ConflictError") from None
            self._handlers[key] = LambdaConflictHandler(LocalFunction("conflictHandler", fn, cfg.timeout_seconds))
        return self._handlers[key]

    async def write(self, client: Any, request: dict[str, Any], call: Call) -> Any:
        op = request.get("operation")
        sync = getattr(call.config, "sync", None)
        key_doc = request.get("key")
        if not isinstance(key_doc, dict) or not key_doc:
            raise ResolverError("Value for field '$[key]' not found.", "MappingTemplate")
        key = wire_map(key_doc)
        sync = sync or NO_SYNC
        expected = _expected_version(request)
        if expected is None and op in ("UpdateItem", "DeleteItem"):
            raise DataSourceError(f"{op} on versioned data source requires the _version to be provided.",
                                  "BadRequest")
        for attempt in range(RACE_RETRIES):
            if attempt:
                await asyncio.sleep(random.uniform(0, 0.005 * min(attempt, 8)))
            out = await client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
            current: dict[str, Any] | None = out.get("Item")
            new = await self._resolve(op, request, key, current, expected, sync, call)
            try:
                if new is None:  # a delete of what is not there: nothing to write, but its condition still holds
                    await self._check(client, key, request.get("condition"))
                    return None
                await self._commit(client, key, current, new, request.get("condition"))
            except _Raced:
                continue
            return plain_item(new)
        raise DataSourceError("Max retry attempts were reached for conflict resolution", "MaxConflicts")

    # -- deciding the new image
    async def _lambda(self, sync: SyncConfig, call: Call, op: str, new: dict[str, Any] | None,
                      current: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        where = call.where.split("/")[0]
        parent, _, field_name = where.partition(".")
        return await self._handler(sync).decide({
            "newItem": plain_item(new), "existingItem": plain_item(current), "arguments": call.arguments,
            "resolver": {"tableName": self.table, "awsRegion": self.region, "parentType": parent,
                         "field": field_name},
            "identity": call.identity}, op)

    async def _resolve(self, op: Any, request: dict[str, Any], key: dict[str, Any], current: dict[str, Any] | None,
                       expected: int | None, sync: SyncConfig, call: Call) -> dict[str, Any] | None:
        stored = _version_of(current)
        conflict = (sync.conflict_detection == "VERSION" and current is not None and expected is not None
                    and expected != stored)
        if op == "DeleteItem":
            if current is None:
                return None
            if conflict:
                if sync.conflict_handler != "LAMBDA":
                    raise conflict_unhandled(current)  # a delete cannot be merged
                action, _ = await self._lambda(sync, call, op, None, current)
                if action == "REJECT":
                    raise conflict_unhandled(current)
            image = copy.deepcopy(current)
            image[DELETED] = {"BOOL": True}
            image[TTL_ATTRIBUTE] = {"N": str(self.clock() // 1000 + self.config.base_table_ttl * 60)}
            return self._stamp(image, stored)
        if op == "PutItem":
            values = {k: v for k, v in (request.get("attributeValues") or {}).items() if k not in METADATA}
            incoming = {**wire_map(values), **key}
        elif op == "UpdateItem":
            update = request.get("update")
            if not isinstance(update, dict) or not isinstance(update.get("expression"), str):
                raise ResolverError("Value for field '$[update]' not found.", "MappingTemplate")
            expr = Expressions()
            text = expr.add(update, "update")
            assert text is not None
            touched = {expr.names.get(word, word) for word in re.findall(r"(?<![:\w])#?[A-Za-z_]\w*", text)}
            for name in METADATA:
                if name in touched:
                    raise DataSourceError(f"Updating {name} field can not be set from the client", "BadRequest")
            incoming = apply_update({**(current or {}), **key}, text, expr.names, expr.values)
        else:
            raise ResolverError(f"Unsupported versioned operation {op!r}", "MappingTemplate")
        if conflict:
            assert current is not None
            if sync.conflict_handler == "AUTOMERGE":
                incoming = automerge(current, incoming)
            elif sync.conflict_handler == "LAMBDA":
                action, item = await self._lambda(sync, call, str(op), incoming, current)
                if action == "REJECT":
                    raise conflict_unhandled(current)
                # "the primary key and sync metadata will be ignored if included in item"
                assert item is not None
                values = {k: v for k, v in item.items() if k not in METADATA and k not in key}
                incoming = {**wire_map(to_item(values)), **key}
            else:
                raise conflict_unhandled(current)
        return self._stamp(incoming, stored)

    def _stamp(self, image: dict[str, Any], stored: int | None) -> dict[str, Any]:
        image[VERSION] = {"N": str((stored or 0) + 1)}
        image[CHANGED_AT] = {"N": str(self.clock())}
        return image

    @staticmethod
    def _guarded(key: dict[str, Any], current: dict[str, Any] | None, user_condition: Any) -> tuple[Expressions, str]:
        """The condition a write runs under: the resolver's own (if any) AND "the item is still as it was read"
        (same `_version`; no `_version` yet; or not there at all)."""
        expr = Expressions()
        if current is None:
            names = {f"#gqlsyncK{i}": name for i, name in enumerate(sorted(key))}
            guard = {"expression": " AND ".join(f"attribute_not_exists({n})" for n in names),
                     "expressionNames": names}
        elif VERSION in current:
            guard = {"expression": "#gqlsyncV = :gqlsyncV", "expressionNames": {"#gqlsyncV": VERSION},
                     "expressionValues": {":gqlsyncV": current[VERSION]}}
        else:
            guard = {"expression": "attribute_not_exists(#gqlsyncV)", "expressionNames": {"#gqlsyncV": VERSION}}
        condition = expr.add(guard, "guard") or ""
        if user_condition:
            condition = all_of(expr.add(user_condition, "condition"), condition)
        return expr, condition

    async def _check(self, client: Any, key: dict[str, Any], user_condition: Any) -> None:
        """The resolver's condition on an item that is not there (e.g. Amplify's attribute_exists on a delete),
        checked by DynamoDB without writing; should the item appear meanwhile, the write is decided again."""
        if not user_condition:
            return
        expr, condition = self._guarded(key, None, user_condition)
        check = expr.into({"TableName": self.table, "Key": key, "ConditionExpression": condition,
                           "ReturnValuesOnConditionCheckFailure": "ALL_OLD"})
        await self._transact(client, [{"ConditionCheck": check}], None)

    # -- writing it with its change record
    async def _commit(self, client: Any, key: dict[str, Any], current: dict[str, Any] | None,
                      new: dict[str, Any], user_condition: Any) -> None:
        expr, condition = self._guarded(key, current, user_condition)
        put: dict[str, Any] = expr.into({"TableName": self.table, "Item": new, "ConditionExpression": condition,
                                         "ReturnValuesOnConditionCheckFailure": "ALL_OLD"})
        record = delta.record(self.table, new, key, int(new[CHANGED_AT]["N"]), _version_of(new) or 0,
                              self.config.delta_sync_table_ttl)
        await self._transact(client, [{"Put": put},
                                      {"Put": {"TableName": self.config.delta_sync_table_name, "Item": record}}],
                             current)

    @staticmethod
    async def _transact(client: Any, items: list[dict[str, Any]], current: dict[str, Any] | None) -> None:
        """Run the transaction; the first item's failed condition is a race (the item is no longer what was read:
        raises _Raced) or the resolver's own condition (ConditionalCheckFailed with the current item)."""
        try:
            await client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            first = reasons[0] if reasons else {}
            if first.get("Code") != "ConditionalCheckFailed":
                raise
            now = first.get("Item") or None
            if _version_of(now) != _version_of(current) or (now is None) != (current is None):
                raise _Raced from None  # someone else wrote in between: decide again on what is there now
            raise condition_failed(now) from None  # the resolver's own condition is false


class _Raced(Exception):  # noqa: N818 - control flow inside VersionedTable.write
    pass
