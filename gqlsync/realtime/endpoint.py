"""The websocket endpoint /graphql/realtime: picks the protocol by subprotocol and decodes AppSync's auth header.

`negotiate` is shared by both ways a realtime socket is served: `serve_realtime` (the ASGI route, for gqlsync
embedded in any ASGI server: a task per connection reads, a writer task sends) and gqlsync's own listener
(gqlsync/http/listener.py with realtime/wire.py: no task per connection).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from starlette.websockets import WebSocket

from gqlsync.apis import ApiRegistry
from gqlsync.realtime.appsync_protocol import AppSyncConnection
from gqlsync.realtime.connection import Connection, RealtimeLimits
from gqlsync.realtime.hub import RealtimeHub
from gqlsync.realtime.transport_ws import TransportWsConnection

APPSYNC = "graphql-ws"
TRANSPORT_WS = "graphql-transport-ws"


def _b64json(text: str) -> dict[str, Any] | None:
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            value = json.loads(decode(padded))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        if isinstance(value, dict):
            return {str(k).lower(): str(v) for k, v in value.items() if isinstance(v, (str, int, float))}
    return None


def negotiate(offered: list[str], header: Any, query_string: str
              ) -> tuple[str, type[Connection], dict[str, str]] | None:
    """The subprotocol, connection class and handshake credentials for a handshake; None: no protocol we speak.
    `header(name)` is a handshake header (lower-case name) or None."""
    if TRANSPORT_WS in offered:
        return TRANSPORT_WS, TransportWsConnection, {k: v for k in ("x-api-key", "authorization")
                                                     if (v := header(k)) is not None}
    if APPSYNC in offered:
        encoded = next((p[len("header-"):] for p in offered if p.startswith("header-")), None)
        if not encoded:
            values = parse_qs(query_string, keep_blank_values=True).get("header")
            encoded = values[-1] if values else None
        decoded = _b64json(encoded) if encoded else None
        return APPSYNC, AppSyncConnection, decoded or {}
    return None


def refusal() -> str:
    return f"Use subprotocol {APPSYNC} (AppSync) or {TRANSPORT_WS}"


def graphql_path(path: str) -> str:
    return path[: -len("/realtime")] if path.endswith("/realtime") else path


class AsgiSocket:
    """A Connection's Socket over an ASGI websocket: sends queue for a writer task (the ASGI send awaits)."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.queue: deque[bytes | tuple[int, str | None]] = deque()
        self.queued_bytes = 0
        self.wake = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None

    def send(self, payload: bytes) -> None:
        self.queue.append(payload)
        self.queued_bytes += len(payload)
        self.wake.set()

    def backlog(self) -> tuple[int, int]:
        return len(self.queue), self.queued_bytes

    def drop_backlog(self) -> None:
        self.queue.clear()
        self.queued_bytes = 0

    def keep_alive(self, interval: float) -> bool:
        return False  # uvicorn pings this socket on its own timer; the hub sends the `ka`

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.queue.append((code, reason))
        self.wake.set()

    async def write(self) -> None:
        while True:
            while not self.queue:
                self.wake.clear()
                await self.wake.wait()
            item = self.queue.popleft()
            if isinstance(item, tuple):
                code, reason = item
                # a close frame's reason is at most 123 bytes (RFC 6455 5.5): a longer one would fail the close
                await self.ws.close(code, reason.encode()[:123].decode("utf-8", "ignore") if reason else reason)
                return
            self.queued_bytes -= len(item)
            await self.ws.send_text(item.decode())


async def serve_realtime(ws: WebSocket, apis: ApiRegistry, api_id: str, hub: RealtimeHub,
                         limits: RealtimeLimits) -> None:
    chosen = negotiate(list(ws.scope.get("subprotocols") or []), ws.headers.get,
                       ws.scope.get("query_string", b"").decode("latin-1"))
    if chosen is None:
        await ws.close(code=1002, reason=refusal())
        return
    protocol, cls, headers = chosen
    await ws.accept(subprotocol=protocol)
    hub.accepted += 1
    client = ws.client.host if ws.client else None
    socket = AsgiSocket(ws)
    conn = cls(socket, apis, api_id, hub, limits, ws.headers.get("host"), client, handshake_headers=headers,
               graphql_path=graphql_path(ws.url.path))
    writer = socket.writer = asyncio.ensure_future(socket.write())
    conn.open()
    try:
        while not writer.done():
            if conn.busy is not None:
                await asyncio.wait([conn.busy, writer], return_when=asyncio.FIRST_COMPLETED)
                continue
            receive = asyncio.ensure_future(ws.receive())
            await asyncio.wait([receive, writer], return_when=asyncio.FIRST_COMPLETED)
            if not receive.done():
                receive.cancel()
                break
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                conn.close(1003, "Binary frames are not supported: send JSON text frames")
                continue
            conn.receive(str(text))
    except RuntimeError:
        pass  # socket closed under us
    finally:
        conn.closed()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(writer, 2)
        writer.cancel()
