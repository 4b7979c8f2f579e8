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
from tests.load import (
    CREATE,
    EVENT_KEY,
    Gqlsync,
    Load,
    Subscription,
    call,
    missing_writes,
    out_of_order,
    realtime_connect,
    subscribe,
)
from tests.services import DynamoDBLocal, RedisServer, free_port

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


SEARCH_KEY = "da2-gqlsynceventsearchdevkey01"
SEARCH = ("query($t: String!, $n: String) { searchEvents(text: $t, limit: 100, nextToken: $n) "
          "{ items { id } total nextToken } }")
GET_EVENT = "query($id: ID!) { getEvent(id: $id) { id } }"


async def search_ids(http: httpx.AsyncClient, base: str, text: str) -> set[str]:
    ids: set[str] = set()
    token = None
    for _ in range(100):
        r = (await http.post(f"{base}/graphql", json={"query": SEARCH, "variables": {"t": text, "n": token}})).json()
        assert "errors" not in r, r
        page = r["data"]["searchEvents"]
        ids.update(i["id"] for i in page["items"])
        token = page["nextToken"]
        if not token:
            break
    return ids


async def test_search_endpoint_stopped_and_back(own_dynamodb: DynamoDBLocal, tmp_path: Path) -> None:
    """examples/event-search on DynamoDB Local with its stream run in-process (`--streams`) into a search endpoint
    that is stopped under load: searchEvents fails as OpenSearch:ConnectionError, getEvent and createEvent go on,
    and once the endpoint is back searches answer again and the index has caught up with every created event."""
    app = tmp_path / "event-search"
    shutil.copytree(ROOT / "examples" / "event-search", app)  # the stream's checkpoints go in APP_DIR/.gqlsync
    port = free_port()
    search = EmbeddedSearch(tmp_path / "search", port=port)
    search.start()
    server = Gqlsync(app, tmp_path / "gqlsync.log", "--dynamodb-endpoint", own_dynamodb.endpoint,
                     "--search-endpoint", search.endpoint, "--streams")
    outcomes: list[tuple[str, float, str, tuple[str, ...]]] = []  # (op, time, kind, errorTypes)
    created: list[str] = []
    stop = asyncio.Event()
    word = f"w{uuid.uuid4().hex[:10]}"  # in every event's name, and only in this run's

    async with httpx.AsyncClient(headers={"x-api-key": SEARCH_KEY}, timeout=20) as http:
        async def writer() -> None:
            while not stop.is_set():
                o, body = await call(http, server.url, "createEvent", (
                    'mutation($n: String!) { createEvent(name: $n, when: "soon", where: "here", description: "d") '
                    "{ id } }"), {"n": f"{word} {uuid.uuid4().hex[:6]}"})
                if o.kind == "ok" and body is not None:
                    created.append(body["data"]["createEvent"]["id"])
                outcomes.append((o.op, o.at, o.kind, o.error_types))
                await asyncio.sleep(0.02)

        async def reader(op: str) -> None:
            while not stop.is_set():
                if op == "searchEvents":
                    o, _ = await call(http, server.url, op, SEARCH, {"t": word})
                elif created:
                    o, _ = await call(http, server.url, op, GET_EVENT, {"id": created[-1]})
                else:
                    await asyncio.sleep(0.02)
                    continue
                outcomes.append((o.op, o.at, o.kind, o.error_types))
                await asyncio.sleep(0.02)

        tasks = [asyncio.ensure_future(t) for t in (writer(), writer(), reader("searchEvents"),
                                                    reader("getEvent"))]
        try:
            await asyncio.sleep(1.0)
            baseline = server.rss()
            await asyncio.sleep(PHASE)
            stopped_at = time.time()
            await asyncio.to_thread(search.stop)
            await asyncio.sleep(PHASE)
            back_at = time.time()
            search = EmbeddedSearch(tmp_path / "search", port=port)  # same port, same data
            await asyncio.to_thread(search.start)
            await asyncio.sleep(PHASE)
            stop.set()
            await asyncio.gather(*tasks)

            failed = [o for o in outcomes if o[2] != "ok"]
            assert failed, "the outage was not seen"
            # only search failed, and only while the endpoint was away, each as a clear error
            assert {(op, kind, types) for op, _, kind, types in failed} == {
                ("searchEvents", "graphql", ("OpenSearch:ConnectionError",))}, failed[:5]
            assert all(stopped_at - 0.5 <= at <= back_at + 2.0 for _, at, _, _ in failed), failed[:5]
            during = [o for o in outcomes if stopped_at + 0.5 < o[1] < back_at and o[0] != "searchEvents"]
            assert during and all(o[2] == "ok" for o in during)  # DynamoDB fields went on serving
            late = [o for o in outcomes if o[0] == "searchEvents" and o[1] > time.time() - 1.0]
            assert late and all(o[2] == "ok" for o in late)  # search answers again, no restart
            # every acknowledged event is in the table, and reaches the index (the stream retried the outage)
            for event_id in created:
                r = (await http.post(f"{server.url}/graphql", json={"query": GET_EVENT,
                                                                    "variables": {"id": event_id}})).json()
                assert r == {"data": {"getEvent": {"id": event_id}}}
            deadline = time.monotonic() + 30
            found: set[str] = set()
            while time.monotonic() < deadline and not set(created) <= found:
                found = await search_ids(http, server.url, word)
                await asyncio.sleep(0.5)
            assert set(created) - found == set()
            assert await settle_rss(server, baseline) < baseline + RSS_SLACK_MIB
            assert server.alive()
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            server.stop()
            search.stop()


async def comment_burst(http: httpx.AsyncClient, base: str, event_id: str, start: int, n: int,
                        content: str) -> list[str]:
    """`n` commentOnEvent mutations in one request (aliases run in order); the contents acknowledged. (eventId is
    selected: a subscription argument filters on what the mutation selected, as on AppSync.)"""
    fields = " ".join(f'c{i}: commentOnEvent(eventId: "{event_id}", content: "{content}{start + i}", '
                      f'createdAt: "t") {{ eventId content }}' for i in range(n))
    r = (await http.post(f"{base}/graphql", json={"query": f"mutation {{ {fields} }}"})).json()
    assert "errors" not in r, r.get("errors", [])[:2]
    return [v["content"] for v in r["data"].values()]


async def test_subscriber_that_never_reads_is_dropped(own_dynamodb: DynamoDBLocal, http: httpx.AsyncClient,
                                                      tmp_path: Path) -> None:
    """A subscriber that stops reading while many events are published: its send queue fills and the server closes
    it (1013, connection.py's policy) instead of waiting for it or buffering without end; a healthy subscriber on
    the same event gets every event, other clients are answered throughout, and memory comes back down."""
    server = Gqlsync(EVENT_APP, tmp_path / "gqlsync.log", "--dynamodb-endpoint", own_dynamodb.endpoint)
    fast: Subscription | None = None
    slow: websockets.ClientConnection | None = None
    try:
        (event_id,) = await make_events(http, server.url, 1)
        fast = Subscription(event_id, server.url)
        await fast.start()
        # a client that reads nothing: a tiny receive window, and websockets stops reading after one frame
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        slow = await realtime_connect(server.url, sock=sock, max_queue=1, max_size=None)
        await subscribe(slow, "slow", event_id)
        await asyncio.sleep(0.5)
        baseline = server.rss()

        pad = "x" * 8192  # ~8 KB an event: the 1000-message send queue fills after ~8 MB
        acked: list[str] = []
        answered: list[str] = []
        for round_ in range(15):
            bursts = [comment_burst(http, server.url, event_id, (round_ * 4 + k) * 25, 25, pad) for k in range(4)]
            for contents in await asyncio.gather(*bursts):
                acked += contents
            # other clients are served all along
            o, _ = await call(http, server.url, "listEvents", "query { listEvents(limit: 1) { items { id } } }", {})
            answered.append(o.kind)
        assert answered == ["ok"] * len(answered)
        assert await fast.wait_for(acked, 20), f"{len(set(acked) - set(fast.received))} not delivered"
        assert fast.closed is None

        # the slow client now reads what reached it: some events, then the server's close
        got = 0
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(30):
                async for raw in slow:
                    got += json.loads(raw)["type"] == "data"
        assert got < len(acked)
        rcvd = closed.value.rcvd
        assert rcvd is not None and (rcvd.code, rcvd.reason) == (1013, "Send queue full: client too slow"), rcvd
        assert await settle_rss(server, baseline) < baseline + RSS_SLACK_MIB
        assert server.alive()
    finally:
        if fast is not None:
            await fast.close()
        if slow is not None:
            await slow.close()
        server.stop()
