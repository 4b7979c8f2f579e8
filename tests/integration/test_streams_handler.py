"""The streams handler: DynamoDB Streams records (in the shape Lambda and GetRecords give them) into the embedded
search engine through opensearch-py, with Amplify's index and id rules, soft deletes and dead letters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from opensearchpy import AsyncOpenSearch

from gqlsync.embedded.search import EmbeddedSearch
from gqlsync.streams.handler import FileDeadLetters, handle

pytestmark = pytest.mark.integration
ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/Todo-abc123-NONE/stream/2026-12-01T00:00:00.000"
_seq = iter(range(100000000000000000000, 200000000000000000000))


def record(event: str, keys: dict[str, Any], new: dict[str, Any] | None = None,
           old: dict[str, Any] | None = None, arn: str = ARN) -> dict[str, Any]:
    ddb: dict[str, Any] = {"ApproximateCreationDateTime": 1796126000, "Keys": keys, "SequenceNumber": str(next(_seq)),
                           "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if new is not None:
        ddb["NewImage"] = new
    if old is not None:
        ddb["OldImage"] = old
    return {"eventID": "e", "eventName": event, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": ddb, "eventSourceARN": arn}


def item(id: str, name: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": {"S": id}, "name": {"S": name}}
    for k, v in extra.items():
        out[k] = {"BOOL": v} if isinstance(v, bool) else {"N": str(v)}
    return out


@pytest.fixture(scope="module")
def engine(search_engine: EmbeddedSearch) -> str:
    return search_engine.endpoint


@pytest.fixture
async def client(engine: str) -> AsyncIterator[AsyncOpenSearch]:
    c = AsyncOpenSearch(hosts=[engine])
    await c.indices.delete(index="todo", ignore=404)
    yield c
    await c.close()


async def docs(client: AsyncOpenSearch) -> dict[str, Any]:
    await client.indices.refresh(index="todo")
    r = await client.search(index="todo", body={"query": {"match_all": {}}, "size": 100})
    return {h["_id"]: h["_source"] for h in r["hits"]["hits"]}


async def test_inserts_modifies_and_removes_reach_the_index(client: AsyncOpenSearch, tmp_path: Path) -> None:
    dead = FileDeadLetters(tmp_path / "dead.jsonl")
    keys = {"id": {"S": "t1"}}
    out = await handle([record("INSERT", keys, item("t1", "milk", priority=2)),
                        record("INSERT", {"id": {"S": "t2"}}, item("t2", "eggs")),
                        record("MODIFY", keys, item("t1", "oat milk", priority=3), item("t1", "milk", priority=2)),
                        record("REMOVE", {"id": {"S": "t2"}}, old=item("t2", "eggs"))], client, dead)
    assert (out.indexed, out.deleted, out.dead) == (3, 1, [])
    assert await docs(client) == {"t1": {"id": "t1", "name": "oat milk", "priority": 3}}  # index `todo`, id `t1`


async def test_a_composite_key_is_the_id_amplify_builds(client: AsyncOpenSearch, tmp_path: Path) -> None:
    keys = {"pk": {"S": "a"}, "createdAt": {"S": "2026-12-01"}}
    await handle([record("INSERT", keys, {**keys, "name": {"S": "x"}})], client, FileDeadLetters(tmp_path / "d"))
    assert list(await docs(client)) == ["2026-12-01|a"]  # values in the order of the key names


async def test_versioned_tables_soft_delete_and_never_go_back_in_time(client: AsyncOpenSearch, tmp_path: Path) -> None:
    dead = FileDeadLetters(tmp_path / "dead.jsonl")
    keys = {"id": {"S": "v1"}}
    await handle([record("INSERT", keys, item("v1", "first", _version=1, _lastChangedAt=1)),
                  record("MODIFY", keys, item("v1", "second", _version=2, _lastChangedAt=2))], client, dead)
    assert (await docs(client))["v1"]["name"] == "second" and "_version" not in (await docs(client))["v1"]
    late = await handle([record("MODIFY", keys, item("v1", "first again", _version=1))], client, dead)
    assert late.superseded == 1 and (await docs(client))["v1"]["name"] == "second"  # an older image is ignored
    gone = await handle([record("MODIFY", keys, item("v1", "second", _version=3, _deleted=True))], client, dead)
    assert gone.deleted == 1 and await docs(client) == {}
    assert dead.read() == []


async def test_a_failing_document_goes_to_the_dead_letters_and_the_rest_is_indexed(
        client: AsyncOpenSearch, tmp_path: Path) -> None:
    dead = FileDeadLetters(tmp_path / "dead.jsonl")
    await client.indices.create(index="todo", body={"mappings": {"properties": {"priority": {"type": "long"}}}})
    bad = record("INSERT", {"id": {"S": "b"}}, {"id": {"S": "b"}, "priority": {"S": "not a number"}})
    out = await handle([record("INSERT", {"id": {"S": "g"}}, item("g", "good", priority=1)), bad,
                        {"eventSource": "aws:kinesis", "eventName": "INSERT"}], client, dead)
    assert out.indexed == 1 and len(out.dead) == 2
    letters = dead.read()
    assert letters[0]["reason"].startswith("not a DynamoDB Streams record")
    assert "mapper_parsing_exception" in letters[1]["reason"] and letters[1]["record"] == bad
    assert list(await docs(client)) == ["g"]
