"""The native realtime path (realtime/wire.py): no task per idle connection, bounded sends, both protocols."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from gqlsync.app import load_app
from gqlsync.engine.subscriptions import MutationEvent
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.realtime.appsync_protocol import AppSyncConnection
from gqlsync.realtime.connection import Connection, RealtimeLimits
from gqlsync.realtime.hub import KA
from gqlsync.realtime.transport_ws import TransportWsConnection
from gqlsync.realtime.wire import PingSweep, WebSocketWire, frame
from tests.helpers import ROOT

KEY = "da2-ticketstestkey000001"


class FakeTransport:
    """Records what is written; `full` makes it a client that does not read (the buffer stays paused)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.protocol: Any = None
        self.closed = False
        self.reading = True

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self) -> None:
        self.closed = True

    def messages(self) -> list[tuple[int, bytes]]:
        out = []
        for data in self.written:
            n, off = data[1] & 0x7F, 2
            if n == 126:
                n, off = int.from_bytes(data[2:4], "big"), 4
            elif n == 127:
                n, off = int.from_bytes(data[2:10], "big"), 10
            out.append((data[0] & 0x0F, data[off:off + n]))
        return out

    def texts(self) -> list[dict[str, Any]]:
        return [json.loads(p) for op, p in self.messages() if op == 1]


def client_text(message: dict[str, Any]) -> bytes:
    payload = json.dumps(message).encode()
    assert len(payload) < 126
    return bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload


async def settle(conn: Connection) -> None:
    for _ in range(100):
        if conn.busy is None:
            await asyncio.sleep(0)
            if conn.busy is None:
                return
        await asyncio.sleep(0)
    raise AssertionError("the connection stayed busy")


async def open_wire(server: GqlsyncServer, cls: type[Connection], limits: RealtimeLimits | None = None,
                    headers: dict[str, str] | None = None, sweep: PingSweep | None = None
                    ) -> tuple[FakeTransport, WebSocketWire, Connection]:
    transport = FakeTransport()
    wire = WebSocketWire(transport, 1024 * 1024, sweep=sweep)
    conn = cls(wire, server.apis, server.api_id, server.hub, limits or server.settings.realtime, "h", "127.0.0.1",
               handshake_headers=headers)
    wire.start(conn, b"")
    await settle(conn)
    await asyncio.sleep(0)
    assert transport.protocol is wire
    return transport, wire, conn


async def subscribe_to_any_ticket(wire: WebSocketWire, conn: Connection) -> None:
    """connection_init, then a start (s-1) on onAnyTicket, in a frame with a 16-bit length."""
    wire.data_received(client_text({"type": "connection_init"}))
    start = {"id": "s-1", "type": "start", "payload": {
        "data": json.dumps({"query": "subscription { onAnyTicket { id } }"}),
        "extensions": {"authorization": {"x-api-key": KEY}}}}
    payload = json.dumps(start).encode()
    wire.data_received(bytes((0x81, 0x80 | 126)) + len(payload).to_bytes(2, "big") + b"\0\0\0\0" + payload)
    await settle(conn)


async def tickets() -> GqlsyncServer:
    server = GqlsyncServer(load_app(ROOT / "tests/apps/tickets"), ServerSettings())
    await server.start()
    return server


async def test_an_idle_appsync_connection_holds_no_task() -> None:
    server = await tickets()
    try:
        baseline = asyncio.all_tasks()
        transport, wire, conn = await open_wire(server, AppSyncConnection, headers={"x-api-key": KEY})
        wire.data_received(client_text({"type": "connection_init"}))
        await settle(conn)
        assert [m["type"] for m in transport.texts()] == ["connection_ack", "ka"]
        # the hub's one keep-alive loop (for every connection) is the only task that appeared
        assert conn.busy is None and asyncio.all_tasks() - {server.hub._ka_task} == baseline
        assert conn.subscriptions is None  # made by the first subscription only
        conn.send(b'{"type":"ka"}')  # what the hub's keep-alive round sends, straight to the transport
        assert transport.texts()[-1] == {"type": "ka"}
        wire.connection_lost(None)
        assert conn not in server.hub.connections
    finally:
        await server.stop()


async def test_a_subscription_over_the_wire_gets_its_events_with_its_id() -> None:
    server = await tickets()
    try:
        transport, wire, conn = await open_wire(server, AppSyncConnection, headers={"x-api-key": KEY})
        await subscribe_to_any_ticket(wire, conn)
        assert transport.texts()[-1] == {"type": "start_ack", "id": "s-1"}
        await server.hub.publish("tickets", [MutationEvent("putTicket", {"id": "7"}, ("onAnyTicket",))])
        assert transport.texts()[-1] == {"type": "data", "id": "s-1", "payload": {"data": {"onAnyTicket": {"id": "7"}}}}
    finally:
        await server.stop()


async def test_graphql_transport_ws_over_the_wire() -> None:
    server = await tickets()
    try:
        transport, wire, conn = await open_wire(server, TransportWsConnection)
        wire.data_received(client_text({"type": "connection_init", "payload": {"x-api-key": KEY}}))
        await settle(conn)
        wire.data_received(client_text({"type": "ping"}))
        assert [m["type"] for m in transport.texts()] == ["connection_ack", "pong"]
        wire.data_received(client_text({"type": "connection_init"}))
        await settle(conn)
        op, payload = transport.messages()[-1]
        assert op == 0x8 and int.from_bytes(payload[:2], "big") == 4429
    finally:
        await server.stop()


async def test_a_client_that_does_not_read_is_closed_with_1013_at_the_byte_budget() -> None:
    server = await tickets()
    try:
        limits = RealtimeLimits(send_queue=1000, send_queue_bytes=4096)
        transport, wire, conn = await open_wire(server, AppSyncConnection, limits, headers={"x-api-key": KEY})
        wire.pause_writing()  # the transport's buffer is full: the client stopped reading
        written = len(transport.written)
        for i in range(200):
            conn.send({"type": "data", "id": "x", "payload": {"pad": f"{i:0>100}"}})
        assert len(transport.written) == written  # nothing more reached the transport
        assert wire.backlog() == (0, 0)  # the backlog was let go when the budget ran out
        wire.resume_writing()  # the client reads again: only the close follows
        (op, payload), = transport.messages()[written:]
        assert op == 0x8 and payload == (1013).to_bytes(2, "big") + b"Send queue full: client too slow"
    finally:
        await server.stop()


async def test_reading_pauses_while_a_message_is_handled_and_order_is_kept() -> None:
    server = await tickets()
    try:
        transport, wire, conn = await open_wire(server, AppSyncConnection, headers={"x-api-key": KEY})
        start = {"id": "a", "type": "start", "payload": {
            "data": json.dumps({"query": "subscription { onAnyTicket { id } }"}),
            "extensions": {"authorization": {"x-api-key": KEY}}}}
        payload = json.dumps(start).encode()
        big = bytes((0x81, 0x80 | 126)) + len(payload).to_bytes(2, "big") + b"\0\0\0\0" + payload
        wire.data_received(client_text({"type": "connection_init"}) + big + client_text({"type": "stop", "id": "a"}))
        assert not transport.reading  # the start is being handled: nothing more is read meanwhile
        await settle(conn)
        assert transport.reading
        assert [m["type"] for m in transport.texts()] == ["connection_ack", "ka", "start_ack", "complete"]
        assert not conn.subscriptions
    finally:
        await server.stop()


def client_pong(payload: bytes) -> bytes:
    return bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload


@contextlib.asynccontextmanager
async def ping_rounds(*per_ka: float) -> AsyncIterator[tuple[GqlsyncServer, list[PingSweep]]]:
    """A server and ping rounds at these multiples of its `ka` interval (their timers cancelled after)."""
    server = await tickets()
    sweeps = [PingSweep(server.settings.realtime.keepalive_seconds * k) for k in per_ka]
    try:
        yield server, sweeps
    finally:
        for sweep in sweeps:
            if sweep._handle is not None:
                sweep._handle.cancel()
        await server.stop()


async def acked(server: GqlsyncServer, sweep: PingSweep) -> tuple[FakeTransport, WebSocketWire, Connection]:
    """An AppSync connection on `sweep`, after its connection_ack."""
    transport, wire, conn = await open_wire(server, AppSyncConnection, headers={"x-api-key": KEY}, sweep=sweep)
    wire.data_received(client_text({"type": "connection_init"}))
    await settle(conn)
    return transport, wire, conn


async def test_the_ping_round_carries_the_ka_in_the_same_write_and_closes_a_peer_that_stopped_answering() -> None:
    async with ping_rounds(1) as (server, [sweep]):
        transport, wire, conn = await acked(server, sweep)
        assert [m["type"] for m in transport.texts()] == ["connection_ack", "ka"]
        assert conn not in server.hub._ka_members  # its keep-alives come with the pings, not from the hub's round
        written = len(transport.written)
        sweep._round()
        assert transport.written[written:] == [frame(0x1, KA) + frame(0x9, sweep.payload)]  # one write
        wire.data_received(client_pong(b"????"))  # not this round's payload: does not count
        wire.data_received(client_pong(sweep.payload))
        sweep._round()  # answered: pinged again, still open
        assert transport.written[written + 1:] == [frame(0x1, KA) + frame(0x9, sweep.payload)]
        assert not transport.closed
        sweep._round()  # the last round's ping went unanswered: closed
        op, payload = transport.messages()[-1]
        assert transport.closed and op == 0x8 and payload == (1011).to_bytes(2, "big") + b"keepalive ping timeout"


async def test_the_ka_waits_behind_a_backlog_and_the_ping_does_not() -> None:
    async with ping_rounds(1) as (server, [sweep]):
        transport, wire, conn = await acked(server, sweep)
        wire.pause_writing()
        conn.send({"type": "data", "id": "x", "payload": {}})
        written = len(transport.written)
        sweep._round()
        assert transport.written[written:] == [frame(0x9, sweep.payload)]
        wire.resume_writing()
        assert [m["type"] for m in transport.texts()[-2:]] == ["data", "ka"]


async def test_pings_at_another_interval_leave_the_ka_to_the_hub_and_transport_ws_gets_pings_only() -> None:
    async with ping_rounds(1 / 3, 1) as (server, [other, same]):
        transport, wire, conn = await acked(server, other)
        assert not wire.ka and conn in server.hub._ka_members
        written = len(transport.written)
        other._round()
        assert transport.written[written:] == [frame(0x9, other.payload)]

        transport, wire, conn = await open_wire(server, TransportWsConnection, sweep=same)
        wire.data_received(client_text({"type": "connection_init", "payload": {"x-api-key": KEY}}))
        await settle(conn)
        written = len(transport.written)
        same._round()
        assert transport.written[written:] == [frame(0x9, same.payload)]


async def test_realtime_metrics_count_connections_subscriptions_deliveries_and_time_the_fan_out() -> None:
    server = await tickets()
    registry = server.metrics.registry

    def sample(name: str) -> float:
        return registry.get_sample_value(name) or 0.0

    try:
        _transport, wire, conn = await open_wire(server, AppSyncConnection, headers={"x-api-key": KEY})
        server.hub.accepted += 1  # what the listener counts when it hands a socket over
        await subscribe_to_any_ticket(wire, conn)
        assert (sample("gqlsync_realtime_connections"), sample("gqlsync_realtime_subscriptions"),
                sample("gqlsync_realtime_connections_accepted_total")) == (1, 1, 1)
        await server.hub.publish("tickets", [MutationEvent("putTicket", {"id": "7"}, ("onAnyTicket",))])
        await asyncio.sleep(0)  # the fan-out is timed once its writes are flushed, in the next turn
        assert sample("gqlsync_realtime_deliveries_total") == 1
        assert sample("gqlsync_realtime_fanout_seconds_count") == 1
        # an event no subscriber takes is not a fan-out
        await server.hub.publish("tickets", [MutationEvent("putTicket", {"id": "8"}, ("onOtherTicket",))])
        await asyncio.sleep(0)
        assert sample("gqlsync_realtime_fanout_seconds_count") == 1
        wire.connection_lost(None)
        assert (sample("gqlsync_realtime_connections"), sample("gqlsync_realtime_subscriptions")) == (0, 0)
        assert b"gqlsync_realtime_fanout_seconds_bucket" in server.metrics.exposition()
    finally:
        await server.stop()
