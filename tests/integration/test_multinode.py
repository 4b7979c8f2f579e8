"""Three `gqlsync serve` nodes (127.0.0.2-4) on one Redis and one DynamoDB Local, behind a TCP load balancer: a
mutation on any node reaches subscribers on every node, and a node SIGKILLed under load loses no acknowledged write
while its websocket clients reconnect to the others."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.balancer import Address, Balancer
from tests.helpers import EVENT_APP, EVENT_KEY, ROOT
from tests.services import RedisServer

pytestmark = pytest.mark.integration

HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
CREATE = ('mutation($n: String!) { createEvent(name: $n, when: "soon", where: "here", description: "multinode") '
          "{ id name } }")
COMMENT = ('mutation($e: ID!, $c: String!) { commentOnEvent(eventId: $e, content: $c, createdAt: "t") '
           "{ eventId commentId content } }")
SUB = "subscription($e: String!) { subscribeToEventComments(eventId: $e) { eventId content } }"
WAIT = 120.0  # generous: two shared, noisy cores


async def until(check: Callable[[], bool], what: str, seconds: float = WAIT) -> None:
    """Wait for `check()` to hold (an event wait by polling; the deadline only turns a hang into a failure)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        await asyncio.sleep(0.05)


def free_port_on(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Node:
    """One `gqlsync serve` process (one worker) listening on `host`; what it logs goes to `log`."""

    def __init__(self, host: str, log: Path, *args: str) -> None:
        self.host = host
        self.port = free_port_on(host)
        self.log = log
        self.args = args
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "gqlsync.cli", "serve", str(EVENT_APP), "--host", self.host, "--port",
                 str(self.port), "--workers", "1", "--log-level", "warning", *self.args],
                cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=out)

    async def restart(self) -> None:
        """Start again, on the same address, once the process is gone."""
        assert self.proc.poll() is not None
        self.proc = self._spawn()
        await self.ready()

    @property
    def address(self) -> Address:
        return (self.host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def ready(self) -> None:
        """Once /healthz answers (the app is loaded and its backends started)."""
        async with httpx.AsyncClient(timeout=5) as http:
            async def answered() -> bool:
                try:
                    return (await http.get(f"{self.url}/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            deadline = time.monotonic() + WAIT
            while not await answered():
                if self.proc.poll() is not None:
                    raise AssertionError(f"node {self.host} exited with {self.proc.returncode}:\n"
                                         f"{self.log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"node {self.host} did not answer /healthz")
                await asyncio.sleep(0.1)

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send `sig` and wait for the process to end (SIGTERM: uvicorn's graceful shutdown)."""
        os.killpg(self.proc.pid, sig)
        self.proc.wait(60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@dataclass
class Cluster:
    nodes: list[Node]
    balancer: Balancer

    def node_at(self, address: Address) -> Node:
        return next(n for n in self.nodes if n.address == address)


@pytest.fixture
async def cluster(dynamodb_endpoint: str, redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Cluster]:
    common = ("--dynamodb-endpoint", dynamodb_endpoint, "--redis-url", redis_server.url)
    nodes: list[Node] = []
    balancer: Balancer | None = None
    try:
        nodes.append(Node(HOSTS[0], tmp_path / f"{HOSTS[0]}.log", *common, "--create-tables"))
        await nodes[0].ready()  # the tables exist before the others start
        nodes += [Node(h, tmp_path / f"{h}.log", *common) for h in HOSTS[1:]]
        await asyncio.gather(*(n.ready() for n in nodes[1:]))
        balancer = await Balancer([n.address for n in nodes]).start()
        yield Cluster(nodes, balancer)
    finally:
        if balancer is not None:
            await balancer.close()
        for n in nodes:
            n.stop()


def ws_url(base: str) -> str:
    return base.replace("http", "ws") + "/graphql/realtime"


@dataclass
class Subscriber:
    """A subscribeToEventComments(event) subscription over `protocol` (AppSync's graphql-ws, or
    graphql-transport-ws) through `base`. With `reconnect`, when the connection drops it connects through `base`
    again and subscribes again. `sessions` holds, per connection, the backend it reached (from the balancer) and
    when (loop time) its subscription was known to be registered; `received` every comment content, in order."""

    event_id: str
    base: str
    balancer: Balancer | None
    protocol: str = "graphql-ws"
    reconnect: bool = False
    received: list[str] = field(default_factory=list)
    sessions: list[tuple[Address | None, float]] = field(default_factory=list)
    drops: int = 0
    close_codes: list[int | None] = field(default_factory=list)
    failed: BaseException | None = None
    _ws: websockets.ClientConnection | None = None
    _task: asyncio.Task[None] | None = None
    _closing: bool = False

    @property
    def node(self) -> Address | None:
        return self.sessions[-1][0] if self.sessions else None

    async def start(self) -> Subscriber:
        self._ws = await self._open()
        self._task = asyncio.ensure_future(self._run())
        return self

    async def _open(self) -> websockets.ClientConnection:
        if self.protocol == "graphql-ws":
            header = base64.b64encode(json.dumps({"host": "x", "x-api-key": EVENT_KEY}).encode()).decode()
            ws = await websockets.connect(f"{ws_url(self.base)}?header={header}&payload=e30=",
                                          subprotocols=[Subprotocol("graphql-ws")], ping_interval=None, open_timeout=30)
            await ws.send(json.dumps({"type": "connection_init"}))
            while (msg := json.loads(await asyncio.wait_for(ws.recv(), 30)))["type"] != "connection_ack":
                assert msg["type"] == "ka", msg
            await ws.send(json.dumps({"id": "s", "type": "start", "payload": {
                "data": json.dumps({"query": SUB, "variables": {"e": self.event_id}}),
                "extensions": {"authorization": {"host": "x", "x-api-key": EVENT_KEY}}}}))
            while (msg := json.loads(await asyncio.wait_for(ws.recv(), 30)))["type"] == "ka":
                pass
            assert msg == {"type": "start_ack", "id": "s"}, msg
        else:
            ws = await websockets.connect(ws_url(self.base), subprotocols=[Subprotocol("graphql-transport-ws")],
                                          ping_interval=None, open_timeout=30)
            await ws.send(json.dumps({"type": "connection_init", "payload": {"x-api-key": EVENT_KEY}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 30)) == {"type": "connection_ack"}
            await ws.send(json.dumps({"id": "s", "type": "subscribe",
                                      "payload": {"query": SUB, "variables": {"e": self.event_id}}}))
            # the server handles a connection's messages in order: the pong says the subscription is registered.
            # Under load, events published once it is registered can come before the pong: they count.
            await ws.send(json.dumps({"type": "ping"}))
            while (msg := json.loads(await asyncio.wait_for(ws.recv(), 30))) != {"type": "pong"}:
                assert msg["type"] == "next" and msg["id"] == "s", msg
                self.received.append(msg["payload"]["data"]["subscribeToEventComments"]["content"])
        local = ws.local_address
        node = self.balancer.backend_of((str(local[0]), int(local[1]))) if self.balancer else None
        self.sessions.append((node, asyncio.get_running_loop().time()))
        return ws

    async def _run(self) -> None:
        try:
            while True:
                assert self._ws is not None
                try:
                    async for raw in self._ws:
                        msg = json.loads(raw)
                        if msg["type"] in ("data", "next"):
                            self.received.append(msg["payload"]["data"]["subscribeToEventComments"]["content"])
                        elif msg["type"] not in ("ka", "ping", "pong"):
                            raise AssertionError(f"unexpected message {msg}")
                except websockets.ConnectionClosed:
                    pass
                if self._closing or not self.reconnect:
                    return
                self.drops += 1
                self.close_codes.append(self._ws.close_code)
                self._ws = await self._reopen()
        except Exception as exc:  # kept for the test to report
            self.failed = exc

    async def _reopen(self) -> websockets.ClientConnection:
        for attempt in range(100):
            try:
                return await self._open()
            except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed, TimeoutError):
                await asyncio.sleep(min(0.05 * 2 ** attempt, 1.0))  # a client's backoff, not a wait for state
        raise AssertionError("could not reconnect through the balancer")

    def has(self, contents: set[str]) -> bool:
        return contents <= set(self.received)

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)


async def gql(http: httpx.AsyncClient, base: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    r = await http.post(f"{base}/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = r.json()
    assert r.status_code == 200 and "errors" not in body, body
    return body


async def subscriber_on(cluster: Cluster, node: Node, event_id: str, protocol: str = "graphql-ws",
                        reconnect: bool = False) -> Subscriber:
    """A subscriber connected through the balancer whose connection landed on `node` (round robin: within one
    turn of the backends)."""
    for _ in range(2 * len(cluster.nodes)):
        sub = await Subscriber(event_id, cluster.balancer.url, cluster.balancer, protocol, reconnect).start()
        if sub.node == node.address:
            return sub
        await sub.close()
    raise AssertionError(f"no connection through the balancer landed on {node.host}")


async def test_a_mutation_on_one_node_reaches_subscribers_on_the_others(cluster: Cluster) -> None:
    a, b, c = cluster.nodes
    async with httpx.AsyncClient(headers={"x-api-key": EVENT_KEY}, timeout=30) as http:
        event_id = (await gql(http, cluster.balancer.url, CREATE, {"n": "fan-out"}))["data"]["createEvent"]["id"]
        on_a = await subscriber_on(cluster, a, event_id)
        on_c = await subscriber_on(cluster, c, event_id, "graphql-transport-ws")
        try:
            await gql(http, b.url, COMMENT, {"e": event_id, "c": "from B"})
            await until(lambda: bool(on_a.received and on_c.received), "the comment made on B on A and C")
            # exactly once: a second comment from B arrives next on each (B's events reach Redis in order)
            await gql(http, b.url, COMMENT, {"e": event_id, "c": "again from B"})
            await until(lambda: len(on_a.received) >= 2 and len(on_c.received) >= 2, "the second comment")
            assert on_a.received == ["from B", "again from B"]
            assert on_c.received == ["from B", "again from B"]
            assert on_a.failed is None and on_c.failed is None
        finally:
            await on_a.close()
            await on_c.close()


async def test_a_killed_node_restarted_rejoins(cluster: Cluster) -> None:
    a, b, c = cluster.nodes
    async with httpx.AsyncClient(headers={"x-api-key": EVENT_KEY}, timeout=30) as http:
        event_id = (await gql(http, a.url, CREATE, {"n": "rejoin"}))["data"]["createEvent"]["id"]
        b.kill()
        await gql(http, cluster.balancer.url, COMMENT, {"e": event_id, "c": "while B was away"})
        await b.restart()
        # the balancer sends connections to B again; B's new subscribers get what A and C publish, and B's
        # mutations reach the others
        on_b = await subscriber_on(cluster, b, event_id)
        on_a = await subscriber_on(cluster, a, event_id, "graphql-transport-ws")
        try:
            await gql(http, c.url, COMMENT, {"e": event_id, "c": "from C"})
            await gql(http, b.url, COMMENT, {"e": event_id, "c": "from B"})
            await until(lambda: len(on_b.received) >= 2 and len(on_a.received) >= 2, "both comments on A and B")
            assert sorted(on_b.received) == sorted(on_a.received) == ["from B", "from C"]
            assert on_a.failed is None and on_b.failed is None
        finally:
            await on_a.close()
            await on_b.close()


@dataclass
class Writers:
    """`n` clients, each with its own keep-alive HTTP connection through the balancer, alternating createEvent and
    commentOnEvent (round the `events`) until stopped. A call that fails (connection dropped or refused, no answer)
    was not acknowledged: the client goes on with its next call, through the balancer again. Acknowledged writes
    are kept: event ids, and comment content -> (event, loop time the request was sent)."""

    base: str
    events: list[str]
    n: int = 6
    created: list[str] = field(default_factory=list)
    commented: dict[str, tuple[str, float]] = field(default_factory=dict)
    attempted: set[str] = field(default_factory=set)
    failures: Counter[str] = field(default_factory=Counter)
    odd: list[str] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._writer(i)) for i in range(self.n)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def comments_sent_after(self, t: float) -> set[str]:
        return {c for c, (_, sent) in self.commented.items() if sent > t}

    def acked_on(self, event_id: str, after: float = float("-inf")) -> set[str]:
        return {c for c, (e, sent) in self.commented.items() if e == event_id and sent > after}

    async def _writer(self, w: int) -> None:
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(headers={"x-api-key": EVENT_KEY}, timeout=60,
                                     limits=httpx.Limits(max_connections=1)) as http:
            i = 0
            while not self._stop.is_set():
                i += 1
                if i % 2:
                    query, variables, content = CREATE, {"n": f"mn-{uuid.uuid4().hex}"}, None
                else:
                    event = self.events[(w + i // 2) % len(self.events)]
                    content = f"w{w}.{i}"
                    query, variables = COMMENT, {"e": event, "c": content}
                    self.attempted.add(content)
                sent = loop.time()
                try:
                    r = await http.post(f"{self.base}/graphql", json={"query": query, "variables": variables})
                except httpx.TransportError as exc:
                    self.failures[type(exc).__name__] += 1
                    continue
                body = r.json() if r.status_code == 200 else {}
                if r.status_code != 200 or body.get("errors"):
                    self.odd.append(f"{r.status_code} {r.text[:300]}")
                    continue
                if content is None:
                    self.created.append(body["data"]["createEvent"]["id"])
                else:
                    self.commented[content] = (variables["e"], sent)


async def stored_comments(ddb: Any, event_id: str) -> set[str]:
    out: set[str] = set()
    kwargs: dict[str, Any] = {"TableName": "comments", "KeyConditionExpression": "eventId = :e",
                              "ExpressionAttributeValues": {":e": {"S": event_id}}, "ConsistentRead": True}
    while True:
        page = await ddb.query(**kwargs)
        out.update(item["content"]["S"] for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_a_node_killed_under_load_loses_no_acknowledged_write(cluster: Cluster, ddb: Any,
                                                                    sig: signal.Signals) -> None:
    """SIGKILL: the node's connections are cut without a word. SIGTERM: uvicorn's graceful shutdown closes them
    (websockets with 1012, service restart). Either way the clients carry on through the balancer."""
    a, victim, c = cluster.nodes
    lb = cluster.balancer
    subs: list[Subscriber] = []
    writers: Writers | None = None
    async with httpx.AsyncClient(headers={"x-api-key": EVENT_KEY}, timeout=60) as http:
        try:
            events = [(await gql(http, a.url, CREATE, {"n": f"topic-{k}"}))["data"]["createEvent"]["id"]
                      for k in range(3)]
            # on every node, a subscriber per event (AppSync protocol) and one graphql-transport-ws subscriber
            for node in cluster.nodes:
                for e in events:
                    subs.append(await subscriber_on(cluster, node, e, reconnect=True))
                subs.append(await subscriber_on(cluster, node, events[0], "graphql-transport-ws", reconnect=True))
            # every node reads every other node's events from Redis: a probe from each node reaches everyone
            probes = {f"probe-{n.host}" for n in cluster.nodes}
            for n in cluster.nodes:
                await gql(http, n.url, COMMENT, {"e": events[0], "c": f"probe-{n.host}"})
            await until(lambda: all(s.has(probes) for s in subs if s.event_id == events[0]), "the probes")

            writers = Writers(lb.url, events)
            writers.start()
            await until(lambda: len(writers.commented) >= 50 and len(writers.created) >= 50, "load before the kill")
            # writers' keep-alive connections open on the node about to be killed
            to_victim = [ln for ln in lb.links if ln.backend == victim.address and ln.first.startswith(b"POST")
                         and not ln.done.is_set()]
            assert to_victim, "no writer's connection is on the node about to be killed"
            acked_before_kill = len(writers.commented) + len(writers.created)
            await asyncio.to_thread(victim.kill, sig)

            moved = [s for s in subs if s.sessions[0][0] == victim.address]
            stayed = [s for s in subs if s not in moved]
            assert len(moved) == 4
            await until(lambda: all(s.drops >= 1 and len(s.sessions) >= 2 for s in moved) or
                        any(s.failed for s in subs), "the killed node's subscribers to reconnect")
            assert [s.failed for s in subs if s.failed] == []
            for s in moved:
                assert s.node in {a.address, c.address}, f"reconnected to {s.node}"
                # SIGKILL: the kernel's FIN/RST, passed on by the balancer; SIGTERM: uvicorn's close frame
                assert s.close_codes[0] == (1006 if sig == signal.SIGKILL else 1012), s.close_codes
            back = max(s.sessions[-1][1] for s in moved)
            await until(lambda: len(writers.comments_sent_after(back)) >= 50, "load after the reconnects")
            await writers.stop()

            # the writers went on through the balancer: writes were acknowledged after the kill too
            assert len(writers.commented) + len(writers.created) > acked_before_kill + 50
            assert writers.odd == [], writers.odd[:5]
            assert all(ln.dropped for ln in to_victim), "the balancer kept the killed node's HTTP connections open"

            # every acknowledged write is in DynamoDB
            for event_id in writers.created:
                item = await ddb.get_item(TableName="events", Key={"id": {"S": event_id}}, ConsistentRead=True)
                assert "Item" in item, f"acknowledged createEvent {event_id} is not in DynamoDB"
            for e in events:
                lost = writers.acked_on(e) - await stored_comments(ddb, e)
                assert not lost, f"{len(lost)} acknowledged comments on {e} are not in DynamoDB: {sorted(lost)[:5]}"

            # subscribers get every acknowledged comment made while they were subscribed: the ones that stayed on
            # a surviving node all of them (the killed node's too, through Redis), the moved ones those sent after
            # they subscribed again
            def expected(s: Subscriber) -> set[str]:
                return writers.acked_on(s.event_id, s.sessions[-1][1] if s in moved else float("-inf"))

            await until(lambda: all(s.has(expected(s)) for s in subs), "every acknowledged comment to arrive")
            # a last comment on each event, through a surviving node, arrives after anything still in flight
            for e in events:
                await gql(http, lb.url, COMMENT, {"e": e, "c": "last"})
            await until(lambda: all("last" in s.received for s in subs), "the last comments")
            for s in subs:
                load = [x for x in s.received if not x.startswith("probe-")]
                twice = [x for x, k in Counter(load).items() if k > 1]
                assert twice == [], f"delivered twice to a subscriber on {s.node}: {twice[:5]}"
                assert set(load) <= writers.attempted | {"last"}
                assert s.failed is None
            for s in stayed:
                assert s.drops == 0 and len(s.sessions) == 1
        finally:
            if writers is not None and not writers._stop.is_set():
                await writers.stop()
            for s in subs:
                await s.close()
