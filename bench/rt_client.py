"""Lean realtime bench clients: raw asyncio Protocols that speak just enough websocket and AppSync protocol.

Run as a process (`python bench/rt_client.py`), driven by JSON lines on stdin, answering JSON lines on stdout:
- {"op": "open", "url": "http://h:p", "n": N, "event": E or null, "sources": ["127.0.0.2", ...]}
  opens N connections (connection_init/ack, and a `start` on E when given); answers {"opened": N, "failed": F}
- {"op": "stamps"} answers {"stamps": {"<mutation marker>": [arrival perf_counter, ...]}} and forgets them
- {"op": "count"} answers {"data": frames with data, "ka": ka frames, "pings": protocol pings (each answered with a
  pong), "open": open connections}
- {"op": "close"} closes every connection; answers {"closed": N}
Frames are timestamped when they arrive, before any JSON decoding; only a data frame's `content` marker is read.
perf_counter is CLOCK_MONOTONIC on Linux, so stamps compare across processes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import resource
import sys
import time
from typing import Any

KEY = "da2-gqlsynclocaldevelopmentkey01"
SUB = "subscription($e: String!) { subscribeToEventComments(eventId: $e) { eventId commentId content } }"
_MARK = re.compile(rb'"content":"([^"]*)"')


def masked_text(payload: bytes) -> bytes:
    """A client text frame; the mask key is zero (a valid mask: the payload goes as is)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 65536:
        head = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


class Client(asyncio.Protocol):
    __slots__ = ("buf", "event", "pool", "ready", "state", "transport")

    def __init__(self, pool: Pool, event: str | None) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.state = 0  # 0 handshake, 1 waiting connection_ack, 2 waiting start_ack, 3 ready
        self.event = event
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        header = base64.b64encode(json.dumps({"host": "bench", "x-api-key": KEY}).encode()).decode()
        transport.write((f"GET /graphql/realtime?header={header}&payload=e30= HTTP/1.1\r\nHost: bench\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-ws\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buf = self.buf + data if self.buf else data
        if self.state == 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self._fail()
                return
            buf = buf[end + 4:]
            self.state = 1
            assert self.transport is not None
            self.transport.write(masked_text(b'{"type":"connection_init"}'))
        while len(buf) >= 2:
            n = buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + n:
                break
            self.frame(buf[0] & 0x0F, buf[off:off + n], now)
            buf = buf[off + n:]
        self.buf = buf

    def frame(self, opcode: int, payload: bytes, now: float) -> None:
        pool = self.pool
        if opcode == 8:
            self._fail()
            return
        if opcode == 9:  # a protocol ping: answered, as every websocket client library does
            assert self.transport is not None
            self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
            pool.pings += 1
            return
        if self.state == 3:
            if b'"type":"data"' in payload[:40] or b'"type":"data"' in payload:
                pool.data += 1
                m = _MARK.search(payload)
                if m is not None:
                    pool.stamps.setdefault(m.group(1).decode(), []).append(now)
            elif payload == b'{"type":"ka"}':
                pool.ka += 1
            return
        if self.state == 1 and b'"connection_ack"' in payload:
            if self.event is None:
                self._ready()
                return
            self.state = 2
            assert self.transport is not None
            start = json.dumps({"id": "1", "type": "start", "payload": {
                "data": json.dumps({"query": SUB, "variables": {"e": self.event}}),
                "extensions": {"authorization": {"host": "bench", "x-api-key": KEY}}}})
            self.transport.write(masked_text(start.encode()))
        elif self.state == 2 and b'"start_ack"' in payload:
            self._ready()
        elif b'"type":"error"' in payload or b'"connection_error"' in payload:
            self._fail()

    def _ready(self) -> None:
        self.state = 3
        if not self.ready.done():
            self.ready.set_result(True)

    def _fail(self) -> None:
        if not self.ready.done():
            self.ready.set_result(False)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.clients.discard(self)
        if not self.ready.done():
            self.ready.set_result(False)


class Pool:
    def __init__(self) -> None:
        self.clients: set[Client] = set()
        self.stamps: dict[str, list[float]] = {}
        self.data = 0
        self.ka = 0
        self.pings = 0

    async def open_one(self, host: str, port: int, source: str | None, event: str | None) -> bool:
        loop = asyncio.get_running_loop()
        client = Client(self, event)
        try:
            await loop.create_connection(lambda: client, host, port,
                                         local_addr=(source, 0) if source else None)
        except OSError:
            return False
        self.clients.add(client)
        try:
            return await asyncio.wait_for(client.ready, 60)
        except TimeoutError:
            return False

    async def open(self, url: str, n: int, event: str | None, sources: list[str], batch: int = 500) -> dict[str, int]:
        hostport = url.split("://", 1)[1].rstrip("/")
        host, port = hostport.rsplit(":", 1)
        ok = 0
        for i in range(0, n, batch):
            results = await asyncio.gather(*(
                self.open_one(host, int(port), sources[(i + j) % len(sources)] if sources else None, event)
                for j in range(min(batch, n - i))))
            ok += sum(results)
        return {"opened": ok, "failed": n - ok}

    def close(self) -> int:
        n = len(self.clients)
        for c in list(self.clients):
            if c.transport is not None:
                c.transport.close()
        return n


async def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:  # root may raise the hard limit up to fs.nr_open
        with open("/proc/sys/fs/nr_open") as f:
            most = int(f.read())
        resource.setrlimit(resource.RLIMIT_NOFILE, (most, most))
    except (OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pool = Pool()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = os.fdopen(sys.stdout.fileno(), "w", buffering=1)
    while line := await reader.readline():
        cmd: dict[str, Any] = json.loads(line)
        op = cmd["op"]
        if op == "open":
            answer: dict[str, Any] = await pool.open(cmd["url"], cmd["n"], cmd.get("event"), cmd.get("sources") or [])
        elif op == "stamps":
            answer, pool.stamps = {"stamps": pool.stamps}, {}
        elif op == "count":
            answer = {"data": pool.data, "ka": pool.ka, "pings": pool.pings, "open": len(pool.clients)}
        elif op == "close":
            answer = {"closed": pool.close()}
            await asyncio.sleep(0.5)
        else:
            answer = {"error": f"unknown op {op}"}
        out.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
