"""Steady mixed load on the Event app over real sockets, every call's outcome kept (the fault suite and the soak)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.services import ROOT, free_port, wait_for_port

EVENT_KEY = "da2-gqlsynclocaldevelopmentkey01"
CREATE = ('mutation($n: String!) { createEvent(name: $n, when: "soon", where: "here", description: "load") '
          "{ id name } }")
COMMENT = ('mutation($e: ID!, $c: String!) { commentOnEvent(eventId: $e, content: $c, createdAt: "t") '
           "{ eventId commentId content } }")
GET = "query($id: ID!) { getEvent(id: $id) { id name } }"
LIST = "query { listEvents(limit: 10) { items { id } nextToken } }"
COMMENTS = ("query($id: ID!, $n: String) { getEvent(id: $id) { comments(limit: 1000, nextToken: $n) "
            "{ items { content } nextToken } } }")
SUB = "subscription($e: String!) { subscribeToEventComments(eventId: $e) { eventId content } }"


def rss_mib(pid: int) -> float:
    """The process's resident set (VmRSS) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class Gqlsync:
    """One `gqlsync serve APP` process (one worker, so its RSS is the server's) on a free loopback port; what it
    logs goes to `log`."""

    def __init__(self, app: Path, log: Path, *args: str) -> None:
        self.port = free_port()
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gqlsync.cli", "serve", str(app), "--host", "127.0.0.1", "--port",
                 str(self.port), "--create-tables", "--log-level", "warning", "--workers", "1", *args],
                cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=out)
        wait_for_port(self.port, 60, self.proc)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> float:
        return rss_mib(self.proc.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@dataclass
class Outcome:
    """One call: `ok`, or how it failed: `graphql` (errors with an errorType), `untyped` (errors without one),
    `http5xx`, `http4xx`, `timeout` (no answer within the client's timeout), `transport` (refused, reset)."""

    op: str
    kind: str
    error_types: tuple[str, ...] = ()
    seconds: float = 0.0
    at: float = 0.0
    detail: str = ""


def classify(op: str, resp: httpx.Response) -> tuple[Outcome, dict[str, Any] | None]:
    if resp.status_code >= 500:
        return Outcome(op, "http5xx", detail=resp.text[:200]), None
    if resp.status_code >= 400:
        return Outcome(op, "http4xx", detail=resp.text[:200]), None
    body: dict[str, Any] = resp.json()
    errors = body.get("errors") or []
    if errors:
        types = tuple(str(e.get("errorType") or "") for e in errors)
        kind = "graphql" if all(types) else "untyped"
        return Outcome(op, kind, types, detail=str(errors[0].get("message"))[:200]), body
    return Outcome(op, "ok"), body


async def call(http: httpx.AsyncClient, base: str, op: str, query: str,
               variables: dict[str, Any]) -> tuple[Outcome, dict[str, Any] | None]:
    start = time.monotonic()
    try:
        resp = await http.post(f"{base}/graphql", json={"query": query, "variables": variables})
        outcome, body = classify(op, resp)
    except httpx.TimeoutException as exc:
        outcome, body = Outcome(op, "timeout", detail=repr(exc)), None
    except httpx.TransportError as exc:
        outcome, body = Outcome(op, "transport", detail=repr(exc)), None
    outcome.seconds = time.monotonic() - start
    outcome.at = time.time()
    return outcome, body


async def realtime_connect(base: str, key: str = EVENT_KEY, **kw: Any) -> websockets.ClientConnection:
    """An AppSync realtime connection, acknowledged."""
    header = base64.b64encode(json.dumps({"host": "load", "x-api-key": key}).encode()).decode()
    ws = await websockets.connect(f"{base.replace('http', 'ws')}/graphql/realtime?header={header}&payload=e30=",
                                  subprotocols=["graphql-ws"], ping_interval=None, **kw)
    await ws.send(json.dumps({"type": "connection_init"}))
    while (msg := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "connection_ack":
        assert msg["type"] == "ka", msg
    return ws


async def subscribe(ws: websockets.ClientConnection, sub_id: str, event_id: str, key: str = EVENT_KEY) -> None:
    """Start subscribeToEventComments(eventId) as `sub_id`; returns once it is acknowledged."""
    await ws.send(json.dumps({"id": sub_id, "type": "start", "payload": {
        "data": json.dumps({"query": SUB, "variables": {"e": event_id}}),
        "extensions": {"authorization": {"host": "load", "x-api-key": key}}}}))
    while (msg := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] == "ka":
        pass
    assert msg == {"type": "start_ack", "id": sub_id}, msg


@dataclass
class Subscription:
    """A live subscription on one event: the comment contents it received, in order."""

    event_id: str
    base: str
    ws: websockets.ClientConnection | None = None
    received: list[str] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)
    closed: str | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.ws = await realtime_connect(self.base)
        await subscribe(self.ws, "s1", self.event_id)
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg["type"] == "data":
                    self.received.append(msg["payload"]["data"]["subscribeToEventComments"]["content"])
                elif msg["type"] != "ka":
                    self.other.append(msg)
        except websockets.ConnectionClosed as exc:
            self.closed = repr(exc)
        else:
            self.closed = "closed"

    async def wait_for(self, contents: list[str], seconds: float) -> bool:
        """True once every one of `contents` has arrived (waits at most `seconds`)."""
        want = set(contents)
        deadline = time.monotonic() + seconds
        while not want <= set(self.received) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return want <= set(self.received)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)


@dataclass
class Load:
    """Steady mixed load: `writers` tasks alternate createEvent and commentOnEvent (on `events`), `readers` alternate
    getEvent and listEvents. Writes go to `write_base`, reads to `read_base`. Every outcome is kept; acknowledged
    writes are kept by id (events) and by content (comments, per event)."""

    http: httpx.AsyncClient
    write_base: str
    read_base: str
    events: list[str]
    writers: int = 4
    readers: int = 4
    pause: float = 0.01
    outcomes: list[Outcome] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    commented: dict[str, list[str]] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._stop.clear()
        self._tasks = [asyncio.ensure_future(self._writer(i)) for i in range(self.writers)]
        self._tasks += [asyncio.ensure_future(self._reader(i)) for i in range(self.readers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        self._tasks = []

    def mark(self) -> int:
        return len(self.outcomes)

    async def _writer(self, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            if i % 2:
                outcome, body = await call(self.http, self.write_base, "createEvent", CREATE,
                                           {"n": f"load-{uuid.uuid4().hex}"})
                if outcome.kind == "ok" and body is not None:
                    self.created.append(body["data"]["createEvent"]["id"])
            else:
                event = self.events[(n + i) % len(self.events)]
                content = f"w{n}.{i}.{uuid.uuid4().hex[:12]}"
                outcome, body = await call(self.http, self.write_base, "commentOnEvent", COMMENT,
                                           {"e": event, "c": content})
                if outcome.kind == "ok":
                    self.commented.setdefault(event, []).append(content)
            self.outcomes.append(outcome)
            await asyncio.sleep(self.pause)

    async def _reader(self, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            i += 1
            if i % 2 and self.created:
                outcome, _ = await call(self.http, self.read_base, "getEvent", GET, {"id": self.created[-1]})
            else:
                outcome, _ = await call(self.http, self.read_base, "listEvents", LIST, {})
            self.outcomes.append(outcome)
            await asyncio.sleep(self.pause)

    def kinds(self, since: int = 0, until: int | None = None) -> Counter[str]:
        return Counter(o.kind for o in self.outcomes[since:until])

    def failures(self, since: int = 0, until: int | None = None) -> list[Outcome]:
        return [o for o in self.outcomes[since:until] if o.kind != "ok"]


def out_of_order(received: list[str]) -> list[tuple[str, str]]:
    """Pairs of comments from one writer that arrived in the opposite order to the one it made them in (a writer
    waits for each answer before its next call, so its order is the order the server published them)."""
    last: dict[str, tuple[int, str]] = {}
    wrong = []
    for content in received:
        writer, seq, _ = content.split(".")
        prev = last.get(writer)
        if prev is not None and int(seq) <= prev[0]:
            wrong.append((prev[1], content))
        last[writer] = (int(seq), content)
    return wrong


async def missing_writes(http: httpx.AsyncClient, base: str, load: Load) -> tuple[list[str], list[str]]:
    """Acknowledged writes that cannot be read back: (event ids, comment contents)."""
    lost_events = []
    for event_id in load.created:
        r = (await http.post(f"{base}/graphql", json={"query": GET, "variables": {"id": event_id}})).json()
        if (r.get("data") or {}).get("getEvent") is None:
            lost_events.append(event_id)
    lost_comments = []
    for event_id, contents in load.commented.items():
        seen: set[str] = set()
        token = None
        while True:
            r = (await http.post(f"{base}/graphql", json={"query": COMMENTS,
                                                         "variables": {"id": event_id, "n": token}})).json()
            page = r["data"]["getEvent"]["comments"]
            seen.update(c["content"] for c in page["items"])
            token = page["nextToken"]
            if not token:
                break
        lost_comments += [c for c in contents if c not in seen]
    return lost_events, lost_comments
