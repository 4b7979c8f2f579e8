"""AppSync's real-time protocol on /graphql/realtime: every message, auth, filters, malformed frames."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.realtime.connection import RealtimeLimits
from tests.helpers import EVENT_APP, EVENT_KEY, unique_prefix, with_table_prefix
from tests.live import live_server, messages

pytestmark = pytest.mark.integration

SUB = """subscription S($e: String!) { subscribeToEventComments(eventId: $e) { eventId commentId content createdAt } }"""
COMMENT = """mutation C($e: ID!, $c: String!) { commentOnEvent(eventId: $e, content: $c, createdAt: "2026-11-23") {
  eventId commentId content createdAt } }"""


class Live:
    def __init__(self, base: str, server: GqlsyncServer) -> None:
        self.base = base
        self.server = server
        self.http = httpx.AsyncClient(base_url=base, headers={"x-api-key": EVENT_KEY}, timeout=10)

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        r = await self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        return r.json()

    def ws_url(self, headers: dict[str, str] | None = None) -> str:
        h = headers if headers is not None else {"host": "127.0.0.1", "x-api-key": EVENT_KEY}
        encoded = base64.b64encode(json.dumps(h).encode()).decode()
        return self.base.replace("http", "ws") + f"/graphql/realtime?header={encoded}&payload=e30="


@pytest.fixture
async def live(dynamodb_endpoint: str) -> AsyncIterator[Live]:
    app = with_table_prefix(load_app(EVENT_APP), unique_prefix())
    settings = ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True,
                              realtime=RealtimeLimits(max_subscriptions=3, keepalive_seconds=0.3,
                                                      init_timeout_seconds=1.0, max_message_bytes=8192))
    server = GqlsyncServer(app, settings)
    async with live_server(server) as base:
        client = Live(base, server)
        yield client
        await client.http.aclose()


async def recv(ws: Any, timeout: float = 5.0, skip_ka: bool = True) -> dict[str, Any]:
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if not (skip_ka and msg.get("type") == "ka"):
            return msg


async def no_message(ws: Any, wait: float = 0.6) -> None:
    """Nothing but keep-alives arrives for `wait` seconds."""
    for msg in await messages(ws, wait):
        assert msg.get("type") == "ka", f"unexpected message {msg}"


async def connect(live: Live, **kw: Any) -> Any:
    ws = await websockets.connect(live.ws_url(kw.pop("headers", None)), subprotocols=["graphql-ws"], **kw)
    await ws.send(json.dumps({"type": "connection_init"}))
    ack = await recv(ws)
    assert ack == {"type": "connection_ack", "payload": {"connectionTimeoutMs": 300000}}
    return ws


async def start(ws: Any, sub_id: str, query: str, variables: dict[str, Any], auth: dict[str, str] | None = None) -> dict:
    payload: dict[str, Any] = {"data": json.dumps({"query": query, "variables": variables})}
    payload["extensions"] = {"authorization": auth or {"host": "127.0.0.1", "x-api-key": EVENT_KEY}}
    await ws.send(json.dumps({"id": sub_id, "type": "start", "payload": payload}))
    return await recv(ws)


async def new_event(live: Live, name: str) -> str:
    r = await live.gql('mutation($n: String!) { createEvent(name: $n, when: "w", where: "x", description: "d") { id } }',
                       {"n": name})
    return str(r["data"]["createEvent"]["id"])


async def test_subscribe_receive_exactly_matching_then_stop(live: Live) -> None:
    e1, e2 = await new_event(live, "one"), await new_event(live, "two")
    async with await connect(live) as ws:
        assert await start(ws, "s1", SUB, {"e": e1}) == {"type": "start_ack", "id": "s1"}
        await live.gql(COMMENT, {"e": e2, "c": "elsewhere"})
        await live.gql(COMMENT, {"e": e1, "c": "hello"})
        msg = await recv(ws)
        assert msg["type"] == "data" and msg["id"] == "s1"
        got = msg["payload"]["data"]["subscribeToEventComments"]
        assert got["eventId"] == e1 and got["content"] == "hello" and got["createdAt"] == "2026-11-23"
        await no_message(ws)  # the comment on e2 never arrives
        await ws.send(json.dumps({"type": "stop", "id": "s1"}))
        assert await recv(ws) == {"type": "complete", "id": "s1"}
        await live.gql(COMMENT, {"e": e1, "c": "after stop"})
        await no_message(ws)


async def test_auth_in_subprotocol_header(live: Live) -> None:
    e1 = await new_event(live, "sp")
    h = base64.urlsafe_b64encode(json.dumps({"host": "127.0.0.1", "x-api-key": EVENT_KEY}).encode()).decode().rstrip("=")
    url = live.base.replace("http", "ws") + "/graphql/realtime"
    async with websockets.connect(url, subprotocols=["graphql-ws", f"header-{h}"]) as ws:
        assert ws.subprotocol == "graphql-ws"
        await ws.send(json.dumps({"type": "connection_init"}))
        assert (await recv(ws))["type"] == "connection_ack"
        assert (await start(ws, "a", SUB, {"e": e1}))["type"] == "start_ack"


async def test_wrong_key_is_connection_error_unauthorized(live: Live) -> None:
    ws = await websockets.connect(live.ws_url({"host": "127.0.0.1", "x-api-key": "da2-wrong"}),
                                  subprotocols=["graphql-ws"])
    await ws.send(json.dumps({"type": "connection_init"}))
    msg = await recv(ws)
    assert msg["type"] == "connection_error"
    (err,) = msg["payload"]["errors"]
    assert err["errorType"] == "UnauthorizedException" and err["errorCode"] == 401
    with pytest.raises(websockets.ConnectionClosed):
        await recv(ws, 3)


@pytest.mark.parametrize("headers", [{"host": "127.0.0.1", "x-api-key": "da2-wrong"}, {"host": "127.0.0.1"}],
                         ids=["wrong key", "no credentials"])
async def test_bad_handshake_credentials_close_the_socket_before_connection_init(live: Live,
                                                                                 headers: dict[str, str]) -> None:
    # AppSync checks the handshake's credentials at once: no connection_init is needed to learn of the refusal,
    # and the socket does not stay open until the init timeout.
    ws = await websockets.connect(live.ws_url(headers), subprotocols=["graphql-ws"])
    msg = await recv(ws, 2)  # far less than init_timeout_seconds would take to close a silent socket
    assert msg["type"] == "connection_error"
    assert msg["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
    with pytest.raises(websockets.ConnectionClosed):
        await recv(ws, 2)


async def test_start_without_extensions_authorization_is_refused(live: Live) -> None:
    e1 = await new_event(live, "noauth")
    async with await connect(live) as ws:
        await ws.send(json.dumps({"id": "bare", "type": "start",
                                  "payload": {"data": json.dumps({"query": SUB, "variables": {"e": e1}})}}))
        msg = await recv(ws)
        assert msg["type"] == "error" and msg["id"] == "bare"
        assert msg["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
        assert "extensions.authorization" in msg["payload"]["errors"][0]["message"]
        await live.gql(COMMENT, {"e": e1, "c": "not for the refused start"})
        await no_message(ws)  # the refused start registered nothing
        assert (await start(ws, "good", SUB, {"e": e1}))["type"] == "start_ack"


async def test_per_start_authorization(live: Live) -> None:
    e1 = await new_event(live, "auth")
    async with await connect(live) as ws:
        msg = await start(ws, "bad", SUB, {"e": e1}, auth={"host": "h", "x-api-key": "da2-nope"})
        assert msg["type"] == "error" and msg["id"] == "bad"
        assert msg["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
        assert (await start(ws, "good", SUB, {"e": e1}))["type"] == "start_ack"


@pytest.mark.parametrize("frame,error_type", [
    ("{not json", "BadRequestException"),
    ('"a string"', "BadRequestException"),
    ('{"type": "dance"}', "UnsupportedOperation"),
    ('{"type": "start", "payload": {}}', "BadRequestException"),
    ('{"type": "start", "id": "x", "payload": {"data": "{broken"}}', "BadRequestException"),
    ('{"type": "stop"}', "BadRequestException"),
    ('{"type": "start", "id": "big", "payload": {"data": "' + "x" * 9000 + '"}}', "MaxMessageSizeExceeded"),
])
async def test_malformed_frames_get_errors_and_connection_is_kept(live: Live, frame: str, error_type: str) -> None:
    e1 = await new_event(live, "frames")
    async with await connect(live) as ws:
        await ws.send(frame)
        msg = await recv(ws)
        assert msg["type"] == "error" and msg["payload"]["errors"][0]["errorType"] == error_type
        assert (await start(ws, "ok", SUB, {"e": e1}))["type"] == "start_ack"


async def test_start_before_init_and_duplicate_ids_and_limits(live: Live) -> None:
    e1 = await new_event(live, "dups")
    ws = await websockets.connect(live.ws_url(), subprotocols=["graphql-ws"])
    msg = await start(ws, "early", SUB, {"e": e1})
    assert msg["type"] == "error" and "connection_init" in msg["payload"]["errors"][0]["message"]
    await ws.send(json.dumps({"type": "connection_init"}))
    assert (await recv(ws))["type"] == "connection_ack"
    assert (await start(ws, "a", SUB, {"e": e1}))["type"] == "start_ack"
    dup = await start(ws, "a", SUB, {"e": e1})
    assert dup["type"] == "error" and dup["payload"]["errors"][0]["errorType"] == "DuplicateSubscriptionId"
    assert (await start(ws, "b", SUB, {"e": e1}))["type"] == "start_ack"
    assert (await start(ws, "c", SUB, {"e": e1}))["type"] == "start_ack"
    over = await start(ws, "d", SUB, {"e": e1})
    assert over["payload"]["errors"][0]["errorType"] == "MaxSubscriptionsReachedError"
    await ws.close()


async def test_invalid_subscription_documents(live: Live) -> None:
    async with await connect(live) as ws:
        msg = await start(ws, "v", "subscription { nope }", {})
        assert msg["type"] == "error" and msg["payload"]["errors"][0]["errorType"] == "ValidationError"
        msg = await start(ws, "q", "query { listEvents { nextToken } }", {})
        assert msg["payload"]["errors"][0]["errorType"] == "UnsupportedOperation"
        msg = await start(ws, "m", SUB, {})
        assert msg["type"] == "error" and "$e" in msg["payload"]["errors"][0]["message"]


async def test_only_fields_the_mutation_selected_are_delivered(live: Live) -> None:
    e1 = await new_event(live, "sel")
    async with await connect(live) as ws:
        assert (await start(ws, "s", SUB, {"e": e1}))["type"] == "start_ack"
        await live.gql('mutation($e: ID!) { commentOnEvent(eventId: $e, content: "x", createdAt: "t") { eventId content } }',
                       {"e": e1})
        got = (await recv(ws))["payload"]["data"]["subscribeToEventComments"]
        assert got == {"eventId": e1, "commentId": None, "content": "x", "createdAt": None}
        # a mutation that does not select the filtered argument's field reaches nobody (AppSync's rule)
        await live.gql('mutation($e: ID!) { commentOnEvent(eventId: $e, content: "y", createdAt: "t") { content } }',
                       {"e": e1})
        await no_message(ws)


async def test_keepalives_and_cleanup_on_disconnect(live: Live) -> None:
    e1 = await new_event(live, "ka")
    ws = await connect(live)
    assert (await start(ws, "s", SUB, {"e": e1}))["type"] == "start_ack"
    kas = 0
    for _ in range(3):
        msg = json.loads(await asyncio.wait_for(ws.recv(), 2))
        kas += msg == {"type": "ka"}
    assert kas == 3
    assert live.server.hub.registry.count == 1
    await ws.close()
    for _ in range(100):
        if live.server.hub.registry.count == 0:
            break
        await asyncio.sleep(0.02)
    assert live.server.hub.registry.count == 0


async def test_no_connection_init_times_out(live: Live) -> None:
    ws = await websockets.connect(live.ws_url(), subprotocols=["graphql-ws"])
    msg = await recv(ws, 5)
    assert msg["type"] == "connection_error"
    with pytest.raises(websockets.ConnectionClosed):
        await recv(ws, 3)


async def test_unknown_subprotocol_is_refused(live: Live) -> None:
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(live.base.replace("http", "ws") + "/graphql/realtime", subprotocols=["mqtt"])
