"""A websocket after its handshake, as a bare asyncio Protocol: RFC 6455 frames in and out for one Connection.

What `gqlsync serve` runs /graphql/realtime on (gqlsync/http/listener.py hands the socket over after the 101): no
task, no queue, no parser generator per connection: frames are parsed in `data_received` and each text message is
handed to the Connection; sends are written to the transport at once, and only while the transport's buffer is
full (pause_writing) do they wait in a backlog, which the Connection bounds. Close codes are those of the websockets
library the ASGI path runs on: 1002 protocol errors, 1003 binary messages, 1007 invalid UTF-8, 1009 too large.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import Any

from gqlsync.realtime.connection import Connection
from gqlsync.realtime.hub import KA

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the pure-Python fallback the library ships
    from websockets.utils import apply_mask

CLOSE_TIMEOUT_SECONDS = 10.0  # how long a close waits for the client's answering close frame (uvicorn's)
_TEXT, _BINARY, _CONT, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
_VALID_CLOSE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}


def frame(opcode: int, payload: bytes) -> bytes:
    """A server frame (unmasked, final)."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big") + payload


def close_payload(code: int, reason: str) -> bytes:
    # a close frame's reason is at most 123 bytes (RFC 6455 5.5)
    return code.to_bytes(2, "big") + reason.encode()[:123].decode("utf-8", "ignore").encode()


class PingSweep:
    """Protocol-level pings for every native websocket in one timer (not one per connection): each round pings
    every socket; a socket that did not answer the previous round's ping is closed (1011). A socket whose protocol
    sends `ka` keep-alives at the same interval gets its `ka` in the round too, in the same write as the ping: one
    send and one pong per socket per interval, instead of a `ka` round and a ping round at their own times."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.members: set[WebSocketWire] = set()
        self.payload = b""
        self._handle: asyncio.TimerHandle | None = None
        self._ka = frame(_TEXT, KA)

    def add(self, wire: WebSocketWire) -> None:
        self.members.add(wire)
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self.interval, self._round)

    def _round(self) -> None:
        self._handle = None
        self.payload = os.urandom(4)
        ping = frame(_PING, self.payload)
        ka_ping = self._ka + ping
        for wire in list(self.members):
            wire.ping(ping, ka_ping)
        if self.members:
            self._handle = asyncio.get_running_loop().call_later(self.interval, self._round)


class WebSocketWire(asyncio.Protocol):
    """One accepted websocket carrying one Connection; also the Connection's Socket."""

    __slots__ = (
        "_kind",
        "buf",
        "close_frame",
        "close_sent",
        "close_timer",
        "conn",
        "gone",
        "ka",
        "max_size",
        "parts",
        "parts_size",
        "paused_by_work",
        "pending",
        "pending_bytes",
        "ping_due",
        "registry",
        "sweep",
        "transport",
        "write_paused",
    )

    def __init__(self, transport: Any, max_size: int, registry: set[Any] | None = None,
                 sweep: PingSweep | None = None) -> None:
        self.transport = transport
        self.conn: Connection | None = None
        self.max_size = max_size
        self.buf = b""
        self.parts: list[bytes] | None = None  # a fragmented text message being reassembled
        self.parts_size = 0
        self.paused_by_work = False
        self.write_paused = False
        self.pending: deque[bytes] | None = None
        self.pending_bytes = 0
        self.close_frame: bytes | None = None
        self.close_sent = False
        self.close_timer: asyncio.TimerHandle | None = None
        self.registry = registry  # the server's open connections (uvicorn shuts each down on exit)
        self.sweep = sweep
        self.ping_due = False
        self.ka = False  # the ping round sends this socket its `ka` keep-alives (keep_alive)
        self.gone = False
        self._kind = _TEXT

    def start(self, conn: Connection, data: bytes) -> None:
        """Take over the transport for `conn`; `data`: what arrived after the handshake."""
        self.conn = conn
        if self.registry is not None:
            self.registry.add(self)
        if self.sweep is not None:
            self.sweep.add(self)
        # soon, not now: uvicorn's HTTP protocol sets the transport's protocol to the websocket one after the
        # handshake bytes were handed to it (which is where this runs); anything read later comes here
        asyncio.get_running_loop().call_soon(self.transport.set_protocol, self)
        conn.open()
        if data:
            self.data_received(data)

    # -- reading
    def data_received(self, data: bytes) -> None:
        if self.gone:
            return
        if getattr(self.transport, "lingering", False):  # closed: what still arrives is discarded
            self.transport.discard(data)
            return
        self.buf = self.buf + data if self.buf else data
        self._parse()

    def _parse(self) -> None:
        buf = self.buf
        pos = 0
        end = len(buf)
        conn = self.conn
        while end - pos >= 2 and not self.gone:
            if conn is not None and conn.busy is not None and not self.close_sent:
                self._wait_for(conn.busy)
                break
            b0, b1 = buf[pos], buf[pos + 1]
            if b0 & 0x70:
                self.fail(1002, "reserved bits must be 0")
                return
            if not b1 & 0x80:
                self.fail(1002, "incorrect masking")
                return
            n = b1 & 0x7F
            off = pos + 2
            if n == 126:
                if end - off < 2:
                    break
                n = int.from_bytes(buf[off:off + 2], "big")
                off += 2
            elif n == 127:
                if end - off < 8:
                    break
                n = int.from_bytes(buf[off:off + 8], "big")
                off += 8
            opcode = b0 & 0x0F
            if opcode >= 0x8 and (n > 125 or not b0 & 0x80):
                self.fail(1002, "invalid control frame")
                return
            if n > self.max_size or (opcode == _CONT and self.parts_size + n > self.max_size):
                self.fail(1009, f"over size limit ({max(n, self.parts_size + n)} > {self.max_size} bytes)")
                return
            if end - off < 4 + n:
                break
            payload = apply_mask(buf[off + 4:off + 4 + n], buf[off:off + 4])
            pos = off + 4 + n
            self._frame(opcode, bool(b0 & 0x80), payload)
        self.buf = buf[pos:] if pos < end else b""

    def _wait_for(self, task: asyncio.Task[None]) -> None:
        if not self.paused_by_work:
            self.paused_by_work = True
            self.transport.pause_reading()
            task.add_done_callback(self._work_done)

    def _work_done(self, _task: object) -> None:
        self.paused_by_work = False
        if self.gone:
            return
        self.transport.resume_reading()
        self._parse()

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> None:
        if opcode in (_TEXT, _BINARY):
            if self.parts is not None:
                self.fail(1002, "expected a continuation frame")
                return
            if fin:
                self._message(opcode, payload)
            else:
                self.parts, self.parts_size = [payload], len(payload)
                self._kind = opcode
        elif opcode == _CONT:
            if self.parts is None:
                self.fail(1002, "unexpected continuation frame")
                return
            self.parts.append(payload)
            self.parts_size += len(payload)
            if fin:
                parts, self.parts, self.parts_size = self.parts, None, 0
                self._message(self._kind, b"".join(parts))
        elif opcode == _PING:
            if not self.close_sent:
                self.transport.write(frame(_PONG, payload))
        elif opcode == _PONG:
            if self.sweep is not None and payload == self.sweep.payload:
                self.ping_due = False
        elif opcode == _CLOSE:
            self._close_received(payload)
        else:
            self.fail(1002, f"invalid opcode {opcode}")

    def _message(self, opcode: int, payload: bytes) -> None:
        if self.close_sent or self.conn is None:
            return
        if opcode == _BINARY:
            self.conn.close(1003, "Binary frames are not supported: send JSON text frames")
            return
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            self.fail(1007, "Invalid UTF-8 in a text message")
            return
        self.conn.receive(text)

    def _close_received(self, payload: bytes) -> None:
        if len(payload) == 1:
            self.fail(1002, "close frame too short")
            return
        if payload:
            code = int.from_bytes(payload[:2], "big")
            if code not in _VALID_CLOSE and not 3000 <= code < 5000:
                self.fail(1002, f"invalid status code {code}")
                return
            try:
                payload[2:].decode()
            except UnicodeDecodeError:
                self.fail(1007, "invalid UTF-8 in the close reason")
                return
        if not self.close_sent:
            self.close_sent = True
            self.pending = None
            self.transport.write(frame(_CLOSE, payload[:2]))  # the answer echoes the code, as websockets does
        self._finish()

    # -- the Socket the Connection writes to
    def send(self, payload: bytes) -> None:
        if self.close_sent or self.close_frame is not None:
            return
        data = frame(_TEXT, payload)
        if self.pending is None:
            self.transport.write(data)
        else:
            self.pending.append(data)
            self.pending_bytes += len(data)

    def keep_alive(self, interval: float) -> bool:
        """Send the protocol's `ka` every `interval` seconds with this socket's pings, if they go out at that
        interval; False: they do not (or there are none), and the caller sends its keep-alives itself."""
        if self.sweep is None or self.sweep.interval != interval:
            return False
        self.ka = True
        return True

    def backlog(self) -> tuple[int, int]:
        return (len(self.pending), self.pending_bytes) if self.pending else (0, 0)

    def drop_backlog(self) -> None:
        if self.pending:
            self.pending.clear()
        self.pending_bytes = 0

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        if self.close_sent or self.close_frame is not None or self.gone:
            return
        self.close_frame = frame(_CLOSE, close_payload(code, reason or ""))
        if self.pending is None:
            self._send_close()

    def _send_close(self) -> None:
        assert self.close_frame is not None
        self.close_sent = True
        self.transport.write(self.close_frame)
        if self.paused_by_work:  # keep reading: the client's answering close frame ends the connection
            self.paused_by_work = False
            self.transport.resume_reading()
        self.close_timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT_SECONDS, self.transport.close)

    def fail(self, code: int, reason: str) -> None:
        """A protocol error: close frame, then the TCP connection at once."""
        if not self.close_sent:
            self.close_sent = True
            self.pending = None
            self.transport.write(frame(_CLOSE, close_payload(code, reason)))
        self._finish()

    def ping(self, ping: bytes, ka_ping: bytes) -> None:
        """One round: `ping`, or `ka_ping` (the `ka` frame, then the ping) for a socket that takes its keep-alives
        from the round."""
        if self.close_sent or self.gone:
            return
        if self.ping_due:
            self.fail(1011, "keepalive ping timeout")
            return
        self.ping_due = True
        if not self.ka:
            self.transport.write(ping)
        elif self.pending is None:
            self.transport.write(ka_ping)
        else:  # writes are paused: the `ka` waits behind the backlog (within the connection's bounds), the ping not
            if self.conn is not None:
                self.conn.send(KA)
            if not self.close_sent and self.close_frame is None:  # not if that `ka` found the client too slow
                self.transport.write(ping)

    def shutdown(self) -> None:
        """uvicorn is exiting: close (1012, as its own websocket protocol does) and drop the connection."""
        if not self.close_sent:
            self.close_sent = True
            self.pending = None
            self.transport.write(frame(_CLOSE, (1012).to_bytes(2, "big")))
        self._finish()

    def _finish(self) -> None:
        if self.conn is not None:
            self.conn.closed()
        self.transport.close()

    # -- transport flow control and end
    def pause_writing(self) -> None:
        self.write_paused = True
        if self.pending is None:
            self.pending = deque()

    def resume_writing(self) -> None:
        self.write_paused = False
        pending = self.pending
        while pending and not self.write_paused:
            data = pending.popleft()
            self.pending_bytes -= len(data)
            self.transport.write(data)
        if not self.write_paused:
            self.pending = None
            self.pending_bytes = 0
            if self.close_frame is not None and not self.close_sent:
                self._send_close()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        self.pending = None
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        if self.registry is not None:
            self.registry.discard(self)
        if self.sweep is not None:
            self.sweep.members.discard(self)
        lost = getattr(self.transport, "lost", None)
        if lost is not None:
            lost()
        if self.conn is not None:
            self.conn.closed()
