"""Server state: the loaded app, its executable API, clients and backends, started once and stopped once."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gqlsync.app import App, AppError, Problem, load_app
from gqlsync.auth import Authenticator
from gqlsync.auth.directives import AuthRules
from gqlsync.datasources import AwsSettings, ClientProvider
from gqlsync.datasources.tables import ensure_tables
from gqlsync.engine.api import Api, build_api
from gqlsync.observe import Metrics
from gqlsync.realtime import RealtimeHub
from gqlsync.realtime.connection import RealtimeLimits

log = logging.getLogger("gqlsync.server")


@dataclass
class ServerSettings:
    """How one server runs: where DynamoDB is, whether to create tables, dev conveniences."""

    dynamodb_endpoint: str | None = None
    embedded_dynamodb_dir: Path | None = None
    create_tables: bool = False
    region: str | None = None
    dev: bool = False
    redis_url: str | None = None
    realtime: RealtimeLimits = field(default_factory=RealtimeLimits)
    extra: dict[str, Any] = field(default_factory=dict)


class GqlsyncServer:
    """Everything a request needs, built before the first request is served."""

    def __init__(self, source: str | Path | App, settings: ServerSettings | None = None) -> None:
        self.settings = settings or ServerSettings()
        # Loading (and building below) fails fast with file/line problems: nothing half-broken is served.
        self.app = source if isinstance(source, App) else load_app(source)
        self.metrics = Metrics()
        self._embedded: Any = None
        endpoint = self.settings.dynamodb_endpoint
        aws = AwsSettings(dynamodb_endpoint=endpoint) if self.settings.region is None else \
            AwsSettings(region=self.settings.region, dynamodb_endpoint=endpoint)
        self.clients = ClientProvider(aws)
        app = self.app
        self.api: Api = build_api(app, self.clients, self.metrics, lambda schema: AuthRules(schema, app.auth))
        try:
            self.authenticator = Authenticator(self.app.auth, self.app.root)
        except ValueError as exc:
            raise AppError([Problem(str(self.app.manifest), None, f"auth: {exc}")]) from None
        broker = None
        if self.settings.redis_url:
            from gqlsync.realtime.redis_broker import RedisBroker

            broker = RedisBroker(self.settings.redis_url)
        self.hub = RealtimeHub(broker)
        self.api.publisher = self.hub
        guard = self.api.guard
        if guard is not None:
            self.hub.authorize_event = lambda sub, field: guard.allows(
                "Subscription", field, str(sub.plan.extra.get("auth_mode", "")), sub.plan.identity)

            def field_authorizer(sub: Any) -> Any:
                mode, identity = str(sub.plan.extra.get("auth_mode", "")), sub.plan.identity
                return lambda type_name, field: guard.unrestricted(type_name, field) or guard.allows(
                    type_name, field, mode, identity)

            self.hub.field_authorizer = field_authorizer
        self._started = False
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self._started:
                return
            if self.settings.embedded_dynamodb_dir is not None:
                from gqlsync.embedded.dynamodb import EmbeddedDynamoDB

                self._embedded = EmbeddedDynamoDB(self.settings.embedded_dynamodb_dir)
                endpoint = await asyncio.to_thread(self._embedded.start)
                self.clients.settings = AwsSettings(region=self.clients.settings.region,
                                                    dynamodb_endpoint=endpoint)
            if self.settings.create_tables and self.app.tables:
                client = await self.clients.aws("dynamodb")
                await ensure_tables(client, self.app.tables)
            await self.hub.start()
            self._started = True

    async def stop(self) -> None:
        async with self._lock:
            await self.hub.close()
            await self.clients.close()
            if self._embedded is not None:
                await asyncio.to_thread(self._embedded.stop)
                self._embedded = None
            self._started = False

    @property
    def started(self) -> bool:
        return self._started
