"""Runs an app's `streams:` routes: one RouteWorker task each, their search sources, store and dead letters.

`gqlsync dev` runs it inside the server; `gqlsync worker streams` runs it alone (several of them share routes
through a DynamoDB checkpoint table: one applies a route, the others stand by); `gqlsync reindex` uses it to
scan tables into their indexes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gqlsync.app.model import App, StreamConfig
from gqlsync.background import cancel_all
from gqlsync.datasources.base import DataSourceEnv, build_data_source
from gqlsync.datasources.clients import ClientProvider
from gqlsync.streams.checkpoints import CheckpointStore, DynamoDBCheckpoints, FileCheckpoints, new_owner
from gqlsync.streams.handler import DeadLetters, FileDeadLetters
from gqlsync.streams.metrics import StreamMetrics
from gqlsync.streams.reader import StreamReader
from gqlsync.streams.worker import RouteWorker, SearchIndex, WorkerOptions

log = logging.getLogger("gqlsync.streams")


@dataclass(frozen=True)
class StreamsSettings:
    """Where the worker keeps its state: a folder (checkpoints file, dead letters) and optionally a table."""

    state_dir: Path
    #: keep checkpoints in this DynamoDB table instead of the folder (workers on several nodes)
    checkpoint_table: str | None = None
    options: WorkerOptions = field(default_factory=WorkerOptions)


class StreamsService:
    def __init__(self, app: App, clients: ClientProvider, settings: StreamsSettings,
                 metrics: StreamMetrics | None = None, *, routes: tuple[StreamConfig, ...] | None = None) -> None:
        self.app = app
        self.clients = clients
        self.settings = settings
        self.metrics = metrics or StreamMetrics()
        self.routes = app.streams if routes is None else routes
        self.owner = new_owner()
        self.dead_letters: DeadLetters = FileDeadLetters(settings.state_dir / "dead-letters.jsonl")
        self.workers: list[RouteWorker] = []
        self._sources: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._store: CheckpointStore | None = None

    async def store(self) -> CheckpointStore:
        if self._store is None:
            if self.settings.checkpoint_table:
                self._store = DynamoDBCheckpoints(await self.clients.aws("dynamodb"), self.settings.checkpoint_table)
            else:
                self._store = FileCheckpoints(self.settings.state_dir / "checkpoints.json")
        return self._store

    async def build(self) -> list[RouteWorker]:
        if self.workers:
            return self.workers
        store = await self.store()
        dynamodb = await self.clients.aws("dynamodb")
        streams = await self.clients.aws("dynamodbstreams")
        fed = Counter((r.search_data_source, r.index_name) for r in self.app.streams)
        env = DataSourceEnv(self.clients, self.app.root)
        for route in self.routes:
            source = self._sources.get(route.search_data_source)
            if source is None:
                source = build_data_source(self.app.data_sources[route.search_data_source], env)
                self._sources[route.search_data_source] = source
            self.workers.append(RouteWorker(
                route, StreamReader(dynamodb, streams, route.table), SearchIndex(source, route.index_name), store,
                self.dead_letters, self.metrics, self.owner, self.settings.options,
                shared_index=fed[(route.search_data_source, route.index_name)] > 1))
        return self.workers

    async def start(self) -> None:
        for worker in await self.build():
            self._tasks.append(asyncio.create_task(worker.run(), name=f"gqlsync-stream {worker.key}"))
        if self.workers:
            log.info("streams worker running", extra={"routes": [w.key for w in self.workers],
                                                      "owner": self.owner})

    async def wait_caught_up(self, timeout: float) -> bool:
        """True once every route has applied all it has read at least once (within `timeout` seconds)."""
        try:
            await asyncio.wait_for(asyncio.gather(*(w.caught_up.wait() for w in self.workers)), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        for worker in self.workers:
            await worker.close()
        for source in self._sources.values():
            await source.close()
        self._sources.clear()
        self.workers.clear()

    async def reindex(self, *, wait_seconds: float = 600.0) -> list[tuple[str, str, int | None]]:
        """Scan each route's table into its index, then leave positions for the stream to go on from: done here
        when no worker holds the route, else asked of the worker that does (and waited for). Returns (route,
        how, items scanned or None when a running worker did it)."""
        store = await self.store()
        done: list[tuple[str, str, int | None]] = []
        for worker in await self.build():
            items = await worker.backfill_once()
            if items is not None:
                done.append((worker.key, "scanned here", items))
                continue
            asked = await store.request_reindex(worker.key)
            assert asked.reindex_requested is not None
            deadline = time.monotonic() + wait_seconds
            while True:
                state = await store.load(worker.key)
                if state is not None and (state.backfilled_at or 0) >= asked.reindex_requested - 1e-3 \
                        and not state.reindex_requested:
                    done.append((worker.key, f"by the running worker {state.owner}", None))
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the worker holding {worker.key} ({asked.owner}) did not reindex within "
                                       f"{wait_seconds:.0f} s; is it stuck? (see its log)")
                await asyncio.sleep(0.2)
        return done
