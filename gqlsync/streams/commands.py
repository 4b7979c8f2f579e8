"""What `gqlsync worker streams` and `gqlsync reindex` run: an app's routes on their own, outside a server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from gqlsync.app.model import App, StreamConfig
from gqlsync.datasources.clients import ClientProvider, aws_settings
from gqlsync.streams.metrics import StreamMetrics
from gqlsync.streams.service import StreamsService, StreamsSettings
from gqlsync.streams.worker import WorkerOptions

log = logging.getLogger("gqlsync.streams")


@dataclass(frozen=True)
class Backends:
    dynamodb_endpoint: str | None = None
    search_endpoint: str | None = None
    region: str | None = None

    def clients(self) -> ClientProvider:
        return ClientProvider(aws_settings(self.region, dynamodb_endpoint=self.dynamodb_endpoint,
                                           search_endpoint=self.search_endpoint))


def routes_of(app: App, table: str | None) -> tuple[StreamConfig, ...]:
    """The app's routes, or those of one table; ValueError naming the tables there are."""
    if table is None:
        return app.streams
    chosen = tuple(r for r in app.streams if r.table == table)
    if not chosen:
        tables = ", ".join(sorted({r.table for r in app.streams})) or "none"
        raise ValueError(f"no streams: entry feeds an index from table {table!r} (tables with one: {tables})")
    return chosen


async def run_worker(app: App, backends: Backends, settings: StreamsSettings, *, metrics_port: int = 0,
                     table: str | None = None) -> None:
    """Follow the routes until SIGINT/SIGTERM; positions are kept after every batch, so a kill loses nothing."""
    metrics = StreamMetrics()
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, registry=metrics.registry)
    clients = backends.clients()
    service = StreamsService(app, clients, settings, metrics, routes=routes_of(app, table))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    try:
        await stop.wait()
    finally:
        await service.stop()
        await clients.close()


async def run_reindex(app: App, backends: Backends, settings: StreamsSettings, *, table: str | None = None,
                      wait_seconds: float = 600.0) -> list[tuple[str, str, int | None]]:
    clients = backends.clients()
    service = StreamsService(app, clients, settings, routes=routes_of(app, table))
    try:
        return await service.reindex(wait_seconds=wait_seconds)
    finally:
        with contextlib.suppress(Exception):
            await service.stop()
        await clients.close()


def default_settings(app: App, state_dir: Path | None, checkpoint_table: str | None, poll_seconds: float,
                     enable_streams: bool) -> StreamsSettings:
    return StreamsSettings(state_dir or app.root / ".gqlsync" / "streams", checkpoint_table,
                           WorkerOptions(poll_seconds=poll_seconds, enable_streams=enable_streams))
