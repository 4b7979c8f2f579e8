"""graphql-transport-ws on /graphql/realtime: subscriptions, queries and mutations over the socket, close codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.realtime.connection import RealtimeLimits
from tests.helpers import EVENT_APP, EVENT_KEY, unique_prefix, with_table_prefix
from tests.integration.test_realtime_appsync import COMMENT, SUB, Live, new_event
from tests.live import live_server

pytestmark = pytest.mark.integration


@pytest.fixture
async def live(dynamodb_endpoint: str) -> AsyncIterator[Live]:
    app = with_table_prefix(load_app(EVENT_APP), unique_prefix())
    settings = ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True,
                              realtime=RealtimeLimits(init_timeout_seconds=0.5))
    server = GqlsyncServer(app, settings)
    async with live_server(server) as base:
        client = Live(base, server)
        yield client
        await client.http.aclose()


def url(live: Live) -> str:
    return live.base.replace("http", "ws") + "/graphql/realtime"


async def recv(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), timeout)))


async def init(live: Live, payload: Any = None) -> Any:
    ws = await websockets.connect(url(live), subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init", "payload": payload or {"x-api-key": EVENT_KEY}}))
    assert await recv(ws) == {"type": "connection_ack"}
    return ws


async def closed_with(ws: Any) -> tuple[int, str]:
    with pytest.raises(websockets.ConnectionClosed) as exc:
        await recv(ws, 5)
    frame = exc.value.rcvd
    assert frame is not None
    return frame.code, frame.reason


async def test_subscribe_next_complete(live: Live) -> None:
    e1, e2 = await new_event(live, "a"), await new_event(live, "b")
    ws = await init(live)
    assert ws.subprotocol == "graphql-transport-ws"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUB, "variables": {"e": e1}}}))
    await asyncio.sleep(0.2)
    await live.gql(COMMENT, {"e": e2, "c": "no"})
    await live.gql(COMMENT, {"e": e1, "c": "yes"})
    msg = await recv(ws)
    assert msg["type"] == "next" and msg["id"] == "1"
    assert msg["payload"]["data"]["subscribeToEventComments"]["content"] == "yes"
    await ws.send(json.dumps({"id": "1", "type": "complete"}))
    await asyncio.sleep(0.2)
    await live.gql(COMMENT, {"e": e1, "c": "after"})
    with pytest.raises(TimeoutError):
        await recv(ws, 0.6)
    await ws.close()


async def test_queries_and_mutations_over_the_socket_reach_subscribers(live: Live) -> None:
    e1 = await new_event(live, "q")
    listener = await init(live)
    await listener.send(json.dumps({"id": "s", "type": "subscribe", "payload": {"query": SUB, "variables": {"e": e1}}}))
    ws = await init(live, {"headers": {"x-api-key": EVENT_KEY}})
    await ws.send(json.dumps({"id": "q", "type": "subscribe", "payload": {
        "query": "query($id: ID!) { getEvent(id: $id) { name } }", "variables": {"id": e1}}}))
    assert await recv(ws) == {"id": "q", "type": "next", "payload": {"data": {"getEvent": {"name": "q"}}}}
    assert await recv(ws) == {"id": "q", "type": "complete"}
    await ws.send(json.dumps({"id": "m", "type": "subscribe", "payload": {"query": COMMENT, "variables": {"e": e1, "c": "ws"}}}))
    assert (await recv(ws))["payload"]["data"]["commentOnEvent"]["content"] == "ws"
    assert await recv(ws) == {"id": "m", "type": "complete"}
    got = await recv(listener)
    assert got["id"] == "s" and got["payload"]["data"]["subscribeToEventComments"]["content"] == "ws"
    await ws.send(json.dumps({"type": "ping"}))
    assert await recv(ws) == {"type": "pong"}
    await ws.close()
    await listener.close()


async def test_validation_errors_are_error_messages(live: Live) -> None:
    ws = await init(live)
    await ws.send(json.dumps({"id": "v", "type": "subscribe", "payload": {"query": "subscription { nope }"}}))
    msg = await recv(ws)
    assert msg["type"] == "error" and msg["id"] == "v" and msg["payload"][0]["errorType"] == "ValidationError"
    await ws.close()


async def test_wrong_key_closes_4403(live: Live) -> None:
    ws = await websockets.connect(url(live), subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"x-api-key": "da2-wrong"}}))
    assert await closed_with(ws) == (4403, "Forbidden")


@pytest.mark.parametrize("frames,code", [
    (['{"type": "subscribe", "id": "1", "payload": {"query": "{ listEvents { nextToken } }"}}'], 4401),
    (["{bad json"], 4400),
    (['{"type": "what"}'], 4400),
])
async def test_protocol_violations_close_with_codes(live: Live, frames: list[str], code: int) -> None:
    ws = await websockets.connect(url(live), subprotocols=["graphql-transport-ws"])
    for f in frames:
        await ws.send(f)
    assert (await closed_with(ws))[0] == code


async def test_duplicate_id_and_second_init(live: Live) -> None:
    e1 = await new_event(live, "dup")
    ws = await init(live)
    sub = json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUB, "variables": {"e": e1}}})
    await ws.send(sub)
    await ws.send(sub)
    assert await closed_with(ws) == (4409, "Subscriber for 1 already exists")
    ws = await init(live)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"x-api-key": EVENT_KEY}}))
    assert (await closed_with(ws))[0] == 4429


async def test_init_timeout_closes_4408(live: Live) -> None:
    ws = await websockets.connect(url(live), subprotocols=["graphql-transport-ws"])
    assert (await closed_with(ws))[0] == 4408
