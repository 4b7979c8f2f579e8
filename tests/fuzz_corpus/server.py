"""The live gqlsync the hostile-input suites attack: the Event app with small limits, served as `gqlsync serve` is."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.http.listener import uvicorn_options
from gqlsync.realtime.connection import RealtimeLimits
from tests.helpers import EVENT_APP, unique_prefix, with_table_prefix
from tests.live import live_server

LIMIT = 64 * 1024  # the app's maxBodyBytes here
MESSAGE_LIMIT = 8192  # the realtime message limit here


@dataclasses.dataclass
class Target:
    port: int
    server: GqlsyncServer


@contextlib.asynccontextmanager
async def hostile_target(dynamodb_endpoint: str) -> AsyncIterator[Target]:
    app = with_table_prefix(load_app(EVENT_APP), unique_prefix())
    app = dataclasses.replace(app, limits={**app.limits, "maxBodyBytes": LIMIT})
    settings = ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True,
                              realtime=RealtimeLimits(init_timeout_seconds=2.0, max_message_bytes=MESSAGE_LIMIT))
    server = GqlsyncServer(app, settings)
    # the options `gqlsync serve` runs uvicorn with (live_server sets ws_per_message_deflate itself)
    options = {k: v for k, v in uvicorn_options(settings).items() if k != "ws_per_message_deflate"}
    async with live_server(server, **options) as base:
        yield Target(urlsplit(base).port or 0, server)
