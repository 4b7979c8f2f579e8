"""The websocket endpoint /graphql/realtime: picks the protocol by subprotocol and decodes AppSync's auth header."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

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


class _StarletteSocket:
    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    async def receive_text(self) -> str:
        """The next text message; a binary one closes the socket with 1003 (both protocols speak JSON text)."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        text = message.get("text")
        if text is None:
            await self.ws.close(1003, "Binary frames are not supported: send JSON text frames")
            raise WebSocketDisconnect(1003)
        return str(text)

    async def send_text(self, data: str) -> None:
        await self.ws.send_text(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        # a close frame's reason is at most 123 bytes (RFC 6455 5.5): a longer one would fail the close itself
        await self.ws.close(code, reason.encode()[:123].decode("utf-8", "ignore") if reason else reason)


async def serve_realtime(ws: WebSocket, apis: ApiRegistry, api_id: str, hub: RealtimeHub,
                         limits: RealtimeLimits) -> None:
    offered = list(ws.scope.get("subprotocols") or [])
    headers: dict[str, str] = {}
    if TRANSPORT_WS in offered:
        protocol, cls = TRANSPORT_WS, TransportWsConnection
        headers = {k: v for k, v in ws.headers.items() if k in ("x-api-key", "authorization")}
    elif APPSYNC in offered:
        protocol, cls = APPSYNC, AppSyncConnection  # type: ignore[assignment]
        encoded = next((p[len("header-"):] for p in offered if p.startswith("header-")), None) or \
            ws.query_params.get("header")
        decoded = _b64json(encoded) if encoded else None
        headers = decoded or {}
    else:
        await ws.close(code=1002, reason=f"Use subprotocol {APPSYNC} (AppSync) or {TRANSPORT_WS}")
        return
    await ws.accept(subprotocol=protocol)
    hub.accepted += 1
    client = ws.client.host if ws.client else None
    path = ws.url.path
    conn: Connection = cls(_StarletteSocket(ws), apis, api_id, hub, limits, ws.headers.get("host"), client,
                           handshake_headers=headers,
                           graphql_path=path[: -len("/realtime")] if path.endswith("/realtime") else path)
    try:
        await conn.serve()
    except WebSocketDisconnect:
        pass
    except RuntimeError:
        pass  # socket closed under us
