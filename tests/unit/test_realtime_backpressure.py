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
    """A Connection's Socket; a blocked one is a client that never reads: every send joins its backlog."""

    def __init__(self, blocked: bool) -> None:
        self.blocked = blocked
        self.sent: list[bytes] = []
        self.backlogged: list[bytes] = []
        self.closed: tuple[int, str | None] | None = None

    def send(self, payload: bytes) -> None:
        (self.backlogged if self.blocked else self.sent).append(payload)

    def backlog(self) -> tuple[int, int]:
        return len(self.backlogged), sum(map(len, self.backlogged))

    def drop_backlog(self) -> None:
        self.backlogged.clear()

    def keep_alive(self, interval: float) -> bool:
        return False

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)

    def unblock(self) -> None:
        self.sent += self.backlogged
        self.backlogged.clear()


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
        conns.append((sock, conn))
    for i in range(20):
        await server.hub.publish("tickets", [MutationEvent("putTicket", {"id": str(i)}, ("onAnyTicket",))])
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    slow_sock, fast_sock = conns[0][0], conns[1][0]
    assert len(fast_sock.sent) == 20  # every event reached the healthy client
    assert slow_sock.closed == (1013, "Send queue full: client too slow")
    await server.stop()


async def test_a_slow_socket_is_bounded_by_bytes_and_its_queue_freed() -> None:
    """The queue is bounded by what its messages add up to, not only by their count, and a dropped client's queued
    messages are let go at once (they would never be sent)."""
    server = GqlsyncServer(load_app(ROOT / "tests/apps/tickets"), ServerSettings())
    await server.start()
    limits = RealtimeLimits(send_queue=1000, send_queue_bytes=4096)
    sock = FakeSocket(blocked=True)
    conn = AppSyncConnection(sock, server.apis, server.api_id, server.hub, limits, "h", None)
    conn.auth = await conn.authenticate({"x-api-key": "da2-ticketstestkey000001"})
    assert await conn.start_subscription("s", "subscription { onAnyTicket { id } }", {}, None, None) == []
    try:
        for i in range(200):
            await server.hub.publish("tickets", [MutationEvent("putTicket", {"id": f"{i:0>100}"}, ("onAnyTicket",))])
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        assert sock.closed == (1013, "Send queue full: client too slow")  # long before 1000 messages
        assert sock.backlog() == (0, 0)  # what was queued is let go
        sock.unblock()  # the client reads again: nothing more is sent
        assert sock.sent == []
    finally:
        await server.stop()
