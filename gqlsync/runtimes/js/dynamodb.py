"""`@aws-appsync/utils/dynamodb`'s builders: plain inputs to the DynamoDB request documents the data source takes."""

from __future__ import annotations

from typing import Any

from gqlsync.errors import ResolverError
from gqlsync.util.dynamodb import to_attribute, to_item
from gqlsync.util.transform import _ExpressionBuilder

#: The version of the documents the builders write: a data-source error reaches the response handler as ctx.error.
VERSION = "2018-05-29"

#: Key-condition operators a `query` accepts (DynamoDB's KeyConditionExpression subset).
_KEY_OPS = {"eq": "=", "le": "<=", "lt": "<", "ge": ">=", "gt": ">"}

#: The marker the JS `operations` helpers put on their objects.
OP = "__gqlsyncOp"


def _fail(message: str) -> ResolverError:
    return ResolverError(message, "MappingTemplate")


def _need(payload: Any, field: str, builder: str) -> Any:
    if not isinstance(payload, dict) or payload.get(field) is None:
        raise _fail(f"ddb.{builder} needs a `{field}`")
    return payload[field]


def _expression(builder: _ExpressionBuilder, spec: Any) -> dict[str, Any] | None:
    """A condition/filter object (`{price: {gt: 5}, or: [...]}`) as an expression document, or None if empty."""
    if not spec:
        return None
    try:
        text = builder.group(spec)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if not text:
        return None
    return _finish(builder, text)


def _finish(builder: _ExpressionBuilder, text: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"expression": text}
    if builder.names:
        doc["expressionNames"] = dict(builder.names)
    if builder.values:
        doc["expressionValues"] = dict(builder.values)
    return doc


def _projection(fields: Any) -> dict[str, Any] | None:
    if not fields:
        return None
    builder = _ExpressionBuilder()
    return {"expression": ", ".join(builder.name(str(f)) for f in fields), "expressionNames": builder.names}


def _common(doc: dict[str, Any], payload: dict[str, Any], *fields: str) -> dict[str, Any]:
    for field in fields:
        if payload.get(field) is not None:
            doc[field] = payload[field]
    return doc


def get(payload: Any) -> dict[str, Any]:
    doc = {"version": VERSION, "operation": "GetItem", "key": to_item(_need(payload, "key", "get"))}
    _common(doc, payload, "consistentRead")
    if (proj := _projection(payload.get("projection"))) is not None:
        doc["projection"] = proj
    return doc


def _with_condition(doc: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    cond = _expression(_ExpressionBuilder(), payload.get("condition"))
    if cond is not None:
        doc["condition"] = cond
    return _common(doc, payload, "_version")


def put(payload: Any) -> dict[str, Any]:
    key = _need(payload, "key", "put")
    item = {k: v for k, v in (payload.get("item") or {}).items() if k not in key}
    doc = {"version": VERSION, "operation": "PutItem", "key": to_item(key), "attributeValues": to_item(item)}
    return _with_condition(doc, payload)


def remove(payload: Any) -> dict[str, Any]:
    doc = {"version": VERSION, "operation": "DeleteItem", "key": to_item(_need(payload, "key", "remove"))}
    return _with_condition(doc, payload)


def _update_expression(spec: Any) -> dict[str, Any]:
    """`{name: 'x', count: operations.increment(1), tags: operations.add([...]), old: operations.remove()}`."""
    if not isinstance(spec, dict) or not spec:
        raise _fail("ddb.update needs an `update` object of attribute values and operations")
    b = _ExpressionBuilder()
    sets: list[str] = []
    adds: list[str] = []
    removes: list[str] = []
    deletes: list[str] = []
    for field, value in spec.items():
        n = b.name(field)
        kind = value.get(OP) if isinstance(value, dict) else None
        arg = value.get("value") if kind else value
        if kind is None or kind == "replace":
            sets.append(f"{n} = {b.value(field, arg)}")
        elif kind == "remove":
            removes.append(n)
        elif kind == "add":
            adds.append(f"{n} {b.value(field + '_add', set(arg) if isinstance(arg, list) else arg)}")
        elif kind == "delete":
            deletes.append(f"{n} {b.value(field + '_delete', set(arg) if isinstance(arg, list) else arg)}")
        elif kind in ("increment", "decrement"):
            by = arg if kind == "increment" else -arg
            adds.append(f"{n} {b.value(field + '_' + kind, by)}")
        elif kind in ("append", "prepend"):
            items, empty = b.value(field + "_" + kind, list(arg or [])), b.value(field + "_empty", [])
            current = f"if_not_exists({n}, {empty})"
            sets.append(f"{n} = list_append({current}, {items})" if kind == "append"
                        else f"{n} = list_append({items}, {current})")
        elif kind == "updateListItem":
            sets.append(f"{n}[{int(value.get('index') or 0)}] = {b.value(field + '_item', arg)}")
        else:
            raise _fail(f"unknown update operation {kind!r} on {field!r}")
    clauses = [f"{verb} {', '.join(parts)}" for verb, parts in
               (("SET", sets), ("ADD", adds), ("REMOVE", removes), ("DELETE", deletes)) if parts]
    return _finish(b, " ".join(clauses))


def update(payload: Any) -> dict[str, Any]:
    doc = {"version": VERSION, "operation": "UpdateItem", "key": to_item(_need(payload, "key", "update")),
           "update": _update_expression(_need(payload, "update", "update"))}
    return _with_condition(doc, payload)


def _key_condition(b: _ExpressionBuilder, spec: Any) -> str:
    if not isinstance(spec, dict) or not spec:
        raise _fail("ddb.query needs a `query` object: {partitionKey: {eq: value}, sortKey: {beginsWith: ...}}")
    parts = []
    for field, cond in spec.items():
        if not isinstance(cond, dict):
            cond = {"eq": cond}
        n = b.name(field)
        for op, arg in cond.items():
            if op in _KEY_OPS:
                parts.append(f"{n} {_KEY_OPS[op]} {b.value(f'{field}_{op}', arg)}")
            elif op == "beginsWith":
                parts.append(f"begins_with({n}, {b.value(f'{field}_beginsWith', arg)})")
            elif op == "between":
                if not isinstance(arg, list) or len(arg) != 2:
                    raise _fail(f"between on {field!r} takes a list of two values")
                lo, hi = b.value(f"{field}_between_0", arg[0]), b.value(f"{field}_between_1", arg[1])
                parts.append(f"{n} BETWEEN {lo} AND {hi}")
            else:
                raise _fail(f"unsupported key condition {op!r} on {field!r}")
    return " AND ".join(parts)


def _reads(doc: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    flt = _expression(_ExpressionBuilder(), payload.get("filter"))
    if flt is not None:
        doc["filter"] = flt
    if (proj := _projection(payload.get("projection"))) is not None:
        doc["projection"] = proj
    return _common(doc, payload, "index", "limit", "nextToken", "consistentRead", "select", "segment",
                   "totalSegments")


def query(payload: Any) -> dict[str, Any]:
    b = _ExpressionBuilder()
    doc: dict[str, Any] = {"version": VERSION, "operation": "Query",
                           "query": _finish(b, _key_condition(b, _need(payload, "query", "query")))}
    if payload.get("scanIndexForward") is not None:
        doc["scanIndexForward"] = bool(payload["scanIndexForward"])
    return _reads(doc, payload)


def scan(payload: Any) -> dict[str, Any]:
    return _reads({"version": VERSION, "operation": "Scan"}, payload or {})


def sync(payload: Any) -> dict[str, Any]:
    payload = payload or {}
    doc: dict[str, Any] = {"version": VERSION, "operation": "Sync"}
    flt = _expression(_ExpressionBuilder(), payload.get("filter"))
    if flt is not None:
        doc["filter"] = flt
    return _common(doc, payload, "limit", "nextToken", "lastSync", "basePartitionKey", "deltaIndexName")


def batch_get(payload: Any) -> dict[str, Any]:
    tables = _need(payload, "tables", "batchGet")
    out: dict[str, Any] = {}
    for table, spec in tables.items():
        keys = spec if isinstance(spec, list) else spec.get("keys", [])
        entry: dict[str, Any] = {"keys": [to_item(k) for k in keys]}
        if isinstance(spec, dict):
            _common(entry, spec, "consistentRead")
            if (proj := _projection(spec.get("projection"))) is not None:
                entry["projection"] = proj
        out[table] = entry
    return {"version": VERSION, "operation": "BatchGetItem", "tables": out}


def batch_put(payload: Any) -> dict[str, Any]:
    tables = _need(payload, "tables", "batchPut")
    return {"version": VERSION, "operation": "BatchPutItem",
            "tables": {t: [to_item(i) for i in items] for t, items in tables.items()}}


def batch_delete(payload: Any) -> dict[str, Any]:
    tables = _need(payload, "tables", "batchDelete")
    return {"version": VERSION, "operation": "BatchDeleteItem",
            "tables": {t: [to_item(k) for k in keys] for t, keys in tables.items()}}


def transact_get(items: Any) -> dict[str, Any]:
    out = []
    for it in items or []:
        entry = {"table": it["table"], "key": to_item(it["key"])}
        if (proj := _projection(it.get("projection"))) is not None:
            entry["projection"] = proj
        out.append(entry)
    return {"version": VERSION, "operation": "TransactGetItems", "transactItems": out}


_TRANSACT_OPS = {"PutItem": "put", "UpdateItem": "update", "DeleteItem": "remove", "ConditionCheck": "check"}


def transact_write(items: Any) -> dict[str, Any]:
    out = []
    for it in items or []:
        op = it.get("operation")
        if op not in _TRANSACT_OPS:
            raise _fail(f"transactWrite items take operation PutItem, UpdateItem, DeleteItem or ConditionCheck, "
                        f"got {op!r}")
        if op == "PutItem":
            doc = put(it)
        elif op == "UpdateItem":
            doc = update(it)
        elif op == "DeleteItem":
            doc = remove(it)
        else:
            doc = _with_condition({"operation": "ConditionCheck", "key": to_item(_need(it, "key", "transactWrite"))},
                                  it)
        doc.pop("version", None)
        doc["table"] = it.get("table")
        out.append(doc)
    return {"version": VERSION, "operation": "TransactWriteItems", "transactItems": out}


BUILDERS = {"get": get, "put": put, "update": update, "remove": remove, "query": query, "scan": scan, "sync": sync,
            "batchGet": batch_get, "batchPut": batch_put, "batchDelete": batch_delete, "transactGet": transact_get,
            "transactWrite": transact_write}

__all__ = ["BUILDERS", "to_attribute"]
