"""The composition root: builds every collaborator of a server (clients, API versions, authenticators, realtime
hub, backends) and hands each its dependencies through its constructor; starts and stops them once."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gqlsync.apis import ApiRegistry, ServedApi
from gqlsync.app import App, AppError, Problem, TableConfig, load_app
from gqlsync.auth import Authenticator
from gqlsync.auth.authenticator import AuthConfigError
from gqlsync.auth.directives import AuthRules
from gqlsync.datasources import ClientProvider
from gqlsync.datasources.clients import aws_settings
from gqlsync.datasources.dynamodb.tables import ensure_tables
from gqlsync.datasources.search import SearchDataSource
from gqlsync.engine.api import ApiVersion, build_api
from gqlsync.observe import Metrics
from gqlsync.realtime import RealtimeHub
from gqlsync.realtime.broker import Broker, LocalBroker
from gqlsync.realtime.connection import RealtimeLimits

if TYPE_CHECKING:
    from gqlsync.streams.metrics import StreamMetrics
    from gqlsync.streams.service import StreamsService

log = logging.getLogger("gqlsync.server")


@dataclass
class ServerSettings:
    """How one server runs: where DynamoDB is, whether to create tables, dev conveniences."""

    dynamodb_endpoint: str | None = None
    embedded_dynamodb_dir: Path | None = None
    #: Where every search data source's requests go (a cluster); else, with `embedded_search_dir`, the embedded
    #: engine serves them (started only when the app has search data sources), else each source's own endpoint.
    search_endpoint: str | None = None
    embedded_search_dir: Path | None = None
    create_tables: bool = False
    region: str | None = None
    dev: bool = False
    redis_url: str | None = None
    realtime: RealtimeLimits = field(default_factory=RealtimeLimits)
    #: Run the app's `streams:` (tables into search indexes) in this process, keeping checkpoints and dead letters
    #: in this folder (`gqlsync dev`); else `gqlsync worker streams` runs them.
    streams_dir: Path | None = None
    streams_poll_seconds: float = 0.1
    #: Reload the app from its folder when a file there changes (`gqlsync dev --watch`; gqlsync/watch.py).
    watch: bool = False


def build_served(app: App, clients: ClientProvider, metrics: Metrics, publisher: RealtimeHub, *,
                 version: str = "1") -> ServedApi:
    """One app version, ready to install: its executable API and its authenticator. Raises AppError (file, line,
    reason) for anything that cannot work, so a broken version never replaces a working one."""
    problems: list[Problem] = []
    try:
        api = build_api(app, clients, metrics, lambda schema: AuthRules(schema, app.auth), publisher=publisher,
                        api_id=app.name, version=version)
    except AppError as exc:
        problems.extend(exc.problems)
    try:
        authenticator = Authenticator(app.auth, app.root)
    except AuthConfigError as exc:
        problems.extend(Problem(str(app.manifest), line, reason) for line, reason in exc.problems)
    if problems:
        raise AppError(problems)
    return ServedApi(api, authenticator)


def _broker(settings: ServerSettings) -> Broker:
    if settings.redis_url:
        from gqlsync.realtime.redis_broker import RedisBroker

        return RedisBroker(settings.redis_url)
    return LocalBroker()


class GqlsyncServer:
    """Everything a request needs, built before the first request is served."""

    def __init__(self, source: str | Path | App, settings: ServerSettings | None = None) -> None:
        self.settings = settings or ServerSettings()
        # Loading (and building below) fails fast with file/line problems: nothing half-broken is served.
        self.app = source if isinstance(source, App) else load_app(source)
        self.metrics = Metrics()
        s = self.settings
        self.clients = ClientProvider(aws_settings(s.region, dynamodb_endpoint=s.dynamodb_endpoint,
                                                   search_endpoint=s.search_endpoint))
        self.hub = RealtimeHub(_broker(s))
        self.apis = ApiRegistry()
        self.api_id = self.app.name
        self.apis.install(build_served(self.app, self.clients, self.metrics, self.hub))
        self._embedded: Any = None
        self._embedded_search: Any = None
        self.streams: StreamsService | None = None
        self._stream_metrics: StreamMetrics | None = None
        self._started = False
        self._lock = asyncio.Lock()

    @property
    def served(self) -> ServedApi:
        return self.apis.current(self.api_id)

    @property
    def api(self) -> ApiVersion:
        """The version being served now (a request takes it once and keeps it)."""
        return self.served.api

    def _tables(self) -> tuple[TableConfig, ...]:
        """The manifest's tables and those its data sources need (Delta Sync's change records), each once."""
        named: dict[str, TableConfig] = {t.name: t for t in self.app.tables}
        for served in self.apis.all():
            for ds in served.api.data_sources.values():
                for t in ds.tables:
                    named.setdefault(t.name, t)
        return tuple(named.values())

    async def install(self, app: App) -> ServedApi:
        """Build a new version of this server's API from `app`, start it and serve it from now on.

        Raises AppError (and changes nothing) if the app cannot work. Requests and subscriptions that started
        on the previous version finish on it; retiring old versions is the deploy machinery's job.
        """
        if app.name != self.api_id:
            raise AppError([Problem(str(app.manifest), None, f"this server serves API {self.api_id!r}, "
                                                             f"not {app.name!r}")])
        version = str(int(self.api.version) + 1) if self.api.version.isdigit() else f"{self.api.version}+1"
        served = build_served(app, self.clients, self.metrics, self.hub, version=version)
        if self._started:
            await self._start_embedded_search(served)
            await served.api.start()
        self.apis.install(served)
        previous, self.app = self.app, app
        if self._started and (app.streams != previous.streams or app.data_sources != previous.data_sources):
            await self._stop_streams()
            await self._start_streams()
        return served

    async def start(self) -> None:
        async with self._lock:
            if self._started:
                return
            if self.settings.embedded_dynamodb_dir is not None:
                from gqlsync.embedded.dynamodb import EmbeddedDynamoDB

                self._embedded = EmbeddedDynamoDB(self.settings.embedded_dynamodb_dir)
                endpoint = await asyncio.to_thread(self._embedded.start)
                self.clients.use_dynamodb_endpoint(endpoint)
            await self._start_embedded_search()
            tables = self._tables()
            if self.settings.create_tables and tables:
                client = await self.clients.aws("dynamodb")
                await ensure_tables(client, tables)
            for served in self.apis.all():
                await served.api.start()
            await self.hub.start()
            await self._start_streams()
            self._started = True

    async def _start_streams(self) -> None:
        s = self.settings
        if s.streams_dir is None or not self.app.streams:
            return
        from gqlsync.streams.metrics import StreamMetrics
        from gqlsync.streams.service import StreamsService, StreamsSettings
        from gqlsync.streams.worker import WorkerOptions

        if self._stream_metrics is None:
            self._stream_metrics = StreamMetrics(self.metrics.registry)
        options = WorkerOptions(poll_seconds=s.streams_poll_seconds, enable_streams=s.create_tables)
        self.streams = StreamsService(self.app, self.clients, StreamsSettings(s.streams_dir, options=options),
                                      self._stream_metrics)
        await self.streams.start()

    async def _stop_streams(self) -> None:
        if self.streams is not None:
            await self.streams.stop()
            self.streams = None

    async def stop(self) -> None:
        async with self._lock:
            await self._stop_streams()
            await self.hub.close()
            for served in self.apis.all():
                await served.api.close()
            await self.clients.close()
            if self._embedded is not None:
                await asyncio.to_thread(self._embedded.stop)
                self._embedded = None
            if self._embedded_search is not None:
                await asyncio.to_thread(self._embedded_search.stop)
                self._embedded_search = None
            self._started = False

    async def _start_embedded_search(self, *coming: ServedApi) -> None:
        """The embedded search engine, once a version served (or `coming`) has search data sources and no cluster
        is given for them."""
        s = self.settings
        sources = [ds for served in (*self.apis.all(), *coming) for ds in served.api.data_sources.values()]
        if self._embedded_search is not None or s.search_endpoint is not None or s.embedded_search_dir is None \
                or not any(isinstance(ds, SearchDataSource) for ds in sources):
            return
        from gqlsync.embedded.search import EmbeddedSearch

        self._embedded_search = EmbeddedSearch(s.embedded_search_dir)
        self.clients.use_search_endpoint(await asyncio.to_thread(self._embedded_search.start))

    @property
    def started(self) -> bool:
        return self._started


def check_app(source: str | Path | App) -> ServedApi:
    """What `gqlsync validate` runs: load the app and build a version of it without serving anything.

    Raises AppError listing every problem (manifest, schema, mapping code, data-source and auth config).
    """
    app = source if isinstance(source, App) else load_app(source)
    return build_served(app, ClientProvider(), Metrics(), RealtimeHub())
