"""The listener's transport (http/listener.py): writes of one loop turn go out as one send per socket, in order."""

from __future__ import annotations

import asyncio
from typing import Any

from gqlsync.http.listener import HOLD_BYTES, LingeringTransport


class Socket:
    """A transport recording each write (each would be a system call)."""

    def __init__(self) -> None:
        self.sends: list[bytes] = []

    def write(self, data: Any) -> None:
        self.sends.append(bytes(data))

    def is_closing(self) -> bool:
        return False


async def test_writes_of_one_turn_are_one_send_per_socket_in_order() -> None:
    a_sock, b_sock = Socket(), Socket()
    a, b = LingeringTransport(a_sock), LingeringTransport(b_sock)  # type: ignore[arg-type]
    buf = bytearray(b"reused")
    a.write(b"HTTP/1.1 200 OK\r\n\r\n")
    b.write(buf)
    buf[:] = b"XXXXXX"  # the caller reuses its buffer: what was written stays written
    a.write(b"body")
    b.write(memoryview(b"-more"))
    assert a_sock.sends == b_sock.sends == []  # held until the turn ends
    await asyncio.sleep(0)
    assert a_sock.sends == [b"HTTP/1.1 200 OK\r\n\r\nbody"] and b_sock.sends == [b"reused-more"]
    a.write(b"next turn")
    await asyncio.sleep(0)
    assert a_sock.sends[1:] == [b"next turn"]


async def test_a_large_answer_goes_at_once_and_what_follows_in_the_turn_after_it() -> None:
    sock = Socket()
    t = LingeringTransport(sock)  # type: ignore[arg-type]
    t.write(b"h")
    t.write(b"x" * HOLD_BYTES)
    assert sock.sends == [b"h" + b"x" * HOLD_BYTES]
    t.write(b"tail")
    await asyncio.sleep(0)
    assert sock.sends[1:] == [b"tail"]


async def test_one_callback_flushes_every_socket_of_the_turn() -> None:
    socks = [Socket() for _ in range(1000)]
    transports = [LingeringTransport(s) for s in socks]  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    scheduled: list[object] = []
    call_soon = loop.call_soon

    def counting(callback: Any, *args: Any, **kwargs: Any) -> asyncio.Handle:
        scheduled.append(callback)
        return call_soon(callback, *args, **kwargs)

    loop.call_soon = counting  # type: ignore[method-assign]
    try:
        for t in transports:
            t.write(b"ka")
    finally:
        del loop.call_soon
    await asyncio.sleep(0)
    assert len(scheduled) == 1 and all(s.sends == [b"ka"] for s in socks)
