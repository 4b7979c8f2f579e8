"""A raw HTTP/1.1 and websocket client on asyncio streams, so resets, hangs and missing close frames are observable."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

HANG = 5.0  # seconds without a byte that count as a hang (only ever a detector; no test asserts speed)


class Reset(Exception):  # noqa: N818
    """The server reset the connection or closed it before a full answer."""


class Hang(Exception):  # noqa: N818
    """No byte arrived within HANG seconds."""


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    version: str = "HTTP/1.1"

    def json(self) -> Any:
        return json.loads(self.body)


async def _read(coro: Any) -> Any:
    try:
        return await asyncio.wait_for(coro, HANG)
    except TimeoutError:
        raise Hang from None
    except (ConnectionResetError, BrokenPipeError) as exc:
        raise Reset(repr(exc)) from None
    except asyncio.IncompleteReadError as exc:
        raise Reset(f"EOF after {len(exc.partial)} bytes, before a full answer") from None


async def read_reply(reader: asyncio.StreamReader, head_only: bool = False) -> Reply:
    """One HTTP response (after any interim 1xx but 101); raises Reset (reset / EOF before the full answer) or Hang."""
    head = await _read(reader.readuntil(b"\r\n\r\n"))
    while head[9:10] == b"1" and head[9:12] != b"101":
        head = await _read(reader.readuntil(b"\r\n\r\n"))
    lines = head.decode("latin-1").split("\r\n")
    version, status, *reason = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    code = int(status)
    if head_only or code in (101, 204, 304) or 100 <= code < 200:
        return Reply(code, reason[0] if reason else "", headers, b"", version)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await _read(reader.readuntil(b"\r\n"))).split(b";")[0].strip(), 16)
            chunk = await _read(reader.readexactly(size + 2))
            if size == 0:
                break
            body += chunk[:-2]
    elif "content-length" in headers:
        body = await _read(reader.readexactly(int(headers["content-length"])))
    else:
        body = await _read(reader.read())
    return Reply(code, reason[0] if reason else "", headers, body, version)


def request_bytes(body: bytes | None, *, path: str = "/graphql", method: str = "POST",
                  headers: dict[str, str] | list[tuple[str, str]] | None = None, version: str = "HTTP/1.1",
                  content_length: bool = True, host: str = "127.0.0.1") -> bytes:
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in items}
    if "host" not in names:
        items.insert(0, ("Host", host))
    if body is not None and content_length and "content-length" not in names and "transfer-encoding" not in names:
        items.append(("Content-Length", str(len(body))))
    head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in items) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def chunked(body: bytes, size: int = 4096) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size))
    return out + b"0\r\n\r\n"


async def exchange(port: int, data: bytes, *, replies: int = 1, write_slowly: bool = False,
                   must_send_all: bool = False) -> list[Reply]:
    """Send `data` on a fresh connection (written concurrently with reading the answers); the answers.

    With must_send_all, a reset while writing (after the answers were read) is a Reset too: the server drained
    what the client sent instead of resetting it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    sent: list[BaseException] = []

    async def send() -> None:
        try:
            step = 1 << 16
            for i in range(0, len(data), step):
                writer.write(data[i:i + step])
                await writer.drain()
                if write_slowly:
                    await asyncio.sleep(0)
        except (ConnectionResetError, BrokenPipeError) as exc:
            sent.append(exc)

    sender = asyncio.ensure_future(send())
    head_only = data.startswith(b"HEAD ")
    try:
        out = [await read_reply(reader, head_only) for _ in range(replies)]
    finally:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(sender, HANG)
        sender.cancel()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if must_send_all and sent:
        raise Reset(f"while sending: {sent[0]!r}")
    return out


# -- websocket frames (RFC 6455), client side: masked

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True, rsv: int = 0) -> bytes:
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + _xor(payload, key)


def _xor(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


@dataclass
class Frame:
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        return struct.unpack("!H", self.payload[:2])[0] if self.opcode == CLOSE and len(self.payload) >= 2 else None

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class RawSocket:
    """A websocket client that sends whatever bytes it is told to and reports what came back, frame by frame."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    handshake: Reply
    frames: list[Frame] = field(default_factory=list)

    async def send(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise Reset(repr(exc)) from None

    async def send_text(self, text: str | dict[str, Any]) -> None:
        await self.send(frame(TEXT, (text if isinstance(text, str) else json.dumps(text)).encode()))

    async def recv(self) -> Frame:
        """The next frame; raises Reset on EOF/reset (a TCP drop: no close frame), Hang on silence."""
        b1, b2 = await _read(self.reader.readexactly(2))
        n = b2 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await _read(self.reader.readexactly(2)))[0]
        elif n == 127:
            n = struct.unpack("!Q", await _read(self.reader.readexactly(8)))[0]
        payload = await _read(self.reader.readexactly(n)) if n else b""
        f = Frame(b1 & 0x0F, payload)
        self.frames.append(f)
        return f

    async def recv_json(self, skip: tuple[str, ...] = ("ka",)) -> dict[str, Any]:
        """The next JSON message (skipping keep-alives); a close frame raises AssertionError naming its code."""
        while True:
            f = await self.recv()
            if f.opcode == CLOSE:
                raise AssertionError(f"closed with {f.close_code}: {f.payload[2:]!r}")
            if f.opcode == TEXT:
                msg: dict[str, Any] = f.json()
                if msg.get("type") not in skip:
                    return msg

    async def until_close(self) -> tuple[list[dict[str, Any]], Frame]:
        """Every message up to the server's close frame, and that frame; Reset if the TCP drops without one."""
        messages: list[dict[str, Any]] = []
        while True:
            f = await self.recv()
            if f.opcode == CLOSE:
                with contextlib.suppress(Exception):
                    await self.send(frame(CLOSE, f.payload[:2]))
                return messages, f
            if f.opcode == TEXT:
                messages.append(f.json())

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.write(frame(CLOSE, struct.pack("!H", 1000)))
            await self.writer.drain()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def appsync_header(headers: dict[str, str]) -> str:
    return base64.b64encode(json.dumps(headers).encode()).decode()


async def ws_connect(port: int, *, path: str = "/graphql/realtime", query: str | None = None,
                     subprotocols: str | None = "graphql-ws", extra: list[tuple[str, str]] | None = None,
                     expect_upgrade: bool = True) -> RawSocket:
    """The handshake by hand; with expect_upgrade the answer must be 101 (else AssertionError with the answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    key = base64.b64encode(os.urandom(16)).decode()
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
               ("Sec-WebSocket-Version", "13")]
    if subprotocols:
        headers.append(("Sec-WebSocket-Protocol", subprotocols))
    headers.extend(extra or [])
    target = path + (f"?{query}" if query else "")
    writer.write(request_bytes(None, method="GET", path=target, headers=headers))
    await writer.drain()
    reply = await read_reply(reader, head_only=True)
    sock = RawSocket(reader, writer, reply)
    if expect_upgrade:
        assert reply.status == 101, f"handshake answered {reply.status} {reply.reason}"
    elif reply.status != 101 and "content-length" in reply.headers:
        reply.body = await _read(reader.readexactly(int(reply.headers["content-length"])))
    return sock
