"""Faults under steady mixed load on real `gqlsync serve` processes: nothing acknowledged is lost, failures are clear
GraphQL errors, delivery resumes without restarting gqlsync, and memory returns to its baseline."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from gqlsync.embedded.search import EmbeddedSearch
from tests.helpers import EVENT_APP, ROOT
from tests.load import (COMMENT, CREATE, EVENT_KEY, Gqlsync, Load, Subscription, call, missing_writes, out_of_order,
                        realtime_connect, subscribe)
from tests.services import DynamoDBLocal, RedisServer, free_port, wait_for_port

pytestmark = pytest.mark.integration

#: How far above its pre-load baseline the server's RSS may stay once the faults are over and it has settled.
RSS_SLACK_MIB = 64.0
PHASE = 2.0  # seconds of load in each phase (before, during, after a fault)


@pytest.fixture(scope="module")
def own_dynamodb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DynamoDBLocal]:
    """A DynamoDB Local of this module's own, its data on disk (so it survives a SIGKILL), which tests may kill."""
    ddb = DynamoDBLocal(db_path=tmp_path_factory.mktemp("ddb")).start()
    try:
        yield ddb
    finally:
        ddb.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers={"x-api-key": EVENT_KEY}, timeout=20) as client:
        yield client


def kill_dynamodb(ddb: DynamoDBLocal) -> None:
    assert ddb.proc is not None
    ddb.proc.kill()  # SIGKILL: no shutdown, no flush beyond what it already committed
    ddb.proc.wait(10)
    ddb.proc = None


async def make_events(http: httpx.AsyncClient, base: str, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        outcome, body = await call(http, base, "createEvent", CREATE, {"n": f"seed-{uuid.uuid4().hex}"})
        assert outcome.kind == "ok", outcome
        assert body is not None
        ids.append(body["data"]["createEvent"]["id"])
    return ids


def assert_clear_failures(load: Load, since: int = 0) -> None:
    """Every failed call failed as a GraphQL error naming its errorType: no 5xx, no hang, no reset."""
    unclear = [o for o in load.failures(since) if o.kind != "graphql"]
    assert not unclear, unclear[:5]


async def settle_rss(server: Gqlsync, baseline: float, seconds: float = 6.0) -> float:
    """The server's RSS once back within the slack of `baseline`, or the last sample after `seconds`."""
    deadline = time.monotonic() + seconds
    rss = server.rss()
    while rss > baseline + RSS_SLACK_MIB and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        rss = server.rss()
    return rss


async def test_dynamodb_sigkill_and_restart_under_load(own_dynamodb: DynamoDBLocal, http: httpx.AsyncClient,
                                                        tmp_path: Path) -> None:
    server = Gqlsync(EVENT_APP, tmp_path / "gqlsync.log", "--dynamodb-endpoint", own_dynamodb.endpoint)
    subs: list[Subscription] = []
    try:
        events = await make_events(http, server.url, 3)
        subs = [Subscription(e, server.url) for e in events]
        for s in subs:
            await s.start()
        load = Load(http, server.url, server.url, events)
        load.start()  # warm-up: first calls, caches, pools
        await asyncio.sleep(1.0)
        baseline = server.rss()
        await asyncio.sleep(PHASE)
        before = load.mark()
        kill_dynamodb(own_dynamodb)
        await asyncio.sleep(PHASE)
        outage = load.mark()
        await asyncio.to_thread(own_dynamodb.start)  # same port, same -dbPath
        restarted = load.mark()
        await asyncio.sleep(PHASE)
        await load.stop()

        during = load.kinds(outage, restarted) | load.kinds(before, outage)
        assert during["graphql"] > 0, during  # the outage was seen, as errors
        assert_clear_failures(load)
        types = {t for o in load.failures() for t in o.error_types}
        assert types <= {"DynamoDB:ServiceUnavailable"}, types
        # once DynamoDB is back, gqlsync answers again without a restart: the last second of load all succeeds
        tail = [o for o in load.outcomes[restarted:] if o.at > time.time() - 1.0]
        assert tail and all(o.kind == "ok" for o in tail), [o for o in tail if o.kind != "ok"][:5]

        lost_events, lost_comments = await missing_writes(http, server.url, load)
        assert (lost_events, lost_comments) == ([], [])
        assert load.created and load.commented
        # every acknowledged comment reached its event's live subscription
        for s in subs:
            assert await s.wait_for(load.commented.get(s.event_id, []), 10), s.event_id
            assert s.closed is None
        assert await settle_rss(server, baseline) < baseline + RSS_SLACK_MIB
        assert server.alive()
    finally:
        for s in subs:
            await s.close()
        server.stop()


async def test_redis_sigkill_and_restart_between_two_nodes(own_dynamodb: DynamoDBLocal, redis_server: RedisServer,
                                                           http: httpx.AsyncClient, tmp_path: Path) -> None:
    """Mutations on node A reach subscriptions on node B through Redis. While Redis is away, A buffers what it
    publishes (gqlsync/realtime/redis_broker.py) and B reconnects: after Redis is back, B gets every comment A
    acknowledged, the buffered ones included, each writer's in the order it made them, with no restart."""
    common = ("--dynamodb-endpoint", own_dynamodb.endpoint, "--redis-url", redis_server.url)
    a = Gqlsync(EVENT_APP, tmp_path / "a.log", *common)
    b = Gqlsync(EVENT_APP, tmp_path / "b.log", *common)
    subs: list[Subscription] = []
    try:
        events = await make_events(http, a.url, 3)
        subs = [Subscription(e, b.url) for e in events]
        for s in subs:
            await s.start()
        load = Load(http, a.url, b.url, events)
        load.start()
        await asyncio.sleep(1.0)
        baselines = a.rss(), b.rss()
        await asyncio.sleep(PHASE)
        before = load.mark()
        redis_server.stop()  # SIGKILL
        await asyncio.sleep(PHASE)
        outage = load.mark()
        await asyncio.to_thread(redis_server.start)  # same port, empty
        await asyncio.sleep(PHASE)
        await load.stop()

        # Redis carries only events between processes: no call failed because it was away
        assert load.kinds() == {"ok": len(load.outcomes)}, load.failures()[:5]
        assert sum(len(c) for c in load.commented.values()) > 0 and load.mark() > outage > before
        for s in subs:
            acked = load.commented.get(s.event_id, [])
            arrived = await s.wait_for(acked, 15)
            missing = sorted(set(acked) - set(s.received))
            assert arrived, f"{len(missing)} of {len(acked)} comments on {s.event_id} never reached node B"
            assert len(s.received) == len(set(s.received)), "a comment was delivered twice"
            assert out_of_order(s.received) == []
            assert s.closed is None
        for node, baseline in zip((a, b), baselines, strict=True):
            assert await settle_rss(node, baseline) < baseline + RSS_SLACK_MIB
            assert node.alive()
    finally:
        for s in subs:
            await s.close()
        a.stop()
        b.stop()
