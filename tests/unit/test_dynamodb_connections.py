"""The DynamoDB wire client's connection pool against a real loopback HTTP/1.1 server: keep-alive reuse, chunked
and close-delimited answers, a server that drops a connection, a caller that stops waiting, on asyncio and uvloop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gqlsync.datasources.dynamodb.connections import ConnectionClosedError, ConnectionPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[bool]]


class Server:
    """Reads requests (head + content-length body) and lets `handler` answer; counts connections and requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                if not await self.handler(reader, writer, body):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\nx-amz-crc32: 1\r\n"
                 b"content-length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    return True


def run(coro: Callable[[], Awaitable[None]], loop: str) -> None:
    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        uvloop.run(coro())
    else:
        asyncio.run(coro())


LOOPS = ["asyncio", "uvloop"]


@pytest.mark.parametrize("loop", LOOPS)
def test_connections_are_kept_alive_and_reused(loop: str) -> None:
    async def main() -> None:
        server = Server(ok)
        async with server as url:
            pool = ConnectionPool(url, max_connections=2)
            for i in range(5):
                status, headers, body = await pool.post({"x-amz-target": "T"}, b'{"n":%d}' % i)
                assert (status, body, headers[b"x-amz-crc32"]) == (200, b'{"n":%d}' % i, b"1")
            await asyncio.gather(*(pool.post({}, b"{}") for _ in range(10)))
            await pool.close()
        assert server.connections == 2  # one for the sequential calls, a second while two were in flight
        assert all(r.startswith(b"POST / HTTP/1.1\r\nhost: 127.0.0.1:") for r in server.requests)
        assert all(r.count(b"\r\nhost:") == 1 for r in server.requests)

    run(main, loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_chunked_and_close_delimited_answers(loop: str) -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        return True

    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bool:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 2\r\n\r\nno")
        await writer.drain()
        return False

    async def main() -> None:
        async with Server(chunked) as url:
            pool = ConnectionPool(url)
            assert (await pool.post({}, b"{}"))[::2] == (200, b"abcde")
            await pool.close()
        server = Server(closing)
        async with server as url:
            pool = ConnectionPool(url)
            for _ in range(2):
                assert (await pool.post({}, b"{}"))[::2] == (400, b"no")
            await pool.close()
        assert server.connections == 2  # `connection: close` is not reused

    run(main, loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_dropped_connection_is_an_error_and_the_next_call_reconnects(loop: str) -> None:
    calls = 0

    async def drop_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
            await writer.drain()
            writer.transport.abort()
            return False
        return await ok(reader, writer, body)

    async def main() -> None:
        server = Server(drop_first)
        async with server as url:
            pool = ConnectionPool(url)
            with pytest.raises(ConnectionClosedError):
                await pool.post({}, b"{}")
            assert (await pool.post({}, b"{}"))[::2] == (200, b"{}")
            await pool.close()
        assert server.connections == 2

    run(main, loop)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_caller_that_stops_waiting_leaves_no_half_read_connection(loop: str) -> None:
    async def slow_then_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> bool:
        if body == b"slow":
            await asyncio.sleep(0.5)
        return await ok(reader, writer, body)

    async def main() -> None:
        server = Server(slow_then_ok)
        async with server as url:
            pool = ConnectionPool(url, max_connections=1, read_timeout=0.1)
            with pytest.raises(TimeoutError):
                await pool.post({}, b"slow")
            # the late answer to "slow" must not be read as this call's answer
            assert (await pool.post({}, b"fast"))[::2] == (200, b"fast")
            task = asyncio.ensure_future(pool.post({}, b"slow"))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await pool.post({}, b"after"))[::2] == (200, b"after")
            await pool.close()
        assert server.connections == 3

    run(main, loop)


def test_an_endpoint_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        ConnectionPool("ftp://example.com/")
