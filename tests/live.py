"""A real gqlsync server on a loopback port (uvicorn in the test's event loop), for websocket and TLS tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from gqlsync.http import GqlsyncServer, create_app
from tests.services import free_port


async def messages(ws: Any, wait: float) -> list[dict[str, Any]]:
    """Every JSON message a websocket client receives within `wait` seconds."""
    import json

    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while (left := deadline - loop.time()) > 0:
        try:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            break
    return out


@contextlib.asynccontextmanager
async def live_server(server: GqlsyncServer, **uvicorn_options: Any) -> AsyncIterator[str]:
    """Serve `server` on 127.0.0.1; yields the base URL (http:// or https://)."""
    port = free_port()
    options: dict[str, Any] = {"ws_ping_interval": None, "ws_per_message_deflate": False, **uvicorn_options}
    config = uvicorn.Config(create_app(server), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", **options)
    uv = uvicorn.Server(config)
    task = asyncio.ensure_future(uv.serve())
    while not uv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    scheme = "https" if uvicorn_options.get("ssl_certfile") else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 10)
        except TimeoutError:
            uv.force_exit = True
            await task
