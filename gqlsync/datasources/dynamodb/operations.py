"""The DynamoDB operations AppSync defines (GetItem ... TransactWriteItems), each on one table's client."""

from __future__ import annotations

import asyncio
from typing import Any

from botocore.exceptions import ClientError

from gqlsync.datasources.dynamodb.errors import condition_failed, error_code, transaction_canceled
from gqlsync.datasources.dynamodb.expressions import Expressions, add_projection, projection_with_keys, with_condition
from gqlsync.datasources.dynamodb.marshal import decode_token, encode_token, key_id, plain, plain_item, wire_map
from gqlsync.errors import ResolverError

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
UNPROCESSED_RETRIES = 3


class TableOperations:
    """AppSync's DynamoDB operations against one table; `run` dispatches a request document by `operation`."""

    def __init__(self, table: str) -> None:
        self.table = table

    async def run(self, client: Any, request: dict[str, Any]) -> Any:
        op = request.get("operation")
        handler = getattr(self, f"_op_{op}", None) if isinstance(op, str) else None
        if handler is None:
            raise ResolverError(f"Unsupported DynamoDB operation {op!r}.", "MappingTemplate")
        return await handler(client, request)

    # -- single items
    async def _op_GetItem(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        expr = Expressions()
        params: dict[str, Any] = {"TableName": self.table, "Key": wire_map(need(req, "key")),
                                  "ConsistentRead": bool(req.get("consistentRead", False))}
        add_projection(req, expr, params)
        if expr.names:
            params["ExpressionAttributeNames"] = expr.names
        out = await client.get_item(**params)
        return plain_item(out.get("Item"))

    async def _op_PutItem(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        key = wire_map(need(req, "key"))
        item = {**wire_map(req.get("attributeValues")), **key}
        params: dict[str, Any] = {"TableName": self.table, "Item": item}
        cond = req.get("condition")
        try:
            await client.put_item(**with_condition(params, cond))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            current = await self._current(client, key, exc)
            if current is not None and equal_ignoring(current, item, (cond or {}).get("equalsIgnore")):
                return plain_item(current)
            raise condition_failed(current) from None
        return plain_item(item)

    async def _op_UpdateItem(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        key = wire_map(need(req, "key"))
        expr = Expressions()
        params: dict[str, Any] = {"TableName": self.table, "Key": key, "ReturnValues": "ALL_NEW",
                                  "UpdateExpression": expr.add(need(req, "update"), "update")}
        try:
            out = await client.update_item(**with_condition(params, req.get("condition"), expr))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            raise condition_failed(await self._current(client, key, exc)) from None
        return plain_item(out.get("Attributes"))

    async def _op_DeleteItem(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        key = wire_map(need(req, "key"))
        params: dict[str, Any] = {"TableName": self.table, "Key": key, "ReturnValues": "ALL_OLD"}
        try:
            out = await client.delete_item(**with_condition(params, req.get("condition")))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            raise condition_failed(await self._current(client, key, exc)) from None
        return plain_item(out.get("Attributes"))

    async def _current(self, client: Any, key: dict[str, Any], exc: ClientError) -> dict[str, Any] | None:
        item = exc.response.get("Item")
        if item:
            return dict(item)
        out = await client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        return out.get("Item")

    # -- reads of many
    async def _op_Query(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        expr = Expressions()
        params: dict[str, Any] = {"TableName": self.table,
                                  "KeyConditionExpression": expr.add(need(req, "query"), "query"),
                                  "ScanIndexForward": bool(req.get("scanIndexForward", True))}
        return await self._read_many(client.query, req, expr, params)

    async def _op_Scan(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        expr = Expressions()
        params: dict[str, Any] = {"TableName": self.table}
        if req.get("totalSegments") is not None:
            params["TotalSegments"] = int(req["totalSegments"])
            params["Segment"] = int(req.get("segment") or 0)
        return await self._read_many(client.scan, req, expr, params)

    async def _read_many(self, call: Any, req: dict[str, Any], expr: Expressions,
                         params: dict[str, Any]) -> dict[str, Any]:
        if req.get("index"):
            params["IndexName"] = str(req["index"])
        if req.get("consistentRead"):
            params["ConsistentRead"] = True
        filter_expr = expr.add(req.get("filter"), "filter")
        if filter_expr:
            params["FilterExpression"] = filter_expr
        add_projection(req, expr, params)
        select = req.get("select")
        if select:
            params["Select"] = str(select)
        limit = req.get("limit")
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise ResolverError(f"limit must be a positive integer, got {limit!r}", "MappingTemplate")
            params["Limit"] = limit
        if req.get("nextToken"):
            params["ExclusiveStartKey"] = decode_token(str(req["nextToken"]), self.table)
        out = await call(**expr.into(params))
        return {"items": [plain_item(i) for i in out.get("Items", [])],
                "nextToken": encode_token(out.get("LastEvaluatedKey"), self.table),
                "scannedCount": out.get("ScannedCount", 0)}

    # -- batches (across tables)
    async def _op_BatchGetItem(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        tables = batch_tables(req)
        data: dict[str, list[Any]] = {}
        unprocessed: dict[str, list[Any]] = {}
        for table, spec in tables.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("keys"), list):
                raise ResolverError(f"BatchGetItem table {table!r} needs a 'keys' list", "MappingTemplate")
            keys = [wire_map(k) for k in spec["keys"]]
            found: dict[str, dict[str, Any]] = {}
            left: list[dict[str, Any]] = []
            added: list[str] = []  # key attributes projected only to match items to keys, dropped afterwards
            projection: tuple[str, dict[str, str]] | None = None
            if spec.get("projection"):
                projection, added = projection_with_keys(spec["projection"], {n for k in keys for n in k})
            for i in range(0, len(keys), BATCH_GET_LIMIT):
                chunk = keys[i:i + BATCH_GET_LIMIT]
                request: dict[str, Any] = {"Keys": chunk, "ConsistentRead": bool(spec.get("consistentRead"))}
                if projection:
                    request["ProjectionExpression"] = projection[0]
                    if projection[1]:
                        request["ExpressionAttributeNames"] = projection[1]
                pending = {table: request}
                for attempt in range(UNPROCESSED_RETRIES + 1):
                    out = await client.batch_get_item(RequestItems=pending)
                    for item in out.get("Responses", {}).get(table, []):
                        found[key_id(item, chunk[0])] = item
                    pending = out.get("UnprocessedKeys") or {}
                    if not pending:
                        break
                    if attempt < UNPROCESSED_RETRIES:
                        await asyncio.sleep(0.05 * 2 ** attempt)
                if pending:
                    left.extend(pending.get(table, {}).get("Keys", []))
            for item in found.values():
                for name in added:
                    item.pop(name, None)
            data[table] = [plain_item(found.get(key_id(k, k))) for k in keys]
            unprocessed[table] = [plain_item(k) for k in left]
        return {"data": data, "unprocessedKeys": unprocessed}

    async def _op_BatchPutItem(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        return await self._batch_write(client, req, "PutRequest", "Item", "unprocessedItems")

    async def _op_BatchDeleteItem(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        return await self._batch_write(client, req, "DeleteRequest", "Key", "unprocessedKeys")

    async def _batch_write(self, client: Any, req: dict[str, Any], kind: str, field: str,
                           left_name: str) -> Any:
        data: dict[str, list[Any]] = {}
        unprocessed: dict[str, list[Any]] = {}
        for table, entries in batch_tables(req).items():
            if not isinstance(entries, list):
                raise ResolverError(f"Batch table {table!r} must map to a list", "MappingTemplate")
            wire = [wire_map(e) for e in entries]
            left: list[dict[str, Any]] = []
            for i in range(0, len(wire), BATCH_WRITE_LIMIT):
                pending: dict[str, Any] = {table: [{kind: {field: e}} for e in wire[i:i + BATCH_WRITE_LIMIT]]}
                for attempt in range(UNPROCESSED_RETRIES + 1):
                    out = await client.batch_write_item(RequestItems=pending)
                    pending = out.get("UnprocessedItems") or {}
                    if not pending:
                        break
                    if attempt < UNPROCESSED_RETRIES:
                        await asyncio.sleep(0.05 * 2 ** attempt)
                left.extend(r[kind][field] for r in pending.get(table, []))
            left_ids = {key_id(e, e) for e in left}
            data[table] = [plain_item(e) for e in wire if key_id(e, e) not in left_ids]
            unprocessed[table] = [plain_item(e) for e in left]
        return {"data": data, left_name: unprocessed}

    # -- transactions
    async def _op_TransactGetItems(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        items = req.get("transactItems")
        if not isinstance(items, list) or not items:
            raise ResolverError("TransactGetItems needs a non-empty 'transactItems' list", "MappingTemplate")
        wire = []
        for it in items:
            get: dict[str, Any] = {"TableName": need(it, "table"), "Key": wire_map(need(it, "key"))}
            if it.get("projection"):
                pexpr = Expressions()
                get["ProjectionExpression"] = pexpr.add(it["projection"], "projection")
                if pexpr.names:
                    get["ExpressionAttributeNames"] = pexpr.names
            wire.append({"Get": get})
        try:
            out = await client.transact_get_items(TransactItems=wire)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            raise transaction_canceled(exc, "items") from None
        return {"items": [plain_item(r.get("Item")) for r in out.get("Responses", [])],
                "cancellationReasons": None}

    async def _op_TransactWriteItems(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        items = req.get("transactItems")
        if not isinstance(items, list) or not items:
            raise ResolverError("TransactWriteItems needs a non-empty 'transactItems' list", "MappingTemplate")
        wire: list[dict[str, Any]] = []
        keys: list[Any] = []
        for it in items:
            op = it.get("operation")
            key = wire_map(need(it, "key"))
            keys.append(plain_item(key))
            expr = Expressions()
            entry: dict[str, Any] = {"TableName": need(it, "table")}
            cond = it.get("condition")
            if op == "PutItem":
                entry["Item"] = {**wire_map(it.get("attributeValues")), **key}
                name = "Put"
            elif op == "UpdateItem":
                entry["Key"] = key
                entry["UpdateExpression"] = expr.add(need(it, "update"), "update")
                name = "Update"
            elif op == "DeleteItem":
                entry["Key"] = key
                name = "Delete"
            elif op == "ConditionCheck":
                entry["Key"] = key
                if not cond:
                    raise ResolverError("A ConditionCheck needs a 'condition'", "MappingTemplate")
                name = "ConditionCheck"
            else:
                raise ResolverError(f"Unsupported transact operation {op!r}", "MappingTemplate")
            if cond:
                entry["ConditionExpression"] = expr.add(cond, "condition")
                if cond.get("returnValuesOnConditionCheckFailure", True):
                    entry["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            wire.append({name: expr.into(entry)})
        try:
            await client.transact_write_items(TransactItems=wire)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            raise transaction_canceled(exc, "keys") from None
        return {"keys": keys, "cancellationReasons": None}


def need(req: dict[str, Any], field: str) -> Any:
    if not isinstance(req, dict) or req.get(field) is None:
        raise ResolverError(f"Value for field '$[{field}]' not found.", "MappingTemplate")
    return req[field]


def batch_tables(req: dict[str, Any]) -> dict[str, Any]:
    tables = req.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise ResolverError("Batch operations need a non-empty 'tables' object", "MappingTemplate")
    return tables


def equal_ignoring(current: dict[str, Any], desired: dict[str, Any], ignore: Any) -> bool:
    skip = set(ignore or [])
    a = {k: v for k, v in current.items() if k not in skip}
    b = {k: v for k, v in desired.items() if k not in skip}
    return {k: plain(v) for k, v in a.items()} == {k: plain(v) for k, v in b.items()}
