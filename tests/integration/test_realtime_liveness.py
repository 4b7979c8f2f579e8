"""`gqlsync serve` watches realtime sockets once per `ka` interval: an AppSync socket gets its `ka` and a websocket
ping together, a client that answers pings stays, and one that stops answering is closed (1011)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import pytest
import websockets
from websockets.typing import Subprotocol

from tests.helpers import EVENT_APP, EVENT_KEY
from tests.load import Gqlsync

KA_SECONDS = 0.5


@pytest.fixture(scope="module")
def server(dynamodb_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gqlsync]:
    node = Gqlsync(EVENT_APP, tmp_path_factory.mktemp("liveness") / "gqlsync.log", "--dynamodb-endpoint", dynamodb_endpoint,
                   "--keepalive-seconds", str(KA_SECONDS))
    try:
        yield node
    finally:
        node.stop()


def appsync_url(base: str) -> str:
    header = base64.b64encode(json.dumps({"host": "x", "x-api-key": EVENT_KEY}).encode()).decode()
    return base.replace("http", "ws") + f"/graphql/realtime?header={header}&payload=e30="


async def test_a_client_that_answers_pings_stays_and_gets_a_ka_each_round(server: Gqlsync) -> None:
    async with websockets.connect(appsync_url(server.url), subprotocols=[Subprotocol("graphql-ws")],
                                  ping_interval=None) as ws, \
            websockets.connect(server.url.replace("http", "ws") + "/graphql/realtime", ping_interval=None,
                               subprotocols=[Subprotocol("graphql-transport-ws")]) as tws:
        await ws.send(json.dumps({"type": "connection_init"}))
        await tws.send(json.dumps({"type": "connection_init", "payload": {"x-api-key": EVENT_KEY}}))
        assert json.loads(await asyncio.wait_for(tws.recv(), 10)) == {"type": "connection_ack"}
        kas = 0
        while kas < 8:  # four seconds of rounds: each answered by the library, as every client library does
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            kas += msg["type"] == "ka"
        # the graphql-transport-ws socket, pinged by the same rounds, is still served
        await tws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(tws.recv(), 10)) == {"type": "pong"}
        assert ws.close_code is None and tws.close_code is None


async def test_a_client_that_stops_answering_pings_is_closed_with_1011(server: Gqlsync) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        key = base64.b64encode(b"0123456789abcdef").decode()
        header = base64.b64encode(json.dumps({"host": "x", "x-api-key": EVENT_KEY}).encode()).decode()
        writer.write((f"GET /graphql/realtime?header={header}&payload=e30= HTTP/1.1\r\nHost: x\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-ws\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101")
        init = b'{"type":"connection_init"}'
        writer.write(bytes((0x81, 0x80 | len(init))) + b"\0\0\0\0" + init)
        pings = 0
        while True:  # a client that reads but never answers a ping
            b0, b1 = await asyncio.wait_for(reader.readexactly(2), 10 * KA_SECONDS)
            payload = await reader.readexactly(b1 & 0x7F)
            if b0 & 0x0F == 0x9:
                pings += 1
            elif b0 & 0x0F == 0x8:
                break
        assert int.from_bytes(payload[:2], "big") == 1011 and payload[2:] == b"keepalive ping timeout"
        assert pings == 1  # closed at the round after the first unanswered ping
    finally:
        writer.close()
