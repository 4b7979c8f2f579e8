"""EmbeddedSearch: the engine's REST API served by uvicorn on loopback from a thread with its own loop."""

from __future__ import annotations

import logging
from pathlib import Path

from gqlsync.embedded.search.api import SearchAPI
from gqlsync.embedded.search.engine import SearchEngine
from gqlsync.threaded import ThreadedServer

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
        self._server: ThreadedServer | None = None
        self._endpoint: str | None = None

    @property
    def endpoint(self) -> str:
        assert self._endpoint is not None, "start() first"
        return self._endpoint

    def start(self) -> str:
        if self._server is not None:
            return self.endpoint
        self.engine = SearchEngine(self.data_dir)
        server = ThreadedServer(SearchAPI(self.engine).app(), self.host, self.port, name="embedded search",
                                timeout_keep_alive=30, timeout_graceful_shutdown=5)
        try:
            port = server.start()
        except RuntimeError:
            self.engine.close()
            raise
        self._server = server
        self._endpoint = f"http://{self.host}:{port}"
        log.info("embedded search serving", extra={"endpoint": self._endpoint,
                                                   "data_dir": str(self.data_dir) if self.data_dir else None,
                                                   "indices": len(self.engine.indices)})
        return self._endpoint

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        self._server = None
        if self.engine is not None:
            self.engine.close()
            self.engine = None
