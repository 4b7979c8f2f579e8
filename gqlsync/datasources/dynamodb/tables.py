"""Creates an app's declared DynamoDB tables (keys, indexes, stream, TTL) where they are missing."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from gqlsync.app.model import IndexConfig, KeyAttribute, TableConfig

log = logging.getLogger("gqlsync.tables")


def _key_schema(pk: KeyAttribute, sk: KeyAttribute | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": pk.name, "KeyType": "HASH"}]
    if sk is not None:
        schema.append({"AttributeName": sk.name, "KeyType": "RANGE"})
    return schema


def add_projection(ix: IndexConfig) -> dict[str, Any]:
    proj: dict[str, Any] = {"ProjectionType": ix.projection}
    if ix.projection == "INCLUDE":
        proj["NonKeyAttributes"] = list(ix.non_key_attributes)
    return proj


def create_table_request(t: TableConfig) -> dict[str, Any]:
    attrs: dict[str, str] = {}
    for k in (t.partition_key, t.sort_key, *(x for ix in (*t.global_indexes, *t.local_indexes)
                                             for x in (ix.partition_key, ix.sort_key))):
        if k is not None:
            attrs[k.name] = k.type
    req: dict[str, Any] = {
        "TableName": t.name,
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": ty} for n, ty in attrs.items()],
        "KeySchema": _key_schema(t.partition_key, t.sort_key),
        "BillingMode": "PAY_PER_REQUEST",
    }
    if t.global_indexes:
        req["GlobalSecondaryIndexes"] = [
            {"IndexName": ix.name, "KeySchema": _key_schema(ix.partition_key, ix.sort_key),
             "Projection": add_projection(ix)} for ix in t.global_indexes]
    if t.local_indexes:
        req["LocalSecondaryIndexes"] = [
            {"IndexName": ix.name, "KeySchema": _key_schema(ix.partition_key, ix.sort_key),
             "Projection": add_projection(ix)} for ix in t.local_indexes]
    if t.stream:
        req["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": t.stream}
    return req


async def ensure_tables(client: Any, tables: tuple[TableConfig, ...]) -> list[str]:
    """Create missing tables and wait until they are ACTIVE; returns the names created."""
    existing: set[str] = set()
    async for page in client.get_paginator("list_tables").paginate():
        existing.update(page.get("TableNames", []))
    created = []
    for t in tables:
        if t.name in existing:
            continue
        try:
            await client.create_table(**create_table_request(t))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
            continue
        await client.get_waiter("table_exists").wait(TableName=t.name, WaiterConfig={"Delay": 0.2,
                                                                                     "MaxAttempts": 100})
        if t.ttl_attribute:
            await client.update_time_to_live(TableName=t.name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": t.ttl_attribute})
        created.append(t.name)
        log.info("created table", extra={"table": t.name})
    return created
