"""The DynamoDB data source: AppSync's DynamoDB request documents run through one aioboto3 client."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gqlsync.app.model import DataSourceConfig
from gqlsync.datasources.clients import ClientProvider
from gqlsync.errors import DataSourceError, ResolverError

VERSIONS = ("2017-02-28", "2018-05-29")
BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
UNPROCESSED_RETRIES = 3


# --------------------------------------------------------------------------- value conversion

def _to_wire(av: Any) -> Any:
    """An AppSync typed value as botocore wants it: N as string, B as bytes."""
    if not isinstance(av, dict) or len(av) != 1:
        raise ResolverError(f"Invalid DynamoDB typed value: {json.dumps(av)[:200]}", "MappingTemplate")
    (kind, v), = av.items()
    if kind == "N":
        return {"N": _num_text(v)}
    if kind == "NS":
        return {"NS": [_num_text(x) for x in v]}
    if kind == "B":
        return {"B": _b64(v)}
    if kind == "BS":
        return {"BS": [_b64(x) for x in v]}
    if kind == "M":
        return {"M": {k: _to_wire(x) for k, x in (v or {}).items()}}
    if kind == "L":
        return {"L": [_to_wire(x) for x in (v or [])]}
    if kind in ("S", "BOOL", "NULL", "SS"):
        return {kind: v}
    raise ResolverError(f"Unknown DynamoDB type {kind!r}", "MappingTemplate")


def _num_text(v: Any) -> str:
    if isinstance(v, bool):
        raise ResolverError("A DynamoDB N value must be a number", "MappingTemplate")
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e16 else repr(v)
    return str(v)


def _b64(v: Any) -> str:
    """B values travel as base64 text on DynamoDB's JSON wire; check that they are."""
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode()
    try:
        base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ResolverError("A DynamoDB B value must be base64 text", "MappingTemplate") from None
    return str(v)


def _wire_map(m: dict[str, Any] | None) -> dict[str, Any]:
    return {k: _to_wire(v) for k, v in (m or {}).items()}


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def plain(av: dict[str, Any]) -> Any:
    """A botocore attribute value as plain JSON (what AppSync hands the response template)."""
    (kind, v), = av.items()
    if kind == "S":
        return v
    if kind == "N":
        return _number(v)
    if kind == "BOOL":
        return v
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: plain(x) for k, x in v.items()}
    if kind == "L":
        return [plain(x) for x in v]
    if kind == "SS":
        return list(v)
    if kind == "NS":
        return [_number(x) for x in v]
    if kind == "B":
        return v if isinstance(v, str) else base64.b64encode(v).decode()
    if kind == "BS":
        return [x if isinstance(x, str) else base64.b64encode(x).decode() for x in v]
    raise ValueError(kind)


def plain_item(item: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if item is None else {k: plain(v) for k, v in item.items()}


def _typed_json(av: Any) -> Any:
    """A wire value as JSON-safe data for tokens (bytes, should any appear, as tagged base64)."""
    if isinstance(av, bytes):
        return {"__b": base64.b64encode(av).decode()}
    if isinstance(av, dict):
        return {k: _typed_json(v) for k, v in av.items()}
    if isinstance(av, list):
        return [_typed_json(v) for v in av]
    return av


def _typed_wire(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"__b"}:
            return base64.b64decode(v["__b"])
        return {k: _typed_wire(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_typed_wire(x) for x in v]
    return v


def encode_token(last_key: dict[str, Any] | None, table: str) -> str | None:
    """An opaque nextToken for DynamoDB's LastEvaluatedKey."""
    if not last_key:
        return None
    body = json.dumps({"v": 1, "t": table, "k": _typed_json(last_key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_token(token: str, table: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = json.loads(raw)
        if not isinstance(body, dict) or body.get("v") != 1 or not isinstance(body.get("k"), dict):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise DataSourceError("Invalid pagination token given.", "DynamoDB:InvalidNextTokenException") from None
    if body.get("t") != table:
        raise DataSourceError("The pagination token belongs to another table.",
                              "DynamoDB:InvalidNextTokenException")
    return dict(_typed_wire(body["k"]))


# --------------------------------------------------------------------------- expressions

class _Expr:
    """Merges several AppSync expression documents into one set of names and values."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def add(self, doc: Any, what: str) -> str | None:
        if doc is None:
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("expression"), str):
            raise ResolverError(f"'{what}' must be an object with an 'expression' string", "MappingTemplate")
        for k, v in (doc.get("expressionNames") or {}).items():
            if self.names.get(k, v) != v:
                raise ResolverError(f"expression name {k} is defined twice with different values",
                                    "MappingTemplate")
            self.names[k] = v
        for k, v in (doc.get("expressionValues") or {}).items():
            wire = _to_wire(v)
            if self.values.get(k, wire) != wire:
                raise ResolverError(f"expression value {k} is defined twice with different values",
                                    "MappingTemplate")
            self.values[k] = wire
        return str(doc["expression"])

    def into(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.names:
            params["ExpressionAttributeNames"] = self.names
        if self.values:
            params["ExpressionAttributeValues"] = self.values
        return params


def _projection(req: dict[str, Any], expr: _Expr, params: dict[str, Any]) -> None:
    proj = req.get("projection")
    if proj:
        params["ProjectionExpression"] = expr.add(proj, "projection")


# --------------------------------------------------------------------------- the data source

class DynamoDBDataSource:
    """AMAZON_DYNAMODB: GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan, batch and transactions."""

    type = "AMAZON_DYNAMODB"

    def __init__(self, config: DataSourceConfig, clients: ClientProvider) -> None:
        self.name = config.name
        self.table = str(config.config["tableName"])
        self.region = config.config.get("region")
        self.endpoint = config.config.get("endpoint")
        self.versioned = bool(config.config.get("versioned", False))
        self._clients = clients

    async def _client(self) -> Any:
        return self._clients.dynamodb(self.region, self.endpoint)

    async def invoke(self, request: dict[str, Any]) -> Any:
        version = request.get("version")
        if version not in VERSIONS:
            raise ResolverError(f"Unsupported or missing template version {version!r}; use one of "
                                f"{', '.join(VERSIONS)}.", "MappingTemplate")
        op = request.get("operation")
        handler = getattr(self, f"_op_{op}", None) if isinstance(op, str) else None
        if handler is None:
            raise ResolverError(f"Unsupported DynamoDB operation {op!r}.", "MappingTemplate")
        client = await self._client()
        try:
            return await handler(client, request)
        except ClientError as exc:
            raise _client_error(exc) from None
        except BotoCoreError as exc:
            raise DataSourceError(f"DynamoDB is unreachable: {exc}", "DynamoDB:ServiceUnavailable") from None
        except (TimeoutError, OSError) as exc:
            raise DataSourceError(f"DynamoDB is unreachable: {exc}", "DynamoDB:ServiceUnavailable") from None

    # -- single items
    async def _op_GetItem(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        expr = _Expr()
        params: dict[str, Any] = {"TableName": self.table, "Key": _wire_map(_need(req, "key")),
                                  "ConsistentRead": bool(req.get("consistentRead", False))}
        _projection(req, expr, params)
        if expr.names:
            params["ExpressionAttributeNames"] = expr.names
        out = await client.get_item(**params)
        return plain_item(out.get("Item"))

    async def _op_PutItem(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        key = _wire_map(_need(req, "key"))
        item = {**_wire_map(req.get("attributeValues")), **key}
        params: dict[str, Any] = {"TableName": self.table, "Item": item}
        cond = req.get("condition")
        try:
            await client.put_item(**_with_condition(params, cond))
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            current = await self._current(client, key, exc)
            if current is not None and _equal_ignoring(current, item, (cond or {}).get("equalsIgnore")):
                return plain_item(current)
            raise _condition_failed(current) from None
        return plain_item(item)

    async def _op_UpdateItem(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        key = _wire_map(_need(req, "key"))
        expr = _Expr()
        params: dict[str, Any] = {"TableName": self.table, "Key": key, "ReturnValues": "ALL_NEW",
                                  "UpdateExpression": expr.add(_need(req, "update"), "update")}
        try:
            out = await client.update_item(**_with_condition(params, req.get("condition"), expr))
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            raise _condition_failed(await self._current(client, key, exc)) from None
        return plain_item(out.get("Attributes"))

    async def _op_DeleteItem(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        key = _wire_map(_need(req, "key"))
        params: dict[str, Any] = {"TableName": self.table, "Key": key, "ReturnValues": "ALL_OLD"}
        try:
            out = await client.delete_item(**_with_condition(params, req.get("condition")))
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            raise _condition_failed(await self._current(client, key, exc)) from None
        return plain_item(out.get("Attributes"))

    async def _current(self, client: Any, key: dict[str, Any], exc: ClientError) -> dict[str, Any] | None:
        item = exc.response.get("Item")
        if item:
            return dict(item)
        out = await client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        return out.get("Item")

    # -- reads of many
    async def _op_Query(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        expr = _Expr()
        params: dict[str, Any] = {"TableName": self.table,
                                  "KeyConditionExpression": expr.add(_need(req, "query"), "query"),
                                  "ScanIndexForward": bool(req.get("scanIndexForward", True))}
        return await self._read_many(client.query, req, expr, params)

    async def _op_Scan(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        expr = _Expr()
        params: dict[str, Any] = {"TableName": self.table}
        if req.get("totalSegments") is not None:
            params["TotalSegments"] = int(req["totalSegments"])
            params["Segment"] = int(req.get("segment") or 0)
        return await self._read_many(client.scan, req, expr, params)

    async def _read_many(self, call: Any, req: dict[str, Any], expr: _Expr,
                         params: dict[str, Any]) -> dict[str, Any]:
        if req.get("index"):
            params["IndexName"] = str(req["index"])
        if req.get("consistentRead"):
            params["ConsistentRead"] = True
        filter_expr = expr.add(req.get("filter"), "filter")
        if filter_expr:
            params["FilterExpression"] = filter_expr
        _projection(req, expr, params)
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
        tables = _tables(req)
        data: dict[str, list[Any]] = {}
        unprocessed: dict[str, list[Any]] = {}
        for table, spec in tables.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("keys"), list):
                raise ResolverError(f"BatchGetItem table {table!r} needs a 'keys' list", "MappingTemplate")
            keys = [_wire_map(k) for k in spec["keys"]]
            found: dict[str, dict[str, Any]] = {}
            left: list[dict[str, Any]] = []
            added: list[str] = []  # key attributes projected only to match items to keys, dropped afterwards
            projection: tuple[str, dict[str, str]] | None = None
            if spec.get("projection"):
                projection, added = _projection_with_keys(spec["projection"], {n for k in keys for n in k})
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
                        found[_key_id(item, chunk[0])] = item
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
            data[table] = [plain_item(found.get(_key_id(k, k))) for k in keys]
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
        for table, entries in _tables(req).items():
            if not isinstance(entries, list):
                raise ResolverError(f"Batch table {table!r} must map to a list", "MappingTemplate")
            wire = [_wire_map(e) for e in entries]
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
            left_ids = {_key_id(e, e) for e in left}
            data[table] = [plain_item(e) for e in wire if _key_id(e, e) not in left_ids]
            unprocessed[table] = [plain_item(e) for e in left]
        return {"data": data, left_name: unprocessed}

    # -- transactions
    async def _op_TransactGetItems(self, client: Any, req: dict[str, Any]) -> Any:  # noqa: N802
        items = req.get("transactItems")
        if not isinstance(items, list) or not items:
            raise ResolverError("TransactGetItems needs a non-empty 'transactItems' list", "MappingTemplate")
        wire = []
        for it in items:
            get: dict[str, Any] = {"TableName": _need(it, "table"), "Key": _wire_map(_need(it, "key"))}
            if it.get("projection"):
                pexpr = _Expr()
                get["ProjectionExpression"] = pexpr.add(it["projection"], "projection")
                if pexpr.names:
                    get["ExpressionAttributeNames"] = pexpr.names
            wire.append({"Get": get})
        try:
            out = await client.transact_get_items(TransactItems=wire)
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise
            raise _transaction_canceled(exc, "items") from None
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
            key = _wire_map(_need(it, "key"))
            keys.append(plain_item(key))
            expr = _Expr()
            entry: dict[str, Any] = {"TableName": _need(it, "table")}
            cond = it.get("condition")
            if op == "PutItem":
                entry["Item"] = {**_wire_map(it.get("attributeValues")), **key}
                name = "Put"
            elif op == "UpdateItem":
                entry["Key"] = key
                entry["UpdateExpression"] = expr.add(_need(it, "update"), "update")
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
            if _code(exc) != "TransactionCanceledException":
                raise
            raise _transaction_canceled(exc, "keys") from None
        return {"keys": keys, "cancellationReasons": None}


# --------------------------------------------------------------------------- helpers

def _need(req: dict[str, Any], field: str) -> Any:
    if not isinstance(req, dict) or req.get(field) is None:
        raise ResolverError(f"Value for field '$[{field}]' not found.", "MappingTemplate")
    return req[field]


def _tables(req: dict[str, Any]) -> dict[str, Any]:
    tables = req.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise ResolverError("Batch operations need a non-empty 'tables' object", "MappingTemplate")
    return tables


def _projection_with_keys(doc: Any, key_names: set[str]) -> tuple[tuple[str, dict[str, str]], list[str]]:
    """A BatchGetItem projection that also fetches the key attributes (each through its own #gqlsyncK name), so
    returned items can be matched to the requested keys; and the key attributes the user's projection left out."""
    expr = _Expr()
    text = expr.add(doc, "projection") or ""
    names = dict(expr.names)
    projected = set()
    for path in text.split(","):
        top = re.split(r"[.\[]", path.strip(), maxsplit=1)[0].strip()
        projected.add(names.get(top, top) if top.startswith("#") else top)
    added = sorted(key_names - projected)
    extra = []
    n = 0
    for attr in added:
        while f"#gqlsyncK{n}" in names:
            n += 1
        names[f"#gqlsyncK{n}"] = attr
        extra.append(f"#gqlsyncK{n}")
    return (", ".join([text, *extra]) if extra else text, names), added


def _key_id(item: dict[str, Any], key: dict[str, Any]) -> str:
    return json.dumps({k: _typed_json(item.get(k)) for k in sorted(key)}, sort_keys=True)


def _with_condition(params: dict[str, Any], cond: Any, expr: _Expr | None = None) -> dict[str, Any]:
    """Add the condition (and ask for the current item should it fail); `expr` holds names/values already used."""
    expr = expr or _Expr()
    if cond:
        params["ConditionExpression"] = expr.add(cond, "condition")
        params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return expr.into(params)


def _equal_ignoring(current: dict[str, Any], desired: dict[str, Any], ignore: Any) -> bool:
    skip = set(ignore or [])
    a = {k: v for k, v in current.items() if k not in skip}
    b = {k: v for k, v in desired.items() if k not in skip}
    return {k: plain(v) for k, v in a.items()} == {k: plain(v) for k, v in b.items()}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")).split("#")[-1]


def _client_error(exc: ClientError) -> DataSourceError:
    code = _code(exc) or "UnknownError"
    message = exc.response.get("Error", {}).get("Message") or str(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return DataSourceError(f"{message} (Service: DynamoDb, Status Code: {status}, Error Code: {code})",
                           f"DynamoDB:{code}")


def _condition_failed(current: dict[str, Any] | None) -> DataSourceError:
    return DataSourceError("The conditional request failed (Service: DynamoDb, Status Code: 400, "
                           "Error Code: ConditionalCheckFailedException)",
                           "DynamoDB:ConditionalCheckFailedException", data=plain_item(current))


def _transaction_canceled(exc: ClientError, empty: str) -> DataSourceError:
    reasons = []
    for r in exc.response.get("CancellationReasons", []) or []:
        reason: dict[str, Any] = {"type": r.get("Code", "None"), "message": r.get("Message")}
        if r.get("Item"):
            reason["item"] = plain_item(r["Item"])
        reasons.append(reason)
    return DataSourceError("Transaction cancelled, please refer cancellation reasons for specific reasons",
                           "DynamoDB:TransactionCanceledException",
                           result={empty: None, "cancellationReasons": reasons})
