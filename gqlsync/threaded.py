"""An ASGI app served by uvicorn on a loopback socket from a daemon thread (the embedded backends, local endpoints)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn


class ThreadedServer:
    """`start()` binds (port 0: any free one), serves from its own thread and event loop, and returns once the
    server accepts connections; `stop()` ends it."""

    def __init__(self, app: Any, host: str, port: int, *, name: str, **config: Any) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self.config = config
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Serve; returns the port bound. Raises RuntimeError when the server does not come up."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without, Nagle + delayed ACKs add ~40 ms to each keep-alive request.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        port = int(sock.getsockname()[1])
        server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                               loop="asyncio", **self.config))
        failed: list[BaseException] = []

        def serve() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # reported by start() below
                failed.append(exc)

        self._thread = threading.Thread(target=serve, name=f"gqlsync {self.name}", daemon=True)
        self._thread.start()
        while not server.started:
            if failed or not self._thread.is_alive():
                sock.close()
                raise RuntimeError(f"{self.name} did not start: {failed[0] if failed else 'server exited'}")
            self._thread.join(0.01)
        self._server = server
        return port

    @property
    def running(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
