"""Both checkpoint stores (a JSON file; a DynamoDB table on DynamoDB Local) keep one lease holder per route: a
second worker stands by until the lease lapses or its holder, a process on this host, dies; a reindex asked for
while a batch is being saved is not lost."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gqlsync.datasources import AwsSettings, ClientProvider
from gqlsync.streams.checkpoints import (
    HOST,
    CheckpointStore,
    DynamoDBCheckpoints,
    FileCheckpoints,
    LeaseLostError,
    StreamState,
    new_owner,
)

pytestmark = pytest.mark.integration


@pytest.fixture(params=["file", "dynamodb"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CheckpointStore]:
    if request.param == "file":
        yield FileCheckpoints(tmp_path / "checkpoints.json")
        return
    endpoint = request.getfixturevalue("dynamodb_endpoint")
    clients = ClientProvider(AwsSettings(region="us-east-1", dynamodb_endpoint=endpoint))
    yield DynamoDBCheckpoints(await clients.aws("dynamodb"), f"checkpoints-{uuid.uuid4().hex[:8]}")
    await clients.close()


def dead_owner() -> str:
    """The name a worker process on this host had, once it has died."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{HOST}:{proc.pid}:deadbeef"


async def test_one_lease_holder_at_a_time(store: CheckpointStore) -> None:
    a, b = new_owner(), "other-host:1:cafe"
    got = await store.acquire("t>i", a, 30)
    assert got is not None and got.owner == a and got.stream is None
    got.stream, got.shards = "arn:s", {"shard-1": "000000000000000000042"}
    await store.save("t>i", got, a, 30)
    assert await store.acquire("t>i", b, 30) is None  # held, and its holder may be alive elsewhere
    with pytest.raises(LeaseLostError):
        await store.save("t>i", StreamState(stream="arn:s"), b, 30)
    await store.release("t>i", a)
    taken = await store.acquire("t>i", b, 30)
    assert taken is not None and taken.shards == {"shard-1": "000000000000000000042"}  # the positions carry over
    with pytest.raises(LeaseLostError):
        await store.save("t>i", taken, a, 30)


async def test_a_lapsed_lease_or_a_dead_holder_is_taken_over(store: CheckpointStore) -> None:
    mine = new_owner()
    assert await store.acquire("lapsed", "elsewhere:1:x", 0.2) is not None
    assert await store.acquire("lapsed", mine, 30) is None
    time.sleep(0.3)
    assert await store.acquire("lapsed", mine, 30) is not None
    assert await store.acquire("killed", dead_owner(), 3600) is not None  # SIGKILLed: never released
    assert await store.acquire("killed", mine, 30) is not None  # taken at once, not after an hour


async def test_a_reindex_request_survives_the_holders_next_save(store: CheckpointStore) -> None:
    owner = new_owner()
    state = await store.acquire("r", owner, 30)
    assert state is not None
    asked = await store.request_reindex("r")  # from `gqlsync reindex`, while the holder works on a batch
    state.shards = {"s": "7"}
    await store.save("r", state, owner, 30)  # the holder's copy predates the request
    stored: Any = await store.load("r")
    assert stored.reindex_requested == asked.reindex_requested and stored.shards == {"s": "7"}
    state.backfilled_at, state.reindex_requested = time.time(), None  # the holder did it
    await store.save("r", state, owner, 30)
    stored = await store.load("r")
    assert stored.reindex_requested is None
