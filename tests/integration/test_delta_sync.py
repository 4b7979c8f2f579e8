"""Delta Sync on DynamoDB Local: versioned writes with change records in one transaction, conflicts, Sync."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from gqlsync.app.model import (
    DataSourceConfig,
    KeyAttribute,
    LambdaConflictHandlerConfig,
    ResolverConfig,
    SyncConfig,
    TableConfig,
)
from gqlsync.datasources import AwsSettings, Call, ClientProvider, DataSourceEnv, build_data_source
from gqlsync.datasources.dynamodb.tables import ensure_tables
from gqlsync.errors import DataSourceError, ResolverError
from gqlsync.request import RequestScope
from gqlsync.sync.operation import OVERLAP_MS
from tests.helpers import ROOT, unique_prefix

pytestmark = pytest.mark.integration
V = "2018-05-29"


def call(handler: str = "OPTIMISTIC_CONCURRENCY", detection: str = "VERSION") -> Call:
    resolver = ResolverConfig("Mutation", "x", "UNIT", "VTL", "Todos", None, None,
                              sync=SyncConfig(detection, handler))  # type: ignore[arg-type]
    return Call("Mutation.x", resolver, RequestScope(request_id="t", identity=None, headers={}))


class Env:
    def __init__(self, clients: ClientProvider, prefix: str, delta_table: str | None = None) -> None:
        self.clients = clients
        self.table = prefix + "todos"
        self.delta_table = delta_table or prefix + "delta"
        self.ds = build_data_source(DataSourceConfig("Todos", "AMAZON_DYNAMODB", {
            "tableName": self.table, "versioned": True,
            "deltaSyncConfig": {"deltaSyncTableName": self.delta_table, "baseTableTTL": 60, "deltaSyncTableTTL": 30}}),
            DataSourceEnv(clients, ROOT))

    async def __call__(self, req: dict[str, Any], c: Call | None = None) -> Any:
        return await self.ds.invoke({"version": V, **req}, c or call())

    async def put(self, id: str, **attrs: Any) -> Any:
        return await self({"operation": "PutItem", "key": {"id": {"S": id}},
                           "attributeValues": {k: {"S": v} if isinstance(v, str) else v for k, v in attrs.items()}})

    async def update(self, id: str, version: int | None, c: Call | None = None, **attrs: Any) -> Any:
        names = {f"#{k}": k for k in attrs}
        values = {f":{k}": {"S": v} if isinstance(v, str) else v for k, v in attrs.items()}
        req: dict[str, Any] = {"operation": "UpdateItem", "key": {"id": {"S": id}}, "update": {
            "expression": "SET " + ", ".join(f"#{k} = :{k}" for k in attrs), "expressionNames": names,
            "expressionValues": values}}
        if version is not None:
            req["_version"] = version
        return await self(req, c)

    async def delete(self, id: str, version: int, c: Call | None = None) -> Any:
        return await self({"operation": "DeleteItem", "key": {"id": {"S": id}}, "_version": version}, c)

    async def stored(self, id: str) -> dict[str, Any] | None:
        out = await (await self.clients.aws("dynamodb")).get_item(TableName=self.table, Key={"id": {"S": id}},
                                                                  ConsistentRead=True)
        return out.get("Item")

    async def records(self) -> list[dict[str, Any]]:
        out = await (await self.clients.aws("dynamodb")).scan(TableName=self.delta_table, ConsistentRead=True)
        return list(out.get("Items", []))

    async def sync(self, **req: Any) -> Any:
        return await self({"operation": "Sync", **req})


@pytest.fixture(scope="module")
def embedded_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded default's DynamoDB (moto), which does not expire TTL items by itself."""
    from gqlsync.embedded.dynamodb import EmbeddedDynamoDB

    store = EmbeddedDynamoDB(tmp_path_factory.mktemp("embedded"))
    yield store.start()
    store.stop()


@pytest.fixture(params=["dynamodb-local", "embedded"])
async def env(request: pytest.FixtureRequest, dynamodb_endpoint: str) -> AsyncIterator[Env]:
    endpoint = dynamodb_endpoint if request.param == "dynamodb-local" else request.getfixturevalue("embedded_endpoint")
    clients = ClientProvider(AwsSettings(region="us-east-1", dynamodb_endpoint=endpoint))
    e = Env(clients, unique_prefix())
    await ensure_tables(await clients.aws("dynamodb"), (TableConfig(e.table, KeyAttribute("id")), *e.ds.tables))
    await e.ds.start()
    try:
        yield e
    finally:
        await clients.close()


async def test_writes_are_versioned_and_each_has_its_change_record(env: Env) -> None:
    created = await env.put("t1", name="milk")
    assert created["_version"] == 1 and isinstance(created["_lastChangedAt"], int)
    updated = await env.update("t1", 1, name="oat milk")
    assert updated["_version"] == 2 and updated["name"] == "oat milk"
    assert updated["_lastChangedAt"] >= created["_lastChangedAt"]
    deleted = await env.delete("t1", 2)
    assert deleted["_deleted"] is True and deleted["_version"] == 3
    stored = await env.stored("t1")
    assert stored is not None and stored["_deleted"] == {"BOOL": True}  # soft: kept until baseTableTTL
    assert abs(int(stored["_ttl"]["N"]) - (deleted["_lastChangedAt"] // 1000 + 60 * 60)) <= 1
    records = sorted(await env.records(), key=lambda r: int(r["_version"]["N"]))
    assert [int(r["_version"]["N"]) for r in records] == [1, 2, 3]
    assert [r["name"]["S"] for r in records] == ["milk", "oat milk", "oat milk"]
    assert all(r["ds_pk"]["S"].startswith(env.table + ":") for r in records)


async def test_optimistic_concurrency_rejects_a_stale_version_with_the_server_item(env: Env) -> None:
    await env.put("t1", name="a")
    await env.update("t1", 1, name="b")
    with pytest.raises(DataSourceError) as exc:
        await env.update("t1", 1, name="stale")
    assert exc.value.error_type == "ConflictUnhandled"
    assert exc.value.data["name"] == "b" and exc.value.data["_version"] == 2
    with pytest.raises(DataSourceError, match="Conflict"):
        await env.delete("t1", 1)
    assert len(await env.records()) == 2  # nothing written by the refused mutations
    assert (await env.stored("t1"))["_version"] == {"N": "2"}  # type: ignore[index]


async def test_automerge_merges_by_appsyncs_rules(env: Env) -> None:
    await env.put("t1", name="a", tags={"L": [{"S": "x"}]}, labels={"SS": ["p"]})
    await env.update("t1", 1, name="server")
    merged = await env.update("t1", 1, call("AUTOMERGE"), name="client", note="new", tags={"L": [{"S": "y"}]},
                              labels={"SS": ["p", "q"]})
    assert merged["name"] == "server"  # a scalar in conflict keeps the server's value
    assert merged["note"] == "new"  # a field the server lacks is taken
    assert merged["tags"] == ["x", "y"]  # lists: concatenated
    assert sorted(merged["labels"]) == ["p", "q"]  # sets: united
    assert merged["_version"] == 3


async def test_no_conflict_detection_writes_every_version(env: Env) -> None:
    await env.put("t1", n={"N": "0"})
    loose = call(detection="NONE")
    await asyncio.gather(*[env.update("t1", 1, loose, **{f"f{i}": "v"}) for i in range(8)])
    stored = await env.stored("t1")
    assert stored is not None and stored["_version"] == {"N": "9"}
    assert all(f"f{i}" in stored for i in range(8))  # no write lost to a race
    assert sorted(int(r["_version"]["N"]) for r in await env.records()) == list(range(1, 10))


async def test_racing_writers_of_one_version_one_wins(env: Env) -> None:
    await env.put("t1", name="a")
    results = await asyncio.gather(*[env.update("t1", 1, name=f"w{i}") for i in range(5)], return_exceptions=True)
    wins = [r for r in results if isinstance(r, dict)]
    losses = [r for r in results if isinstance(r, DataSourceError)]
    assert len(wins) == 1 and len(losses) == 4 and all(e.error_type == "ConflictUnhandled" for e in losses)
    assert (await env.stored("t1"))["name"] == {"S": wins[0]["name"]}  # type: ignore[index]


async def test_a_failed_condition_is_reported_with_the_current_item(env: Env) -> None:
    await env.put("t1", name="a")
    with pytest.raises(DataSourceError) as exc:
        await env({"operation": "PutItem", "key": {"id": {"S": "t1"}}, "attributeValues": {"name": {"S": "b"}},
                   "condition": {"expression": "attribute_not_exists(#id)", "expressionNames": {"#id": "id"}}})
    assert exc.value.error_type == "DynamoDB:ConditionalCheckFailedException" and exc.value.data["name"] == "a"


async def test_base_write_and_change_record_never_diverge(dynamodb_endpoint: str) -> None:
    clients = ClientProvider(AwsSettings(region="us-east-1", dynamodb_endpoint=dynamodb_endpoint))
    e = Env(clients, unique_prefix(), delta_table="gqlsync-no-such-delta-table")
    await ensure_tables(await clients.aws("dynamodb"), (TableConfig(e.table, KeyAttribute("id")),))
    try:
        with pytest.raises(DataSourceError):
            await e.put("t1", name="a")  # the change record cannot be written...
        assert await e.stored("t1") is None  # ...so neither is the item
    finally:
        await clients.close()


class Clock:
    """The data source's clock, set by the test (change records are bucketed by their stamp)."""

    def __init__(self) -> None:
        self.now = int(time.time() * 1000) - 20 * 60_000

    def __call__(self) -> int:
        return self.now


def use_clock(env: Env) -> Clock:
    clock = Clock()
    env.ds.versioned.clock = clock  # type: ignore[attr-defined]
    env.ds.sync.clock = clock  # type: ignore[attr-defined]
    return clock


async def test_sync_full_then_delta(env: Env) -> None:
    clock = use_clock(env)
    for i in range(5):
        await env.put(f"t{i}", name=f"n{i}")
    await env.delete("t4", 1)
    clock.now += 60_000
    first = await env.sync(limit=2)
    pages, token = [first], first["nextToken"]
    while token:
        page = await env.sync(limit=2, nextToken=token)
        assert page["startedAt"] == first["startedAt"]  # one startedAt for the whole sync
        pages.append(page)
        token = page["nextToken"]
    items = {i["id"]: i for p in pages for i in p["items"]}
    assert sorted(items) == ["t0", "t1", "t2", "t3", "t4"] and items["t4"]["_deleted"] is True
    last_sync = first["startedAt"]
    clock.now += 60_000
    await env.update("t1", 1, name="changed")
    await env.put("t9", name="new")
    clock.now += 1000
    changes = await env.sync(lastSync=last_sync, limit=100)
    assert sorted(i["id"] for i in changes["items"]) == ["t1", "t9"]  # only what changed since lastSync
    assert {i["id"]: i["_version"] for i in changes["items"]} == {"t1": 2, "t9": 1}
    assert changes["nextToken"] is None and changes["startedAt"] == clock.now
    paged = await env.sync(lastSync=last_sync, limit=1)
    assert len(paged["items"]) == 1 and paged["nextToken"]
    rest = await env.sync(lastSync=last_sync, limit=1, nextToken=paged["nextToken"])
    assert {paged["items"][0]["id"], rest["items"][0]["id"]} == {"t1", "t9"}


async def test_a_change_stamped_just_before_last_sync_is_sent_again(env: Env) -> None:
    # a write stamped before a sync started may commit after the sync's scan passed its item: the next
    # delta sync overlaps, so that change is never lost (clients ignore versions they already have)
    clock = use_clock(env)
    await env.put("late", name="x")
    clock.now += OVERLAP_MS // 2
    assert [i["id"] for i in (await env.sync(lastSync=clock.now))["items"]] == ["late"]
    clock.now += OVERLAP_MS
    assert (await env.sync(lastSync=clock.now))["items"] == []


async def test_a_last_sync_older_than_the_delta_ttl_gets_the_base_table(env: Env) -> None:
    await env.put("t1", name="a")
    old = (await env.sync())["startedAt"] - 31 * 60_000  # beyond deltaSyncTableTTL (30 minutes)
    assert [i["id"] for i in (await env.sync(lastSync=old))["items"]] == ["t1"]


async def test_expired_items_and_records_are_never_returned(env: Env) -> None:
    await env.put("gone", name="x")
    client = await env.clients.aws("dynamodb")
    await client.update_item(TableName=env.table, Key={"id": {"S": "gone"}}, UpdateExpression="SET #t = :t",
                             ExpressionAttributeNames={"#t": "_ttl"}, ExpressionAttributeValues={":t": {"N": "1"}})
    for r in await env.records():
        await client.update_item(TableName=env.delta_table, Key={"ds_pk": r["ds_pk"], "ds_sk": r["ds_sk"]},
                                 UpdateExpression="SET #t = :t", ExpressionAttributeNames={"#t": "_ttl"},
                                 ExpressionAttributeValues={":t": {"N": "1"}})
    full = await env.sync()
    assert full["items"] == []
    assert (await env.sync(lastSync=full["startedAt"] - 60_000))["items"] == []


async def test_what_a_versioned_source_refuses(env: Env, dynamodb_endpoint: str) -> None:
    with pytest.raises(DataSourceError, match="Unsupported operation 'BatchPutItem'") as exc:
        await env({"operation": "BatchPutItem", "tables": {env.table: [{"id": {"S": "x"}}]}})
    assert exc.value.error_type == "UnsupportedOperation"
    await env.put("t1", name="a", _version={"N": "7"}, _deleted={"BOOL": True})  # metadata is the server's
    assert (await env.stored("t1"))["_version"] == {"N": "1"}  # type: ignore[index]
    assert "_deleted" not in (await env.stored("t1"))  # type: ignore[operator]
    with pytest.raises(DataSourceError, match="Updating _version field can not be set from the client") as exc:
        await env.update("t1", 1, _version={"N": "9"})
    assert exc.value.error_type == "BadRequest"
    with pytest.raises(DataSourceError, match="UpdateItem on versioned data source requires the _version"):
        await env.update("t1", None, name="b")
    with pytest.raises(DataSourceError, match="Invalid pagination token"):
        await env.sync(nextToken="garbage")
    plain = build_data_source(DataSourceConfig("Plain", "AMAZON_DYNAMODB", {"tableName": env.table}),
                              DataSourceEnv(env.clients, ROOT))
    with pytest.raises(ResolverError, match="Sync needs a versioned data source"):
        await plain.invoke({"version": V, "operation": "Sync"}, call())


async def test_a_sync_of_one_key_queries_instead_of_scanning(env: Env) -> None:
    for i in range(3):
        await env.put(f"q{i}", name=f"n{i}")
    query = {"expression": "#id = :id", "expressionNames": {"#id": "id"}, "expressionValues": {":id": {"S": "q1"}}}
    full = await env.sync(query=query)
    assert [i["id"] for i in full["items"]] == ["q1"] and full["scannedCount"] == 1
    changes = await env.sync(query=query, lastSync=full["startedAt"] - 60_000)  # on change records: a filter
    assert [i["id"] for i in changes["items"]] == ["q1"] and changes["scannedCount"] >= 3


async def test_a_delete_of_a_missing_item_still_checks_its_condition(env: Env) -> None:
    exists = {"expression": "attribute_exists(#id)", "expressionNames": {"#id": "id"}}
    with pytest.raises(DataSourceError) as exc:
        await env({"operation": "DeleteItem", "key": {"id": {"S": "none"}}, "_version": 1, "condition": exists})
    assert exc.value.error_type == "DynamoDB:ConditionalCheckFailedException"
    assert await env.delete("none", 1) is None  # no condition: nothing to do
    assert await env.records() == []


HANDLER = '''
import json

def handler(event, context):
    name = event["arguments"].get("mode")
    if name == "resolve":
        seen = sorted(event)
        return {"action": "RESOLVE", "item": {"name": "resolved:" + event["existingItem"]["name"] + ":" +
                                              event["newItem"]["name"], "seen": json.dumps(seen),
                                              "where": event["resolver"]["parentType"] + "." + event["resolver"]["field"],
                                              "id": "ignored", "_version": 99}}
    if name == "remove":
        return {"action": "REMOVE"}
    if name == "reject":
        return {"action": "REJECT"}
    return {"action": "DANCE"}
'''


async def test_a_lambda_conflict_handler_decides(dynamodb_endpoint: str, tmp_path: Any) -> None:
    (tmp_path / "conflicts.py").write_text(HANDLER)
    clients = ClientProvider(AwsSettings(region="us-east-1", dynamodb_endpoint=dynamodb_endpoint))
    e = Env(clients, unique_prefix())
    e.ds = build_data_source(DataSourceConfig("Todos", "AMAZON_DYNAMODB", {
        "tableName": e.table, "versioned": True, "deltaSyncConfig": {"deltaSyncTableName": e.delta_table}}),
        DataSourceEnv(clients, tmp_path))
    await ensure_tables(await clients.aws("dynamodb"), (TableConfig(e.table, KeyAttribute("id")), *e.ds.tables))

    def lam(mode: str) -> Call:
        sync = SyncConfig("VERSION", "LAMBDA", LambdaConflictHandlerConfig("conflicts.py:handler"))
        resolver = ResolverConfig("Mutation", "updateTodo", "UNIT", "VTL", "Todos", None, None, sync=sync)
        return Call("Mutation.updateTodo", resolver, RequestScope(request_id="t", identity=None, headers={}),
                    {"mode": mode})

    try:
        await e.put("t1", name="a")
        await e.update("t1", 1, name="server")
        resolved = await e.update("t1", 1, lam("resolve"), name="client")
        assert resolved["name"] == "resolved:server:client" and resolved["id"] == "t1" and resolved["_version"] == 3
        assert json.loads(resolved["seen"]) == ["arguments", "existingItem", "identity", "newItem", "resolver"]
        assert resolved["where"] == "Mutation.updateTodo"
        with pytest.raises(DataSourceError) as exc:
            await e.update("t1", 1, lam("reject"), name="client")
        assert exc.value.error_type == "ConflictUnhandled" and exc.value.data["_version"] == 3
        with pytest.raises(DataSourceError) as exc:
            await e.update("t1", 1, lam("nonsense"), name="client")
        assert exc.value.error_type == "ConflictError"
        removed = await e.delete("t1", 1, lam("remove"))
        assert removed["_deleted"] is True and removed["_version"] == 4
        assert len(await e.records()) == 4  # the refused ones left no record
    finally:
        await clients.close()


async def test_grouped_filters_and_conditions_are_not_wrapped_again(env: Env) -> None:
    # Amplify's templates send an owner filter or a key condition as one parenthesized group; DynamoDB refuses
    # the redundant parentheses "((...))", so what gqlsync adds to them must not wrap them again.
    await env.put("g1", name="mine", owner="ann")
    await env.put("g2", name="theirs", owner="bob")
    mine = {"expression": "((#owner = :ann) OR (#owner = :admin))", "expressionNames": {"#owner": "owner"},
            "expressionValues": {":ann": {"S": "ann"}, ":admin": {"S": "admin"}}}
    full = await env.sync(filter=mine)
    assert [i["id"] for i in full["items"]] == ["g1"]
    changes = await env.sync(filter=mine, lastSync=full["startedAt"] - 60_000)
    assert [i["id"] for i in changes["items"]] == ["g1"]
    exists = {"expression": "(attribute_exists(#id))", "expressionNames": {"#id": "id"}}
    updated = await env({"operation": "UpdateItem", "key": {"id": {"S": "g1"}}, "_version": 1, "condition": exists,
                         "update": {"expression": "SET #n = :n", "expressionNames": {"#n": "name"},
                                    "expressionValues": {":n": {"S": "still mine"}}}})
    assert updated["name"] == "still mine" and updated["_version"] == 2
