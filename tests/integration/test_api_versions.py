"""A new API version replaces the served one atomically: subscriptions and requests keep the version they started on."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from gqlsync.app import AppError, load_app
from gqlsync.http import GqlsyncServer, ServerSettings
from tests.helpers import ROOT
from tests.live import live_server, messages

pytestmark = pytest.mark.integration
KEY = "da2-ticketstestkey000001"


def version_two(tmp_path: Path) -> Path:
    """The tickets app with a field v1 does not have: `label`."""
    dst = tmp_path / "tickets"
    shutil.copytree(ROOT / "tests/apps/tickets", dst)
    schema = dst / "schema.graphql"
    schema.write_text(schema.read_text().replace("owner: String }", "owner: String label: String }", 1)
                      .replace("owner: String): Ticket", "owner: String, label: String): Ticket", 1))
    return dst


async def connect(base: str) -> Any:
    ws = await websockets.connect(base.replace("http", "ws") + "/graphql/realtime",
                                  subprotocols=["graphql-transport-ws"])
    await ws.send(json.dumps({"type": "connection_init", "payload": {"x-api-key": KEY}}))
    assert json.loads(await ws.recv()) == {"type": "connection_ack"}
    return ws


async def subscribe(ws: Any, sub_id: str, query: str) -> list[dict[str, Any]]:
    """The errors the server answers a subscribe with: none within 0.3 s for an accepted one."""
    await ws.send(json.dumps({"id": sub_id, "type": "subscribe", "payload": {"query": query}}))
    return [m for m in await messages(ws, 0.3) if m.get("type") == "error"]


async def refusal(ws: Any, sub_id: str, query: str) -> dict[str, Any]:
    """The error a refused subscribe is answered with (however long a busy machine takes to send it)."""
    await ws.send(json.dumps({"id": sub_id, "type": "subscribe", "payload": {"query": query}}))
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message.get("type") == "error" and message.get("id") == sub_id:
            return dict(message)


async def test_subscriptions_keep_their_version_and_new_ones_start_on_the_new_one(tmp_path: Path) -> None:
    server = GqlsyncServer(load_app(ROOT / "tests/apps/tickets"), ServerSettings())
    async with live_server(server) as base, httpx.AsyncClient(base_url=base, headers={"x-api-key": KEY}) as http:
        old_ws, new_ws = await connect(base), await connect(base)
        assert await subscribe(old_ws, "old", "subscription { onAnyTicket { id owner } }") == []
        refused = await refusal(new_ws, "early", "subscription { onAnyTicket { id label } }")
        assert refused and "label" in json.dumps(refused)  # v1 has no such field
        installed = await server.install(load_app(version_two(tmp_path)))
        assert installed.version == "2" and server.api is installed.api
        assert await subscribe(new_ws, "new", "subscription { onAnyTicket { id label } }") == []
        r = await http.post("/graphql", json={"query": 'mutation { putTicket(id: "t1", owner: "ann", label: "L") '
                                                       "{ id owner label } }"})
        assert r.json() == {"data": {"putTicket": {"id": "t1", "owner": "ann", "label": "L"}}}
        old = [m for m in await messages(old_ws, 0.5) if m.get("type") == "next"]
        new = [m for m in await messages(new_ws, 0.5) if m.get("type") == "next"]
        # one event of the API reaches both, each shaped by the version its subscription started on
        assert [m["payload"]["data"] for m in old] == [{"onAnyTicket": {"id": "t1", "owner": "ann"}}]
        assert [m["payload"]["data"] for m in new] == [{"onAnyTicket": {"id": "t1", "label": "L"}}]
        await old_ws.close()
        await new_ws.close()


async def test_a_broken_version_is_refused_and_the_served_one_stays(tmp_path: Path) -> None:
    server = GqlsyncServer(load_app(ROOT / "tests/apps/tickets"), ServerSettings())
    broken = version_two(tmp_path)
    (broken / "schema.graphql").write_text("type Query { ping: Strin }")
    app = load_app(broken)  # loads: the schema is only checked when the version is built
    with pytest.raises(AppError, match="Strin"):
        await server.install(app)
    assert server.api.version == "1" and server.app.name == "tickets"


async def test_a_replaced_version_is_closed_after_its_requests_had_their_time(tmp_path: Path) -> None:
    import asyncio

    server = GqlsyncServer(load_app(ROOT / "tests/apps/tickets"), ServerSettings())
    async with live_server(server):
        first = server.served
        closed: list[str] = []

        async def close() -> None:
            closed.append(first.version)

        object.__setattr__(first.api, "close", close)  # observe it (the version object is otherwise untouched)
        first.api.limits["requestTimeoutSeconds"] = 0.1  # its requests are cut off after 0.1 s
        await server.install(load_app(version_two(tmp_path)))
        assert closed == []  # a request that started on version 1 may still be running
        for _ in range(100):
            if closed:
                break
            await asyncio.sleep(0.1)
        assert closed == ["1"]
