"""Deploys and rollbacks of a managed `gqlsync serve` under steady load: no request fails, no subscription drops.

A real `gqlsync serve` (managed, SQLite control store, DynamoDB Local) serves the Event app. While HTTP clients
loop queries and mutations and 20 websocket subscriptions (graphql-transport-ws) listen on a field every version
has, the admin API deploys a version adding an optional field (and a subscription field) and rolls back to the
first one, alternately. A subscriber joins (AppSync protocol) after each change, so subscriptions live on many
versions at once. Then: every HTTP response was a 200 without `errors`, every socket is open and got neither an
error nor a `complete`, every subscriber got every comment published after it subscribed, the last version
serves, and the one subscription on the field a rollback removed got an error and a `complete`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from gqlsync.control.bundle import Bundle
from tests.helpers import EVENT_APP, EVENT_KEY, ROOT, unique_prefix
from tests.services import free_port, wait_for_port

pytestmark = pytest.mark.integration

TOKEN = "deploy-under-load-admin-token"
API = "events"
SUBSCRIBERS = 20
CYCLES = 10  # each: deploy the version with `tag`, then roll back to version 1 (20 changes), then one last deploy
QUERY_CLIENTS = 4
MUTATION_CLIENTS = 2

SUB = "subscription S($e: String!) { subscribeToEventComments(eventId: $e) { eventId commentId content } }"
GONE = "subscription { onCreateEvent { id name } }"  # only in the version with `tag`: rollbacks remove it
COMMENT = ('mutation C($e: ID!, $c: String!) { commentOnEvent(eventId: $e, content: $c, createdAt: "2026-12-01") '
           "{ eventId commentId content createdAt } }")
CREATE = ('mutation { createEvent(name: "load", when: "2026-12-01", where: "Berlin", description: "deploys") '
          "{ id name when where description } }")
GET = "query G($id: ID!) { getEvent(id: $id) { id name where when description } }"
LIST = "{ listEvents(limit: 5) { items { id name } nextToken } }"


def versions(tmp: Path, prefix: str) -> tuple[Bundle, Bundle]:
    """The Event app on this test's own tables, and the same with an optional `Event.tag` and `onCreateEvent`."""
    base = tmp / "base"
    shutil.copytree(EVENT_APP, base)
    manifest = base / "gqlsync.yaml"
    manifest.write_text(re.sub(r"(tableName: |- name: )(events|comments)\b", rf"\g<1>{prefix}\g<2>",
                               manifest.read_text()))
    tagged = tmp / "tagged"
    shutil.copytree(base, tagged)
    schema = tagged / "schema.graphql"
    text = schema.read_text()
    assert "  description: String\n" in text and "type Subscription {\n" in text
    schema.write_text(text.replace("  description: String\n", "  description: String\n  tag: String\n", 1)
                      .replace("type Subscription {\n", 'type Subscription {\n  onCreateEvent: Event\n'
                               '    @aws_subscribe(mutations: ["createEvent"])\n', 1))
    return Bundle.from_folder(base), Bundle.from_folder(tagged)


@contextlib.asynccontextmanager
async def managed_server(tmp: Path, endpoint: str) -> AsyncIterator[str]:
    """`gqlsync serve` with no app folder (a managed server) on a free port; yields its base URL."""
    port = free_port()
    log = (tmp / "server.log").open("wb")
    env = {**os.environ, "GQLSYNC_HOME": str(tmp / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gqlsync.cli", "serve", "--state-dir", str(tmp / "state"), "--host", "127.0.0.1",
         "--port", str(port), "--dynamodb-endpoint", endpoint, "--create-tables", "--admin-token", TOKEN,
         "--log-level", "warning"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        await asyncio.to_thread(wait_for_port, port, 60, proc)
        yield f"http://127.0.0.1:{port}"
        assert proc.poll() is None, "the server exited during the test"
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Admin:
    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30)

    async def call(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        r = await self.http.post("/admin/graphql", json={"query": query, "variables": variables})
        body = r.json()
        assert r.status_code == 200 and not body.get("errors"), body
        data: dict[str, Any] = body["data"]
        return data

    async def deploy(self, bundle: Bundle) -> int:
        out = (await self.call("mutation($a: String!, $f: JSON!) { deploy(api: $a, files: $f, allowBreaking: true) "
                               "{ refused problems { reason } version { number } api { currentVersion servingHere } } }",
                               {"a": API, "f": bundle.to_json()}))["deploy"]
        assert out["refused"] is None, out
        number: int = out["version"]["number"]
        assert out["api"]["currentVersion"] == number and out["api"]["servingHere"] == str(number), out
        return number

    async def rollback(self, to: int) -> None:
        out = (await self.call("mutation($a: String!, $t: Int) { rollback(api: $a, to: $t) "
                               "{ currentVersion servingHere } }", {"a": API, "t": to}))["rollback"]
        assert out == {"currentVersion": to, "servingHere": str(to)}, out


@dataclass
class Load:
    """What the HTTP clients did: every request, the failures, and when each comment's mutation was sent."""

    http: httpx.AsyncClient
    event_id: str
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    #: commentId -> loop time the mutation was sent
    comments: dict[str, float] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any] | None:
        self.requests += 1
        try:
            r = await self.http.post("/graphql", json={"query": query, "variables": variables or {}})
            body = r.json()
        except Exception as exc:
            self.failures.append(f"{query[:30]}: {exc!r}")
            return None
        if r.status_code != 200 or body.get("errors") or not body.get("data"):
            self.failures.append(f"{query[:30]}: HTTP {r.status_code} {body}")
            return None
        data: dict[str, Any] = body["data"]
        return data

    async def querying(self, n: int) -> None:
        while not self.stop.is_set():
            if n % 2:
                await self.gql(LIST)
            else:
                await self.gql(GET, {"id": self.event_id})
            n += 1

    async def commenting(self, n: int) -> None:
        loop = asyncio.get_running_loop()
        i = 0
        while not self.stop.is_set():
            sent = loop.time()
            data = await self.gql(COMMENT, {"e": self.event_id, "c": f"client {n} comment {i}"})
            if data is not None:
                self.comments[data["commentOnEvent"]["commentId"]] = sent
            i += 1
            await asyncio.sleep(0.01)


@dataclass
class Subscriber:
    """One socket and one subscription on the comments of the load's event."""

    ws: Any
    protocol: str
    #: loop time from which it must get every comment (its `start_ack`, or a probe comment it received)
    since: float = 0.0
    received: set[str] = field(default_factory=set)
    other: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def listen(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind in ("ka", "pong", "ping"):
                    continue
                if msg.get("id") == "c" and kind in ("next", "data") and not msg["payload"].get("errors"):
                    self.received.add(msg["payload"]["data"]["subscribeToEventComments"]["commentId"])
                else:
                    self.other.append(msg)


async def transport_ws(base: str, event_id: str) -> Subscriber:
    ws = await websockets.connect(base.replace("http", "ws") + "/graphql/realtime",
                                  subprotocols=["graphql-transport-ws"], ping_interval=None)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"x-api-key": EVENT_KEY}}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "connection_ack"}
    await ws.send(json.dumps({"id": "c", "type": "subscribe", "payload": {"query": SUB,
                                                                          "variables": {"e": event_id}}}))
    return Subscriber(ws, "graphql-transport-ws")


async def appsync(base: str, event_id: str) -> Subscriber:
    """The AppSync protocol: its `start_ack` says when the subscription is live."""
    header = base64.b64encode(json.dumps({"host": "127.0.0.1", "x-api-key": EVENT_KEY}).encode()).decode()
    ws = await websockets.connect(base.replace("http", "ws") + f"/graphql/realtime?header={header}&payload=e30=",
                                  subprotocols=["graphql-ws"], ping_interval=None)
    await ws.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "c", "type": "start", "payload": {
        "data": json.dumps({"query": SUB, "variables": {"e": event_id}}),
        "extensions": {"authorization": {"host": "127.0.0.1", "x-api-key": EVENT_KEY}}}}))
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] != "ka":
            break
    assert msg == {"type": "start_ack", "id": "c"}, msg
    sub = Subscriber(ws, "appsync", since=asyncio.get_running_loop().time())
    sub.task = asyncio.create_task(sub.listen())
    return sub


async def until(condition: Any, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_deploys_and_rollbacks_under_load_fail_nothing_and_drop_no_subscription(
        tmp_path: Path, dynamodb_endpoint: str) -> None:
    base_bundle, tagged_bundle = versions(tmp_path, unique_prefix())
    loop = asyncio.get_running_loop()
    async with managed_server(tmp_path, dynamodb_endpoint) as base, \
            httpx.AsyncClient(base_url=base, headers={"x-api-key": EVENT_KEY}, timeout=30,
                              limits=httpx.Limits(max_connections=16)) as http:
        admin = Admin(base)
        first = await admin.deploy(base_bundle)
        assert first == 1
        created = (await http.post("/graphql", json={"query": CREATE})).json()
        load = Load(http, created["data"]["createEvent"]["id"])

        # 20 subscriptions, all live before the load starts: a probe comment reaches every one of them
        subscribers = await asyncio.gather(*(transport_ws(base, load.event_id) for _ in range(SUBSCRIBERS)))
        for s in subscribers:
            s.task = asyncio.create_task(s.listen())
        probe = ""

        async def probe_reached_all() -> None:
            nonlocal probe
            data = await load.gql(COMMENT, {"e": load.event_id, "c": "probe"})
            assert data is not None
            probe = data["commentOnEvent"]["commentId"]

        for _ in range(50):
            await probe_reached_all()
            await asyncio.sleep(0.1)
            if all(probe in s.received for s in subscribers):
                break
        else:
            pytest.fail("the subscriptions never all became live")
        started = loop.time()
        for s in subscribers:
            s.since = started

        workers = [asyncio.create_task(load.querying(n)) for n in range(QUERY_CLIENTS)]
        workers += [asyncio.create_task(load.commenting(n)) for n in range(MUTATION_CLIENTS)]
        await asyncio.sleep(0.5)

        gone: Subscriber | None = None
        changes = 0
        for cycle in range(CYCLES):
            number = await admin.deploy(tagged_bundle)
            changes += 1
            subscribers.append(await appsync(base, load.event_id))  # lives on the version just deployed
            tagged = await load.gql(f"query {{ getEvent(id: \"{load.event_id}\") {{ id tag }} }}")
            assert tagged == {"getEvent": {"id": load.event_id, "tag": None}}, f"version {number} does not serve"
            if cycle == CYCLES // 2:
                # a subscription on the field the rollback below removes, on a socket of the first 20
                gone = subscribers[0]
                await gone.ws.send(json.dumps({"id": "gone", "type": "subscribe", "payload": {"query": GONE}}))
                for _ in range(50):  # live once it hears a createEvent
                    await load.gql(CREATE)
                    await asyncio.sleep(0.05)
                    if any(m.get("id") == "gone" for m in gone.other):
                        break
            await asyncio.sleep(0.3)
            await admin.rollback(first)
            changes += 1
            subscribers.append(await appsync(base, load.event_id))  # lives on version 1
            await asyncio.sleep(0.3)
        last = await admin.deploy(tagged_bundle)
        await asyncio.sleep(0.5)

        load.stop.set()
        await asyncio.gather(*workers)
        ended = loop.time()

        # every comment made after a subscriber subscribed reached it
        def owed(s: Subscriber) -> set[str]:
            return {c for c, sent in load.comments.items() if sent >= s.since}

        with contextlib.suppress(AssertionError):
            await until(lambda: all(owed(s) <= s.received for s in subscribers), 10, "the last deliveries")
        assert changes == 2 * CYCLES and last == CYCLES + 2  # rollbacks make no version
        assert load.failures == [], f"{len(load.failures)} of {load.requests} requests failed: {load.failures[:5]}"
        assert load.requests > 200 and len(load.comments) > 50, (load.requests, len(load.comments))
        for i, s in enumerate(subscribers):
            missing = owed(s) - s.received
            assert not missing, f"subscriber {i} ({s.protocol}) missed {len(missing)} of {len(owed(s))} comments"
            assert s.task is not None and not s.task.done(), f"subscriber {i} ({s.protocol}): its socket closed"
            unexpected = [m for m in s.other if m.get("id") != "gone"]
            assert unexpected == [], f"subscriber {i} ({s.protocol}) got {unexpected}"

        # the subscription on the removed field: an error saying why, then `complete`; nothing else on it
        assert gone is not None
        about = [m for m in gone.other if m.get("id") == "gone"]
        heard = [m for m in about if m["type"] == "next" and not m["payload"].get("errors")]
        ending = [m for m in about if m not in heard]
        assert len(ending) == 2 and ending[1] == {"type": "complete", "id": "gone"}, ending
        error = ending[0]["payload"]["errors"][0]
        assert error["errorType"] == "SubscriptionFieldRemoved"
        assert "onCreateEvent" in error["message"] and f"version {first}" in error["message"]
        assert heard, "the onCreateEvent subscription heard no createEvent while its version served"

        # the last version serves, over HTTP and to a new subscription on its new field
        r = (await http.post("/graphql", json={"query": f"{{ getEvent(id: \"{load.event_id}\") {{ id tag }} }}"}))
        assert r.json() == {"data": {"getEvent": {"id": load.event_id, "tag": None}}}
        state = await admin.call("query($a: String!) { api(name: $a) { currentVersion servingHere } }", {"a": API})
        assert state["api"] == {"currentVersion": last, "servingHere": str(last)}
        print(f"\n{load.requests} requests, {len(load.comments)} comments in {ended - started:.1f} s; "
              f"{len(subscribers)} subscribers; {changes + 1} deploys/rollbacks; "
              f"{sum(len(s.received) for s in subscribers)} deliveries")
        for s in subscribers:
            await s.ws.close()
        await admin.http.aclose()
