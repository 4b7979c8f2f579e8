"""Property test of Delta Sync on DynamoDB Local: writers interleave versioned creates, updates and deletes of a
few items (concurrently within each round, as DataStore clients do); whatever the interleaving:

- every acknowledged write is in the change records with the version it was answered with, and nothing else
  is (a refused write leaves no trace); versions per item are 1, 2, 3 ... with no gap and no repeat;
- the base table holds, per item, the image of its last acknowledged write;
- a full sync at any point plus a delta sync from its `startedAt` equals a full sync at the end.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gqlsync.app.model import DataSourceConfig, KeyAttribute, ResolverConfig, SyncConfig, TableConfig
from gqlsync.datasources import AwsSettings, Call, ClientProvider, DataSourceEnv, build_data_source
from gqlsync.datasources.dynamodb.tables import create_table_request
from gqlsync.errors import DataSourceError
from gqlsync.request import RequestScope
from gqlsync.sync.operation import OVERLAP_MS
from tests.helpers import ROOT, unique_prefix

pytestmark = pytest.mark.integration
V = "2018-05-29"
IDS = ["a", "b", "c"]

step = st.tuples(st.integers(0, 2), st.sampled_from(["create", "update", "update", "delete"]), st.sampled_from(IDS),
                 st.text("xyz", min_size=1, max_size=3))
rounds = st.lists(st.lists(step, min_size=1, max_size=4), min_size=1, max_size=6)


@pytest.fixture(scope="module")
def tables(dynamodb_local: Any) -> Iterator[tuple[str, str, str]]:
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    prefix = unique_prefix()
    base, changes = prefix + "items", prefix + "changes"
    for t in (TableConfig(base, KeyAttribute("id")), TableConfig(changes, KeyAttribute("ds_pk"), KeyAttribute("ds_sk"))):
        client.create_table(**create_table_request(t))
    yield dynamodb_local.endpoint, base, changes


async def scenario(endpoint: str, base: str, changes: str, plan: list[list[tuple[int, str, str, str]]],
                   handler: str, checkpoint: int) -> None:
    clients = ClientProvider(AwsSettings(region="us-east-1", dynamodb_endpoint=endpoint))
    ds = build_data_source(DataSourceConfig("Items", "AMAZON_DYNAMODB", {
        "tableName": base, "versioned": True, "deltaSyncConfig": {"deltaSyncTableName": changes}}),
        DataSourceEnv(clients, ROOT))
    resolver = ResolverConfig("Mutation", "m", "UNIT", "VTL", "Items", None, None,
                              sync=SyncConfig("VERSION", handler))  # type: ignore[arg-type]
    call = Call("Mutation.m", resolver, RequestScope(request_id="p", identity=None, headers={}))
    # rounds are further apart than the delta sync's overlap, so a delta sync really reads a window
    clock = [int(time.time() * 1000) - 10 * 60_000]
    ds.versioned.clock = ds.sync.clock = lambda: clock[0]  # type: ignore[attr-defined]
    run = uuid.uuid4().hex[:8]  # this example's own items in the shared tables
    known: list[dict[str, int]] = [{} for _ in range(3)]  # each writer's last seen version per item
    acked: dict[str, list[tuple[int, dict[str, Any]]]] = {i: [] for i in IDS}

    async def write(writer: int, op: str, item: str, value: str) -> None:
        key = {"id": {"S": f"{run}-{item}"}}
        version = known[writer].get(item, 0)
        if op == "create":
            req: dict[str, Any] = {"operation": "PutItem", "key": key, "attributeValues": {"name": {"S": value}},
                                   "condition": {"expression": "attribute_not_exists(#id)",
                                                 "expressionNames": {"#id": "id"}}}
        elif op == "update":
            req = {"operation": "UpdateItem", "key": key, "_version": version, "update": {
                "expression": "SET #n = :n", "expressionNames": {"#n": "name"}, "expressionValues": {":n": {"S": value}}},
                "condition": {"expression": "attribute_exists(#id)", "expressionNames": {"#id": "id"}}}
        else:
            req = {"operation": "DeleteItem", "key": key, "_version": version}
        try:
            out = await ds.invoke({"version": V, **req}, call)
        except DataSourceError as exc:
            assert exc.error_type in ("ConflictUnhandled", "DynamoDB:ConditionalCheckFailedException"), exc.message
            if exc.data:
                known[writer][item] = exc.data["_version"]  # DataStore takes the server's version
            return
        if out is None:  # a delete of what is not there
            return
        known[writer][item] = out["_version"]
        acked[item].append((out["_version"], out))

    async def sync(**req: Any) -> tuple[int, dict[str, dict[str, Any]]]:
        items: dict[str, dict[str, Any]] = {}
        token, started = None, None
        while True:
            page = await ds.invoke({"version": V, "operation": "Sync", "limit": 2, "nextToken": token, **req}, call)
            started = page["startedAt"] if started is None else started
            assert page["startedAt"] == started
            for i in page["items"]:
                if i["id"].startswith(run) and i["_version"] > items.get(i["id"], {}).get("_version", 0):
                    items[i["id"]] = i
            token = page["nextToken"]
            if not token:
                return started, items

    try:
        await ds.start()
        snapshot: tuple[int, dict[str, dict[str, Any]]] | None = None
        for n, batch in enumerate(plan):
            clock[0] += 2 * OVERLAP_MS
            if n == checkpoint:
                snapshot = await sync()
                clock[0] += 2 * OVERLAP_MS
            await asyncio.gather(*(write(*s) for s in batch))
        clock[0] += 2 * OVERLAP_MS
        if snapshot is None:
            snapshot = await sync()
        dynamo = await clients.aws("dynamodb")
        records = (await dynamo.scan(TableName=changes, ConsistentRead=True))["Items"]
        for item in IDS:
            ours = sorted(int(r["_version"]["N"]) for r in records if r["id"]["S"] == f"{run}-{item}")
            versions = sorted(v for v, _ in acked[item])
            assert ours == versions == list(range(1, len(versions) + 1))  # every ack recorded, nothing else
            stored = (await dynamo.get_item(TableName=base, Key={"id": {"S": f"{run}-{item}"}},
                                            ConsistentRead=True)).get("Item")
            if versions:
                last = max(acked[item], key=lambda a: a[0])[1]
                assert stored is not None and stored["name"]["S"] == last["name"]
                assert int(stored["_version"]["N"]) == last["_version"]
            else:
                assert stored is None
        started, state = snapshot
        _, delta = await sync(lastSync=started)
        assert all(image["_lastChangedAt"] > started for image in delta.values())  # a window, not everything
        for id_, image in delta.items():
            if image["_version"] > state.get(id_, {}).get("_version", 0):
                state[id_] = image
        _, final = await sync()
        assert {k: (v["_version"], v["name"], v.get("_deleted")) for k, v in state.items()} == \
            {k: (v["_version"], v["name"], v.get("_deleted")) for k, v in final.items()}
    finally:
        await clients.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=rounds, handler=st.sampled_from(["OPTIMISTIC_CONCURRENCY", "AUTOMERGE"]), checkpoint=st.integers(0, 6))
def test_writers_in_any_interleaving_converge(tables: tuple[str, str, str], plan: list[Any], handler: str,
                                             checkpoint: int) -> None:
    asyncio.run(scenario(*tables, plan, handler, checkpoint))
