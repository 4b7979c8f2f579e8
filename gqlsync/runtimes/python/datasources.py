"""`datasources` of `resolve(ctx, datasources)`: typed helpers building AppSync's request documents, by data source."""

from __future__ import annotations

from typing import Any

from gqlsync.runtimes.base import DataSourceCall, DataSourceDirectory, DataSourceInfo
from gqlsync.util.dynamodb import to_item

__all__ = ["DataSource", "DataSources", "DynamoDB", "Expression", "Http", "Lambda", "Search"]

#: A DynamoDB expression: its text, or AppSync's {"expression", "expressionNames", "expressionValues"} with the
#: values as plain Python values (the helpers turn them into DynamoDB's typed values).
Expression = str | dict[str, Any]

DYNAMODB_VERSION = "2018-05-29"


class DataSource:
    """Any data source: `await ds.call(document)` sends a request document as AppSync defines it for its type."""

    def __init__(self, call: DataSourceCall, info: DataSourceInfo) -> None:
        self._call = call
        self.info = info

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def type(self) -> str:
        return self.info.type

    async def call(self, document: dict[str, Any]) -> Any:
        """The data source's result (DataSourceError when the call fails: catch it to decide yourself)."""
        if not isinstance(document, dict):
            raise TypeError(f"a request document is a dict, got {type(document).__name__}")
        return await self._call(document)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} data source {self.name} ({self.type})>"


def expression(spec: Expression | None, values: dict[str, Any] | None = None,
               names: dict[str, str] | None = None) -> dict[str, Any] | None:
    """AppSync's expression object with typed values, from text (+ `values`/`names`) or from the object."""
    if spec is None:
        return None
    doc: dict[str, Any] = {"expression": spec} if isinstance(spec, str) else dict(spec)
    if names:
        doc["expressionNames"] = {**doc.get("expressionNames", {}), **names}
    plain = {**(doc.get("expressionValues") or {}), **(values or {})}
    if plain:
        doc["expressionValues"] = to_item(plain)
    elif "expressionValues" in doc:
        del doc["expressionValues"]
    return doc


def _put_if(doc: dict[str, Any], **fields: Any) -> dict[str, Any]:
    doc.update({k: v for k, v in fields.items() if v is not None})
    return doc


class DynamoDB(DataSource):
    """An AMAZON_DYNAMODB data source. Keys, items and expression values are plain Python values; results are
    what the data source returns (plain items; `{"items", "nextToken", "scannedCount"}` for query and scan)."""

    @property
    def table(self) -> str:
        assert self.info.table is not None
        return self.info.table

    def _doc(self, operation: str, **fields: Any) -> dict[str, Any]:
        return _put_if({"version": DYNAMODB_VERSION, "operation": operation}, **fields)

    async def get_item(self, key: dict[str, Any], *, consistent_read: bool = False,
                       projection: list[str] | None = None) -> dict[str, Any] | None:
        proj = {"expression": ", ".join(projection)} if projection else None
        return await self.call(self._doc("GetItem", key=to_item(key), consistentRead=consistent_read or None,
                                         projection=proj))

    async def put_item(self, key: dict[str, Any], attribute_values: dict[str, Any] | None = None, *,
                       condition: Expression | None = None) -> dict[str, Any]:
        """The item written (key attributes included)."""
        return await self.call(self._doc("PutItem", key=to_item(key), attributeValues=to_item(attribute_values or {}),
                                         condition=expression(condition)))

    async def update_item(self, key: dict[str, Any], update: Expression, *, values: dict[str, Any] | None = None,
                          names: dict[str, str] | None = None,
                          condition: Expression | None = None) -> dict[str, Any]:
        """`update` is an update expression ("SET #n = :n"); `values`/`names` fill its placeholders."""
        return await self.call(self._doc("UpdateItem", key=to_item(key), update=expression(update, values, names),
                                         condition=expression(condition)))

    async def delete_item(self, key: dict[str, Any], *, condition: Expression | None = None) -> dict[str, Any] | None:
        """The item deleted (None if there was none)."""
        return await self.call(self._doc("DeleteItem", key=to_item(key), condition=expression(condition)))

    async def query(self, query: Expression, *, values: dict[str, Any] | None = None,
                    names: dict[str, str] | None = None, index: str | None = None, filter: Expression | None = None,
                    limit: int | None = None, next_token: str | None = None, scan_index_forward: bool = True,
                    consistent_read: bool = False, select: str | None = None) -> dict[str, Any]:
        """`query` is the key condition ("eventId = :e"); `values`/`names` fill its placeholders."""
        return await self.call(self._doc(
            "Query", query=expression(query, values, names), index=index, filter=expression(filter), limit=limit,
            nextToken=next_token or None, scanIndexForward=None if scan_index_forward else False,
            consistentRead=consistent_read or None, select=select))

    async def scan(self, *, filter: Expression | None = None, index: str | None = None, limit: int | None = None,
                   next_token: str | None = None, consistent_read: bool = False, segment: int | None = None,
                   total_segments: int | None = None, select: str | None = None) -> dict[str, Any]:
        return await self.call(self._doc(
            "Scan", filter=expression(filter), index=index, limit=limit, nextToken=next_token or None,
            consistentRead=consistent_read or None, segment=segment, totalSegments=total_segments, select=select))

    async def batch_get(self, keys: list[dict[str, Any]], *, consistent_read: bool = False,
                        projection: list[str] | None = None) -> list[dict[str, Any] | None]:
        """The items of `keys`, in their order (None where there is none). Keys DynamoDB left unprocessed after
        gqlsync's retries are not in the result: use `.call()` with a BatchGetItem document to see them."""
        spec = _put_if({"keys": [to_item(k) for k in keys]}, consistentRead=consistent_read or None,
                       projection={"expression": ", ".join(projection)} if projection else None)
        out = await self.call(self._doc("BatchGetItem", tables={self.table: spec}))
        found: list[dict[str, Any] | None] = out["data"][self.table]
        return found

    async def batch_put(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """`{"data": {table: [items]}, "unprocessedItems": {table: [...]}}` as AppSync returns it."""
        return await self.call(self._doc("BatchPutItem", tables={self.table: [to_item(i) for i in items]}))

    async def batch_delete(self, keys: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.call(self._doc("BatchDeleteItem", tables={self.table: [to_item(k) for k in keys]}))

    async def transact_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """The items of `keys` read in one transaction (items of other tables: `{"table", "key"}` entries)."""
        entries = [{"table": k["table"], "key": to_item(k["key"])} if set(k) == {"table", "key"}
                   else {"table": self.table, "key": to_item(k)} for k in keys]
        out = await self.call(self._doc("TransactGetItems", transactItems=entries))
        items: list[dict[str, Any] | None] = out["items"]
        return items

    async def transact_write(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Each item: `{"operation": "PutItem"|"UpdateItem"|"DeleteItem"|"ConditionCheck", "key": {...},
        "attributeValues": {...}, "update": ..., "condition": ..., "table": (default: this one)}` with plain
        values. Returns `{"keys", "cancellationReasons"}`; a cancelled transaction raises DataSourceError."""
        entries = []
        for it in items:
            entry = _put_if({"table": it.get("table", self.table), "operation": it["operation"],
                             "key": to_item(it["key"])},
                            attributeValues=to_item(it["attributeValues"]) if "attributeValues" in it else None,
                            update=expression(it.get("update"), it.get("values"), it.get("names")),
                            condition=expression(it.get("condition")))
            entries.append(entry)
        return await self.call(self._doc("TransactWriteItems", transactItems=entries))


class Lambda(DataSource):
    """An AWS_LAMBDA data source: `await fn.invoke(payload)` is the function's result."""

    async def invoke(self, payload: Any) -> Any:
        return await self.call({"version": "2018-05-29", "operation": "Invoke", "payload": payload})

    async def batch_invoke(self, payloads: list[Any]) -> Any:
        return await self.call({"version": "2018-05-29", "operation": "BatchInvoke", "payload": payloads})


class Search(DataSource):
    """An AMAZON_OPENSEARCH_SERVICE / AMAZON_ELASTICSEARCH data source: the cluster's JSON response."""

    async def request(self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> Any:
        params = _put_if({}, body=body, queryString=query, headers=headers)
        return await self.call({"version": "2017-02-28", "operation": method.upper(), "path": path, "params": params})

    async def search(self, index: str, body: dict[str, Any]) -> Any:
        """POST /index/_search."""
        return await self.request("POST", f"/{index}/_search", body)


class Http(DataSource):
    """An HTTP data source: `{"statusCode", "headers", "body"}` (body as text)."""

    async def request(self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> dict[str, Any]:
        params = _put_if({}, body=body, query=query, headers=headers)
        return await self.call({"version": "2018-05-29", "method": method.upper(), "resourcePath": path,
                                "params": params})

    async def get(self, path: str, *, query: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None) -> dict[str, Any]:
        return await self.request("GET", path, query=query, headers=headers)

    async def post(self, path: str, body: Any = None, *, query: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
        return await self.request("POST", path, body, query=query, headers=headers)


class NoneSource(DataSource):
    """A NONE data source: `await ds.call({"payload": x})`, or `await ds.echo(x)`, is `x`."""

    async def echo(self, payload: Any) -> Any:
        return await self.call({"version": "2018-05-29", "payload": payload})


_KINDS: dict[str, type[DataSource]] = {
    "AMAZON_DYNAMODB": DynamoDB, "AWS_LAMBDA": Lambda, "AMAZON_OPENSEARCH_SERVICE": Search,
    "AMAZON_ELASTICSEARCH": Search, "HTTP": Http, "NONE": NoneSource,
}


def handle(call: DataSourceCall, info: DataSourceInfo) -> DataSource:
    kind = _KINDS.get(info.type, DataSource)
    if kind is DynamoDB and info.table is None:
        kind = DataSource
    return kind(call, info)


class DataSources:
    """The app's data sources by name: `datasources.EventsTable`, `datasources["EventsTable"]`; `datasources.own`
    is the one the resolver's manifest entry names. Every call goes through gqlsync's metered data-source path
    (counted against the request's limit of data source calls)."""

    def __init__(self, call: DataSourceCall) -> None:
        self._directory = call if isinstance(call, DataSourceDirectory) else None
        info = self._directory.info if self._directory is not None else DataSourceInfo("own", "UNKNOWN")
        self.own = handle(call, info)
        self._handles: dict[str, DataSource] = {info.name: self.own}

    def names(self) -> list[str]:
        return self._directory.names() if self._directory is not None else [self.own.name]

    def __getitem__(self, name: str) -> DataSource:
        found = self._handles.get(name)
        if found is None:
            try:
                target = self._directory.to(name) if self._directory is not None else None
            except KeyError:
                target = None
            if target is None:
                raise KeyError(f"the app has no data source {name!r}; it has {', '.join(self.names())}") from None
            found = self._handles[name] = handle(target, target.info)
        return found

    def __getattr__(self, name: str) -> DataSource:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(exc.args[0]) from None

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __repr__(self) -> str:
        return f"<datasources {', '.join(self.names())}>"
