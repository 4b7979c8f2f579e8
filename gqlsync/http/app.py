"""`create_app`: the Starlette application, standalone or mounted inside another Starlette app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from gqlsync.app import App
from gqlsync.http.explorer import STATIC_PATH, explorer_static
from gqlsync.http.graphql import GraphQLEndpoint
from gqlsync.http.responses import json_response
from gqlsync.realtime.endpoint import serve_realtime
from gqlsync.server import GqlsyncServer, ServerSettings


def create_app(source: str | Path | App | GqlsyncServer, settings: ServerSettings | None = None) -> Starlette:
    """Serve one app. Raises AppError (file, line, reason) if the app is broken: nothing is served then.

    Mounted in another Starlette app (whose lifespan does not reach sub-apps), the backends start
    on the first request instead; call `app.state.gqlsync.stop()` from the host's shutdown.
    """
    server = source if isinstance(source, GqlsyncServer) else GqlsyncServer(source, settings)
    endpoint = GraphQLEndpoint(server)

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok", "app": server.app.name, "started": server.started})

    async def metrics(request: Request) -> Response:
        return Response(server.metrics.exposition(), media_type="text/plain; version=0.0.4")

    async def realtime(websocket: WebSocket) -> None:
        if not server.started:
            await server.start()
        await serve_realtime(websocket, server.apis, server.api_id, server.hub, server.settings.realtime)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    app = Starlette(
        routes=[
            Route("/graphql", endpoint.handle, methods=["GET", "POST"]),
            WebSocketRoute("/graphql/realtime", realtime),
            Route(STATIC_PATH + "/{name}", explorer_static, methods=["GET"]),  # the explorer's scripts and styles
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "OPTIONS"],
                               allow_headers=["*"], expose_headers=["x-amzn-RequestId", "x-amzn-ErrorType"])],
        lifespan=lifespan,
    )
    app.state.gqlsync = server
    return app
