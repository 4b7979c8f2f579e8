"""`create_app`: the Starlette application, standalone or mounted inside another Starlette app."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from gqlsync.app import App
from gqlsync.http.explorer import STATIC_PATH, explorer_static
from gqlsync.http.graphql import GraphQLEndpoint
from gqlsync.http.responses import error_response, json_response
from gqlsync.realtime.endpoint import serve_realtime
from gqlsync.server import GqlsyncServer, ServerSettings


def admin_routes(server: GqlsyncServer) -> list[Route]:
    """/admin/graphql when the server is managed (it has a control plane)."""
    if server.control is None:
        return []
    from gqlsync.control.admin import admin_endpoint

    return [Route("/admin/graphql", admin_endpoint(server.control), methods=["GET", "POST"])]


_ERROR_TYPES = {404: "NotFoundException", 405: "MethodNotAllowedException"}


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, method not allowed) in AppSync's error shape."""
    assert isinstance(exc, HTTPException)
    return error_response(exc.detail, _ERROR_TYPES.get(exc.status_code, "BadRequestException"), exc.status_code,
                          str(uuid.uuid4()), dict(exc.headers or {}))


def create_app(source: str | Path | App | GqlsyncServer, settings: ServerSettings | None = None) -> Starlette:
    """Serve one app. Raises AppError (file, line, reason) if the app is broken: nothing is served then.

    Mounted in another Starlette app (whose lifespan does not reach sub-apps), the backends start
    on the first request instead; call `app.state.gqlsync.stop()` from the host's shutdown.
    """
    server = source if isinstance(source, GqlsyncServer) else GqlsyncServer(source, settings)
    endpoint = GraphQLEndpoint(server)

    async def healthz(request: Request) -> Response:
        default = server.apis.get(server.api_id) if server.api_id else None
        return json_response({"status": "ok", "app": default.api.app.name if default else None,
                              "apis": len(server.apis.ids()), "started": server.started})

    async def metrics(request: Request) -> Response:
        return Response(server.metrics.exposition(), media_type="text/plain; version=0.0.4")

    async def realtime(websocket: WebSocket) -> None:
        if not server.started:
            await server.start()
        key = websocket.path_params.get("api")
        api_id = server.resolve(key)
        if api_id is None:
            await websocket.close(code=4404, reason=f"No API {key!r} on this server" if key else "No API yet")
            return
        await serve_realtime(websocket, server.apis, api_id, server.hub, server.settings.realtime)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.start()
        watcher = None
        try:
            if server.settings.watch:
                from gqlsync.watch import AppWatcher

                watcher = AppWatcher(server)
                await watcher.start()
            yield
        finally:
            if watcher is not None:
                await watcher.stop()
            await server.stop()

    app = Starlette(
        routes=[
            Route("/graphql", endpoint.handle, methods=["GET", "POST"]),
            WebSocketRoute("/graphql/realtime", realtime),
            Route("/v1/apis/{api}/graphql", endpoint.handle, methods=["GET", "POST"]),
            WebSocketRoute("/v1/apis/{api}/graphql/realtime", realtime),
            *admin_routes(server),
            Route(STATIC_PATH + "/{name}", explorer_static, methods=["GET"]),  # the explorer's scripts and styles
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "OPTIONS"],
                               allow_headers=["*"], expose_headers=["x-amzn-RequestId", "x-amzn-ErrorType"])],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.gqlsync = server
    return app
