"""A slow consumer never stalls delivery to others, and is disconnected loudly instead of being waited for."""

from __future__ import annotations

import asyncio

from gqlsync.app import load_app
from gqlsync.engine.subscriptions import MutationEvent
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.realtime.appsync_protocol import AppSyncConnection
from gqlsync.realtime.connection import RealtimeLimits
from tests.helpers import ROOT


class FakeSocket:
    def __init__(self, blocked: bool) -> None:
        self.blocked = blocked
        self.sent: list[str] = []
        self.closed: tuple[int, str | None] | None = None
        self.gate = asyncio.Event()

    async def receive_text(self) -> str:
        await asyncio.Event().wait()
        return ""

    async def send_text(self, data: str) -> None:
        if self.blocked:
            await self.gate.wait()  # a client that never reads
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)


async def test_slow_socket_is_dropped_and_others_keep_receiving() -> None:
    server = GqlsyncServer(load_app(ROOT / "tests/apps/tickets"), ServerSettings())
    await server.start()
    limits = RealtimeLimits(send_queue=5)
    conns = []
    for blocked in (True, False):
        sock = FakeSocket(blocked)
        conn = AppSyncConnection(sock, server.apis, server.api_id, server.hub, limits, "h", None)
        conn.auth = await conn.authenticate({"x-api-key": "da2-ticketstestkey000001"})
        errors = await conn.start_subscription("s", "subscription { onAnyTicket { id } }", {}, None, None)
        assert errors == []
        conns.append((sock, conn, asyncio.ensure_future(conn._writer())))
    for i in range(20):
        await server.hub.publish("tickets", [MutationEvent("putTicket", {"id": str(i)}, ("onAnyTicket",))])
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    slow_sock, fast_sock = conns[0][0], conns[1][0]
    assert len(fast_sock.sent) == 20  # every event reached the healthy client
    assert slow_sock.closed == (1013, "Send queue full: client too slow")
    for _, _, writer in conns:
        writer.cancel()
    await server.stop()
