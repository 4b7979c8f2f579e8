"""The composition root: builds every collaborator of a server (clients, API versions, authenticators, realtime
hub, backends) and hands each its dependencies through its constructor; starts and stops them once."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gqlsync import heap
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
from gqlsync.engine.caching import Backend, backend_for
from gqlsync.observe import Metrics
from gqlsync.observe.health import HealthProbes
from gqlsync.observe.realtime import RealtimeMetrics
from gqlsync.observe.versions import VersionWindow
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
    #: Exempt the served apps' long-lived objects from full garbage collections (gqlsync/heap.py): on for
    #: `gqlsync serve/dev`, which own their process; off for an app embedded in someone else's.
    settle_heap: bool = False


def build_served(app: App, clients: ClientProvider, metrics: Metrics, publisher: RealtimeHub, *,
                 version: str = "1", api_id: str | None = None, cache_backend: Backend | None = None) -> ServedApi:
    """One app version, ready to install: its executable API and its authenticator. Raises AppError (file, line,
    reason) for anything that cannot work, so a broken version never replaces a working one."""
    problems: list[Problem] = []
    try:
        api = build_api(app, clients, metrics, lambda schema: AuthRules(schema, app.auth), publisher=publisher,
                        api_id=api_id or app.name, version=version, cache_backend=cache_backend)
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

    def __init__(self, source: str | Path | App | None, settings: ServerSettings | None = None) -> None:
        """Serve `source` as the default API (at /graphql); with None, the server starts with no API and a control
        plane installs them (`gqlsync serve` as a managed server)."""
        self.settings = settings or ServerSettings()
        self.metrics = Metrics()
        self.health = HealthProbes(self.metrics.registry)
        self.versions = VersionWindow()
        s = self.settings
        self.clients = ClientProvider(aws_settings(s.region, dynamodb_endpoint=s.dynamodb_endpoint,
                                                   search_endpoint=s.search_endpoint))
        self.hub = RealtimeHub(_broker(s))
        RealtimeMetrics(self.metrics.registry, self.hub)
        #: where resolver results of apps with `caching:` are kept: Redis with --redis-url, else this process
        self.cache_backend = backend_for(s.redis_url)
        self.apis = ApiRegistry()
        #: the API /graphql serves (None until one is installed)
        self.api_id: str | None = None
        #: the control plane, when the server is managed (deploys through /admin/graphql)
        self.control: Any = None
        #: versions replaced, waiting to be closed
        self._retiring: dict[asyncio.Task[None], ServedApi] = {}
        if source is not None:
            # Loading (and building below) fails fast with file/line problems: nothing half-broken is served.
            app = source if isinstance(source, App) else load_app(source)
            self.api_id = app.name
            self.apis.install(build_served(app, self.clients, self.metrics, self.hub,
                                           cache_backend=self.cache_backend))
        self._embedded: Any = None
        self._embedded_search: Any = None
        self.streams: StreamsService | None = None
        self._stream_metrics: StreamMetrics | None = None
        self._started = False
        self._lock = asyncio.Lock()

    @property
    def served(self) -> ServedApi:
        if self.api_id is None:
            raise LookupError("no API is deployed on this server yet")
        return self.apis.current(self.api_id)

    def resolve(self, key: str | None) -> str | None:
        """An API id from an id or a name in a URL (`/v1/apis/<id or name>/graphql`); None: the default API."""
        if key is None:
            return self.api_id
        if self.apis.get(key) is not None:
            return key
        return next((api_id for api_id in self.apis.ids() if self.apis.current(api_id).api.app.name == key), None)

    @property
    def app(self) -> App:
        """The default API's app, as its current version has it."""
        return self.served.api.app

    @property
    def api(self) -> ApiVersion:
        """The version being served now (a request takes it once and keeps it)."""
        return self.served.api

    def _tables(self, *coming: ServedApi) -> tuple[TableConfig, ...]:
        """The manifests' tables and those their data sources need (Delta Sync's change records), each once."""
        named: dict[str, TableConfig] = {}
        for served in (*self.apis.all(), *coming):
            for t in served.api.app.tables:
                named.setdefault(t.name, t)
        for served in (*self.apis.all(), *coming):
            for ds in served.api.data_sources.values():
                for t in ds.tables:
                    named.setdefault(t.name, t)
        return tuple(named.values())

    async def install(self, app: App, *, api_id: str | None = None, version: str | None = None,
                      canary_weight: float | None = None, prebuilt: ServedApi | None = None) -> ServedApi:
        """Build a version of an API from `app`, start it and serve it from now on (with `canary_weight`, to that
        percent of requests beside the current version). `api_id` defaults to the default API (for a server
        serving one app: the app's name); `version` to the next number.

        Raises AppError (and changes nothing) if the app cannot work. Requests and subscriptions that started
        on the previous version finish on it; subscriptions whose field the new version no longer has are
        completed with an error.
        """
        if api_id is None:
            if self.api_id is not None and app.name != self.api_id:
                raise AppError([Problem(str(app.manifest), None, f"this server serves API {self.api_id!r}, "
                                                                 f"not {app.name!r}")])
            api_id = app.name
        before = self.apis.get(api_id)
        if version is None:
            last = before.version if before is not None else "0"
            version = str(int(last) + 1) if last.isdigit() else f"{last}+1"
        # built off the event loop (compiling a large app takes a while): requests keep being served meanwhile;
        # `prebuilt` is this very app already built with this version (a deploy's check)
        served = prebuilt if prebuilt is not None and prebuilt.version == version and prebuilt.api_id == api_id \
            else await asyncio.to_thread(build_served, app, self.clients, self.metrics, self.hub, version=version,
                                         api_id=api_id, cache_backend=self.cache_backend)
        if self._started:
            await self._start_embedded_search(served)
            if self.settings.create_tables:
                await ensure_tables(await self.clients.aws("dynamodb"), self._tables(served))
            await served.api.start()
        if canary_weight is not None:
            if before is None:
                raise AppError([Problem(str(app.manifest), None, "a canary needs a current version beside it")])
            replaced = self.apis.canary(api_id)
            self.apis.set_canary(api_id, served, canary_weight)
            if replaced is not None:
                self._retire(replaced[0])
            self._settle()
            return served
        canary = self.apis.canary(api_id)
        self.apis.install(served)
        if before is not None:
            self._retire(before)
        if canary is not None and self.apis.canary(api_id) is None:
            self._retire(canary[0])
        if self.api_id is None:
            self.api_id = api_id
        self.hub.retire(api_id, served)
        if self._started and api_id == self.api_id and before is not None and (
                app.streams != before.api.app.streams or app.data_sources != before.api.app.data_sources):
            await self._stop_streams()
            await self._start_streams()
        self._settle()
        return served

    def _settle(self) -> None:
        if self.settings.settle_heap and self._started:
            heap.settle()

    def end_canary(self, api_id: str) -> None:
        canary = self.apis.canary(api_id)
        if self.apis.get(api_id) is not None:
            self.apis.set_canary(api_id, None)
        if canary is not None:
            self._retire(canary[0])

    def _retire(self, served: ServedApi) -> None:
        """A version no longer served: its data sources are closed once the requests it may still be running have
        had their time limit (its subscriptions need none of them: events are shaped by their plans)."""
        if served in self.apis.all() or not self._started:
            return
        grace = float(served.api.limits["requestTimeoutSeconds"]) + 1.0

        async def later() -> None:
            await asyncio.sleep(grace)
            self._retiring.pop(task, None)
            if served not in self.apis.all():  # not served again meanwhile
                await served.api.close()
                self._settle()

        task = asyncio.get_running_loop().create_task(later(), name=f"gqlsync-retire {served.api_id} v{served.version}")
        self._retiring[task] = served

    async def start(self) -> None:
        async with self._lock:
            if self._started:
                return
            if self.settings.embedded_dynamodb_dir is not None:
                from gqlsync.embedded.dynamodb import EmbeddedDynamoDB

                self._embedded = EmbeddedDynamoDB(self.settings.embedded_dynamodb_dir)
                endpoint = await asyncio.to_thread(self._embedded.start)
                self.clients.use_dynamodb_endpoint(endpoint)
            if self.control is not None:
                await self.control.load()  # the stored APIs, installed before their backends start below
            await self._start_embedded_search()
            tables = self._tables()
            if self.settings.create_tables and tables:
                client = await self.clients.aws("dynamodb")
                await ensure_tables(client, tables)
            for served in self.apis.all():
                await served.api.start()
            await self.hub.start()
            await self._start_streams()
            self.health.start()
            self._started = True
            self._settle()
            if self.control is not None:
                await self.control.run()

    async def _start_streams(self) -> None:
        s = self.settings
        if s.streams_dir is None or self.api_id is None or not self.app.streams:
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
            if self.control is not None:
                await self.control.stop()
            for task, retired in list(self._retiring.items()):  # closed now rather than after their grace
                task.cancel()
                await retired.api.close()
            self._retiring.clear()
            self.health.stop()
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
