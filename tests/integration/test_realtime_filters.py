"""Subscription resolvers at subscribe time: enhanced filters, refusal, invalidation; argument filters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings
from tests.helpers import ROOT
from tests.live import live_server, messages

pytestmark = pytest.mark.integration
KEY = "da2-ticketstestkey000001"
PUT = """mutation($id: ID!, $g: String, $s: Int, $st: String, $t: [String], $o: String) {
  putTicket(id: $id, group: $g, severity: $s, status: $st, tags: $t, owner: $o) { id group severity status tags owner } }"""


class T:
    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, headers={"x-api-key": KEY}, timeout=10)

    async def put(self, id: str, **kw: Any) -> None:
        names = {"group": "g", "severity": "s", "status": "st", "tags": "t", "owner": "o"}
        r = await self.http.post("/graphql", json={"query": PUT, "variables": {"id": id, **{names[k]: v for k, v in kw.items()}}})
        assert "errors" not in r.json(), r.json()

    async def ws(self) -> Any:
        ws = await websockets.connect(self.base.replace("http", "ws") + "/graphql/realtime",
                                      subprotocols=["graphql-transport-ws"])
        await ws.send(json.dumps({"type": "connection_init", "payload": {"x-api-key": KEY}}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        return ws


@pytest.fixture
async def t() -> AsyncIterator[T]:
    async with live_server(GqlsyncServer(load_app(ROOT / "tests/apps/tickets"), ServerSettings())) as base:
        client = T(base)
        yield client
        await client.http.aclose()


async def received(ws: Any, wait: float = 0.8) -> list[dict[str, Any]]:
    return await messages(ws, wait)


async def subscribe(ws: Any, sub_id: str, query: str, variables: dict[str, Any]) -> None:
    await ws.send(json.dumps({"id": sub_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}))
    await asyncio.sleep(0.15)


async def test_enhanced_filter_from_the_subscription_resolver(t: T) -> None:
    ws = await t.ws()
    await subscribe(ws, "s", "subscription($g: String!, $m: Int) { onTicket(group: $g, minSeverity: $m) { id severity } }",
                    {"g": "ops", "m": 5})
    await t.put("1", group="ops", severity=7, status="open")            # matches
    await t.put("2", group="ops", severity=3, status="open")            # severity too low
    await t.put("3", group="dev", severity=9, status="open")            # other group
    await t.put("4", group="ops", severity=6, status="closed")          # neither status nor tags
    await t.put("5", group="ops", severity=6, status="closed", tags=["vip"])  # tags rescue it
    msgs = await received(ws)
    assert [m["payload"]["data"]["onTicket"]["id"] for m in msgs if m["type"] == "next"] == ["1", "5"]
    await ws.close()


async def test_subscription_resolver_can_refuse(t: T) -> None:
    ws = await t.ws()
    await subscribe(ws, "x", "subscription { onTicket(group: \"forbidden\") { id } }", {})
    (msg,) = await received(ws, 0.5)
    assert msg["type"] == "error" and msg["payload"][0]["errorType"] == "Unauthorized"
    assert msg["payload"][0]["message"] == "Not Authorized to access onTicket on type Subscription"
    await ws.close()


async def test_argument_filter_without_resolver_and_null_arguments(t: T) -> None:
    ws = await t.ws()
    await subscribe(ws, "mine", "subscription { onAnyTicket(owner: \"ann\") { id owner } }", {})
    await subscribe(ws, "all", "subscription { onAnyTicket { id } }", {})
    await t.put("a", owner="ann")
    await t.put("b", owner="bob")
    msgs = [(m["id"], m["payload"]["data"]["onAnyTicket"]["id"]) for m in await received(ws) if m["type"] == "next"]
    assert sorted(msgs) == [("all", "a"), ("all", "b"), ("mine", "a")]
    await ws.close()


async def test_invalidation_closes_matching_subscriptions(t: T) -> None:
    ws = await t.ws()
    await subscribe(ws, "ops", "subscription { onTicket(group: \"ops\") { id } }", {})
    await subscribe(ws, "dev", "subscription { onTicket(group: \"dev\") { id } }", {})
    r = await t.http.post("/graphql", json={"query": "mutation { closeGroup(group: \"ops\") }"})
    assert r.json() == {"data": {"closeGroup": "closed"}}
    msgs = await received(ws, 0.5)
    assert msgs == [{"type": "complete", "id": "ops"}]
    await t.put("z", group="dev", severity=1, status="open")
    await t.put("y", group="ops", severity=1, status="open")
    msgs = await received(ws, 0.5)
    assert [(m["id"], m["type"]) for m in msgs] == [("dev", "next")]
    await ws.close()
