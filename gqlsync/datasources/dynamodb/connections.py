"""HTTP/1.1 keep-alive connections to one DynamoDB endpoint, for the wire client: POST a body, read the answer.

DynamoDB's data plane is one request shape (POST / with a JSON body) on long-lived connections, so this pool does
only that: asyncio protocols with httptools (the parser uvicorn uses) reading the responses, a bounded number of
connections kept open and reused, TLS through the standard library. Measured against aiohttp's ClientSession for
the same signed GetItem against DynamoDB Local (/tmp benchmarks while building it): ~43 µs of CPU per call
against ~118 µs — the session's general machinery (cookies, tracing, redirects, multidict headers, payload
registry) was a quarter of a getEvent's CPU in py-spy profiles.

A connection that fails, is closed by the server (`connection: close`, HTTP/1.0, end of stream) or whose caller
stops waiting (a timeout, a cancellation) is dropped, never reused with a half-read answer on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import cast
from urllib.parse import urlsplit

import httptools

#: Idle connections older than this are closed rather than reused (servers drop idle keep-alive connections).
IDLE_SECONDS = 30.0


class ConnectionClosedError(ConnectionError):
    """The connection ended before a whole response came back."""


class _Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, the response parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response = _Response()
        self.waiter: asyncio.Future[_Response] | None = None
        self.open = True
        self.reusable = True
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionClosedError(f"malformed HTTP response: {exc}"))

    def eof_received(self) -> bool | None:
        self._fail(ConnectionClosedError("the server closed the connection"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(ConnectionClosedError(f"connection lost: {exc}" if exc else "connection closed"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.response.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.response.status = self.parser.get_status_code()
        if not self.parser.should_keep_alive():
            self.reusable = False

    def on_body(self, body: bytes) -> None:
        self.response.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(self.response)

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def send(self, head: bytes, body: bytes) -> asyncio.Future[_Response]:
        assert self.transport is not None
        self.response = _Response()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(head + body)
        return self.waiter

    def close(self) -> None:
        self.open = self.reusable = False
        if self.transport is not None:
            self.transport.close()


class ConnectionPool:
    """Up to `max_connections` keep-alive connections to `endpoint` (http:// or https://)."""

    def __init__(self, endpoint: str, *, max_connections: int = 100, connect_timeout: float = 2.0,
                 read_timeout: float = 10.0) -> None:
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.path = (url.path or "/").encode()
        self._ssl = ssl.create_default_context() if url.scheme == "https" else None
        self._host_header = url.netloc.encode()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._slots = asyncio.Semaphore(max(1, max_connections))
        self._idle: list[_Connection] = []
        self._closed = False

    async def post(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        """(status, headers with lower-case names, body). Raises ConnectionError/OSError/TimeoutError when the
        answer does not come back whole."""
        if self._closed:
            raise ConnectionClosedError("the client is closed")
        lines = [b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in headers.items()
                 if k.lower() not in ("host", "content-length")]
        head = b"".join((b"POST ", self.path, b" HTTP/1.1\r\nhost: ", self._host_header,  # as signed: the netloc
                         b"\r\ncontent-length: ", str(len(body)).encode(), b"\r\n", *lines, b"\r\n"))
        async with self._slots:
            conn = await self._connection()
            done = False
            try:
                async with asyncio.timeout(self.read_timeout):
                    response = await conn.send(head, body)
                done = True
            finally:
                if done and conn.reusable and conn.open and not self._closed:
                    conn.idle_since = asyncio.get_running_loop().time()
                    self._idle.append(conn)
                else:  # failed, timed out, cancelled or not keep-alive: never reused half-read
                    conn.close()
        return response.status, response.headers, b"".join(response.body)

    async def _connection(self) -> _Connection:
        now = asyncio.get_running_loop().time()
        while self._idle:
            conn = self._idle.pop()
            if conn.open and conn.reusable and now - conn.idle_since < IDLE_SECONDS:
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, protocol = await loop.create_connection(
                _Connection, self.host, self.port, ssl=self._ssl,
                server_hostname=self.host if self._ssl is not None else None)
        return protocol

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.close()
