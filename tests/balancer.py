"""A small asyncio TCP load balancer for tests: round robin over backends, skipping those that refuse."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

Address = tuple[str, int]


@dataclass
class Link:
    """One client connection and the backend it was sent to. `dropped` is set when the backend ended it (closed,
    reset or died) rather than the client; `first` is what the client sent first (e.g. b"POST /graphql ...")."""

    client: Address
    backend: Address
    first: bytes = b""
    dropped: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Balancer:
    """Listens on 127.0.0.1 (a free port). Each client connection goes to the next backend in turn; a backend that
    refuses the connection is skipped for the next one, and a client none will take is closed. Bytes are copied both
    ways; when the backend's side ends, the client's is closed too (so clients of a dead backend see their
    connection drop and can reconnect, landing on another backend)."""

    def __init__(self, backends: list[Address]) -> None:
        self.backends = list(backends)
        self.links: list[Link] = []
        self.refused: list[Address] = []
        self._turn = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> Balancer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def link_of(self, client: Address) -> Link:
        """The link of the client connection whose local address (its socket's sockname) is `client`."""
        for link in reversed(self.links):
            if link.client == client:
                return link
        raise KeyError(f"no connection from {client} reached the balancer")

    def backend_of(self, client: Address) -> Address:
        return self.link_of(client).backend

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    async def _connect(self) -> tuple[Address, asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.backends)):
            backend = self.backends[self._turn % len(self.backends)]
            self._turn += 1
            try:
                reader, writer = await asyncio.open_connection(*backend)
            except OSError:
                self.refused.append(backend)
                continue
            return backend, reader, writer
        return None

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            peer = c_writer.get_extra_info("peername")
            chosen = await self._connect()
            if chosen is None:
                return
            backend, b_reader, b_writer = chosen
            link = Link((str(peer[0]), int(peer[1])), backend)
            self.links.append(link)
            try:
                up = asyncio.ensure_future(self._pipe(c_reader, b_writer, link))
                down = asyncio.ensure_future(self._pipe(b_reader, c_writer, None))
                finished, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
                if down in finished:  # the backend ended the connection
                    link.dropped = True
                    up.cancel()
                else:  # the client did: let the backend's answer drain, then end
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(down, 30)
                    down.cancel()
            finally:
                b_writer.close()
                link.done.set()
        finally:
            c_writer.close()
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link | None) -> None:
        try:
            while data := await reader.read(65536):
                if link is not None and not link.first:
                    link.first = data[:64]
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:
            pass
