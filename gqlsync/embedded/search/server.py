"""EmbeddedSearch: the engine's REST API served by uvicorn on loopback from a thread with its own loop."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from pathlib import Path

import uvicorn

from gqlsync.embedded.search.api import SearchAPI
from gqlsync.embedded.search.engine import SearchEngine

log = logging.getLogger("gqlsync.embedded.search")


class EmbeddedSearch:
    """An OpenSearch-compatible endpoint on 127.0.0.1, data kept in `data_dir` (like EmbeddedDynamoDB).

    `start()` blocks until the endpoint serves and returns its base URL; `stop()` shuts the server
    down and closes the indices (checkpointing their write-ahead logs).
    """

    def __init__(self, data_dir: str | Path | None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.host = host
        self.port = port
        self.engine: SearchEngine | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._endpoint: str | None = None

    @property
    def endpoint(self) -> str:
        assert self._endpoint is not None, "start() first"
        return self._endpoint

    def start(self) -> str:
        if self._server is not None:
            return self.endpoint
        self.engine = SearchEngine(self.data_dir)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without, Nagle + delayed ACKs add ~40 ms to each keep-alive request.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        port = sock.getsockname()[1]
        config = uvicorn.Config(SearchAPI(self.engine).app(), log_level="warning", access_log=False,
                                lifespan="off", timeout_keep_alive=30, loop="asyncio",
                                timeout_graceful_shutdown=5)
        server = uvicorn.Server(config)
        failed: list[BaseException] = []

        def serve() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # reported to start() below
                failed.append(exc)

        self._thread = threading.Thread(target=serve, name="gqlsync-search", daemon=True)
        self._thread.start()
        while not server.started:
            if failed or not self._thread.is_alive():
                sock.close()
                self.engine.close()
                raise RuntimeError(f"embedded search did not start: {failed[0] if failed else 'server exited'}")
            self._thread.join(0.01)
        self._server = server
        self._endpoint = f"http://{self.host}:{port}"
        log.info("embedded search serving", extra={"endpoint": self._endpoint,
                                                   "data_dir": str(self.data_dir) if self.data_dir else None,
                                                   "indices": len(self.engine.indices)})
        return self._endpoint

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
        if self.engine is not None:
            self.engine.close()
            self.engine = None
