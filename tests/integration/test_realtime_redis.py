"""Two gqlsync processes on one redis-server: a mutation on one reaches a subscriber on the other,
and delivery resumes after Redis is killed and restarted, without restarting gqlsync."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.helpers import EVENT_APP, EVENT_KEY, ROOT
from tests.services import RedisServer, free_port, wait_for_port

pytestmark = pytest.mark.integration
SUB = "subscription($e: String!) { subscribeToEventComments(eventId: $e) { eventId content } }"


@pytest.fixture
def two_nodes(dynamodb_endpoint: str, redis_server: RedisServer) -> Iterator[list[str]]:
    procs, urls = [], []
    for _ in range(2):
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "gqlsync.cli", "serve", str(EVENT_APP), "--host", "127.0.0.1",
                                 "--port", str(port), "--dynamodb-endpoint", dynamodb_endpoint, "--create-tables",
                                 "--redis-url", redis_server.url, "--log-level", "warning"],
                                cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, 60, proc)
        procs.append(proc)
        urls.append(f"http://127.0.0.1:{port}")
    try:
        yield urls
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(15)


async def connect(base: str) -> websockets.ClientConnection:
    header = base64.b64encode(json.dumps({"host": "x", "x-api-key": EVENT_KEY}).encode()).decode()
    ws = await websockets.connect(f"{base.replace('http', 'ws')}/graphql/realtime?header={header}&payload=e30=",
                                  subprotocols=["graphql-ws"])
    await ws.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    return ws


async def next_data(ws: websockets.ClientConnection, timeout: float) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - loop.time())))
        if msg["type"] == "data":
            return dict(msg["payload"]["data"]["subscribeToEventComments"])


async def test_fan_out_across_processes_and_redis_restart(two_nodes: list[str], redis_server: RedisServer) -> None:
    a, b = two_nodes
    async with httpx.AsyncClient(headers={"x-api-key": EVENT_KEY}, timeout=10) as http:
        async def comment(base: str, event: str, text: str) -> None:
            r = await http.post(f"{base}/graphql", json={
                "query": "mutation($e: ID!, $c: String!) { commentOnEvent(eventId: $e, content: $c, createdAt: \"t\") "
                         "{ eventId content } }", "variables": {"e": event, "c": text}})
            assert "errors" not in r.json(), r.json()

        ws = await connect(b)
        await ws.send(json.dumps({"id": "1", "type": "start", "payload": {
            "data": json.dumps({"query": SUB, "variables": {"e": "evt-1"}}),
            "extensions": {"authorization": {"host": "x", "x-api-key": EVENT_KEY}}}}))
        msg = json.loads(await ws.recv())
        while msg["type"] == "ka":
            msg = json.loads(await ws.recv())
        assert msg == {"type": "start_ack", "id": "1"}
        await asyncio.sleep(0.3)
        await comment(a, "evt-1", "from A")
        assert await next_data(ws, 5) == {"eventId": "evt-1", "content": "from A"}
        await comment(b, "evt-1", "from B")  # local delivery, exactly once
        assert await next_data(ws, 5) == {"eventId": "evt-1", "content": "from B"}
        with pytest.raises(TimeoutError):
            await next_data(ws, 0.5)

        redis_server.stop()
        await comment(a, "evt-1", "while Redis was down")  # buffered by A
        redis_server.start()
        wait_for_port(redis_server.port, 10)
        assert await next_data(ws, 15) == {"eventId": "evt-1", "content": "while Redis was down"}
        await comment(a, "evt-1", "after restart")
        assert await next_data(ws, 10) == {"eventId": "evt-1", "content": "after restart"}
        await ws.close()


async def test_events_written_while_a_reader_is_away_are_not_lost(redis_server: RedisServer) -> None:
    """Whichever of writer and reader reconnects first after Redis restarts, the reader gets what was written
    meanwhile: it reads the stream on from the last entry it saw (pub/sub would have dropped these events)."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from gqlsync.realtime.redis_broker import RedisBroker

    got: list[int] = []

    async def deliver(api: str, events: list[dict[str, object]]) -> None:
        got.extend(int(str(e["n"])) for e in events)

    async def nothing(api: str, events: list[dict[str, object]]) -> None:
        return None

    async def until(check: object, what: str) -> None:
        for _ in range(200):
            if callable(check) and check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; got {got}")

    writer, reader = RedisBroker(redis_server.url), RedisBroker(redis_server.url)
    await writer.start(nothing)
    await reader.start(deliver)
    try:
        await asyncio.wait_for(reader.connected.wait(), 10)
        await writer.publish("api", [{"n": 1}])
        await until(lambda: got == [1], "the first event")
        real, gate = reader._redis, asyncio.Event()

        def held_back() -> object:  # the reader stays away until the writer has written again
            if not gate.is_set():
                raise RedisConnectionError("held back by the test")
            return real()

        reader._redis = held_back  # type: ignore[method-assign]
        redis_server.stop()
        redis_server.start()
        wait_for_port(redis_server.port, 10)
        await writer.publish("api", [{"n": 2}])
        await writer.publish("api", [{"n": 3}])
        await until(lambda: not writer._pending and not reader.connected.is_set(), "the writer to flush")
        gate.set()
        await until(lambda: got == [1, 2, 3], "the events written while the reader was away")
    finally:
        await writer.close()
        await reader.close()


async def test_a_reader_started_while_redis_is_away_reads_from_its_start(
        redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node that starts (and may accept subscribers) before it can reach Redis gets, once Redis answers, what other
    nodes appended since it started, and nothing from before: without a known position it would begin at the end
    of the stream it finds then, skipping what was appended meanwhile."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from gqlsync.realtime import redis_broker
    from gqlsync.realtime.redis_broker import RedisBroker

    monkeypatch.setattr(redis_broker, "START_WAIT_SECONDS", 0.2)
    got: list[int] = []

    async def deliver(api: str, events: list[dict[str, object]]) -> None:
        got.extend(int(str(e["n"])) for e in events)

    async def nothing(api: str, events: list[dict[str, object]]) -> None:
        return None

    writer, reader = RedisBroker(redis_server.url), RedisBroker(redis_server.url)
    await writer.start(nothing)
    await writer.publish("api", [{"n": 0}])  # before the reader started: never its business
    await asyncio.sleep(0.01)
    real, gate = reader._redis, asyncio.Event()

    def away() -> object:
        if not gate.is_set():
            raise RedisConnectionError("Redis is away (held back by the test)")
        return real()

    reader._redis = away  # type: ignore[method-assign]
    try:
        await reader.start(deliver)  # returns without Redis
        assert not reader.connected.is_set()
        await writer.publish("api", [{"n": 1}])
        await writer.publish("api", [{"n": 2}])
        gate.set()
        for _ in range(200):
            if got == [1, 2]:
                break
            await asyncio.sleep(0.05)
        assert got == [1, 2]
    finally:
        await writer.close()
        await reader.close()
