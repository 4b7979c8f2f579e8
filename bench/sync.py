"""Delta Sync: a full sync of N items (pages of 1,000) beside a delta sync of the M changes made since, on
DynamoDB Local, interleaved rounds; items/s for each and what the delta costs as a share of the full sync.

    .venv/bin/python bench/sync.py        # SYNC_ITEMS=10000 SYNC_CHANGES=100 SYNC_ROUNDS=3

The base table is seeded directly (versioned items, BatchWriteItem); the changes go through gqlsync's
versioned writes, so each has its change record. The goal (issue 9): a delta of 100 changes costs at
most 2% of the full sync.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gqlsync.app.model import DataSourceConfig, KeyAttribute, ResolverConfig, SyncConfig, TableConfig  # noqa: E402
from gqlsync.datasources import AwsSettings, Call, ClientProvider, DataSourceEnv, build_data_source  # noqa: E402
from gqlsync.datasources.dynamodb.tables import ensure_tables  # noqa: E402
from gqlsync.request import RequestScope  # noqa: E402
from tests.services import DynamoDBLocal  # noqa: E402

ITEMS = int(os.environ.get("SYNC_ITEMS", "10000"))
CHANGES = int(os.environ.get("SYNC_CHANGES", "100"))
ROUNDS = int(os.environ.get("SYNC_ROUNDS", "3"))
V = "2018-05-29"


async def main() -> None:
    ddb = DynamoDBLocal().start()
    clients = ClientProvider(AwsSettings(region="us-east-1", dynamodb_endpoint=ddb.endpoint))
    try:
        base, changes = "bench-items", "bench-changes"
        await ensure_tables(await clients.aws("dynamodb"), (
            TableConfig(base, KeyAttribute("id")), TableConfig(changes, KeyAttribute("ds_pk"), KeyAttribute("ds_sk"))))
        ds = build_data_source(DataSourceConfig("Items", "AMAZON_DYNAMODB", {
            "tableName": base, "versioned": True, "deltaSyncConfig": {"deltaSyncTableName": changes}}),
            DataSourceEnv(clients, ROOT))
        await ds.start()
        resolver = ResolverConfig("Mutation", "m", "UNIT", "VTL", "Items", None, None, sync=SyncConfig())
        call = Call("Mutation.m", resolver, RequestScope(request_id="bench", identity=None, headers={}))
        dynamo = await clients.aws("dynamodb")
        now = int(time.time() * 1000)
        for start in range(0, ITEMS, 25):
            await dynamo.batch_write_item(RequestItems={base: [{"PutRequest": {"Item": {
                "id": {"S": f"item-{i:06d}"}, "name": {"S": f"name {i}"}, "done": {"BOOL": False},
                "_version": {"N": "1"}, "_lastChangedAt": {"N": str(now)}}}}
                for i in range(start, min(start + 25, ITEMS))]})
        # rounds are a minute apart on the data source's clock, beyond the delta sync's 10 s overlap, so each
        # delta reads exactly its round's changes
        clock = [now - 10 * 60_000]
        ds.versioned.clock = ds.sync.clock = lambda: clock[0]  # type: ignore[attr-defined]

        async def sync(**req: object) -> tuple[int, float, int]:
            count, token, started = 0, None, 0
            t = time.perf_counter()
            while True:
                page = await ds.invoke({"version": V, "operation": "Sync", "limit": 1000, "nextToken": token, **req},
                                       call)
                count += len(page["items"])
                started = page["startedAt"]
                token = page["nextToken"]
                if not token:
                    return count, time.perf_counter() - t, started

        full_times, delta_times, full_count, delta_count = [], [], 0, 0
        for r in range(ROUNDS):
            clock[0] += 60_000
            full_count, elapsed, started = await sync()
            clock[0] += 60_000
            full_times.append(elapsed)
            for i in range(CHANGES):
                item = f"item-{(r * CHANGES + i) % ITEMS:06d}"
                current = await dynamo.get_item(TableName=base, Key={"id": {"S": item}}, ConsistentRead=True)
                await ds.invoke({"version": V, "operation": "UpdateItem", "key": {"id": {"S": item}},
                                 "_version": int(current["Item"]["_version"]["N"]),
                                 "update": {"expression": "SET #d = :d", "expressionNames": {"#d": "done"},
                                            "expressionValues": {":d": {"BOOL": True}}}}, call)
            clock[0] += 1000
            delta_count, elapsed, _ = await sync(lastSync=started)
            delta_times.append(elapsed)
        full, dlt = statistics.median(full_times), statistics.median(delta_times)
        print(f"{os.cpu_count()} cores; DynamoDB Local; medians of {ROUNDS} rounds; pages of 1000\n")
        print("| sync | items | seconds | items/s | share of the full sync |")
        print("|---|---:|---:|---:|---:|")
        print(f"| full (base table) | {full_count} | {full:.3f} | {full_count / full:.0f} | 100% |")
        print(f"| delta ({CHANGES} changes since lastSync) | {delta_count} | {dlt:.4f} | {delta_count / dlt:.0f} "
              f"| {dlt / full * 100:.2f}% |")
    finally:
        await clients.close()
        ddb.stop()


if __name__ == "__main__":
    asyncio.run(main())
