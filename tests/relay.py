"""A loopback TCP relay the test can cut: a client's network, switched off and on (connections dropped, refused)."""

from __future__ import annotations

import asyncio
import contextlib

from tests.services import free_port


class Relay:
    """Forwards 127.0.0.1:<port> to `target_port`, bytes as they are (TLS passes through end to end)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.online = True
        #: Accept connections but never answer (a cluster that hangs), until cleared.
        self.stalled = False
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Go offline: every open connection is dropped and new ones are refused until `restore()`."""
        self.online = False
        self.stalled = False
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()

    def restore(self) -> None:
        self.online = True
        self.stalled = False

    def stall(self) -> None:
        """A peer that hangs: open connections are dropped, new ones are accepted and never answered."""
        self.cut()
        self.online = True
        self.stalled = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.online:
            writer.transport.abort()
            return
        if self.stalled:
            self._pipes.add(writer)
            await reader.read()  # hold it open, answer nothing
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._pipes.update((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._pipes.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
