"""`gqlsync dev --watch`: edits to an app's files are served within a second, broken ones reported and refused."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.lambda_runner import load_handler
from gqlsync.watch import AppFilter, AppWatcher
from tests.helpers import EVENT_APP, EVENT_KEY, ROOT
from tests.services import free_port, wait_for_port

pytestmark = pytest.mark.integration
COMMENTS = "subscription { subscribeToEventComments(eventId: \"e1\") { eventId content } }"
HELLO_REQ = '{"version": "2017-02-28", "payload": "%s"}\n'
ECHO = 'def handler(event, context):\n    return "v1:" + event["arguments"]["text"]\n'


def event_app_with_echo(tmp_path: Path) -> Path:
    """A copy of the Event app with a Lambda resolver: Query.echo, run by lambdas/echo.py."""
    app = tmp_path / "event-app"
    shutil.copytree(EVENT_APP, app, ignore=shutil.ignore_patterns(".gqlsync"))
    (app / "lambdas").mkdir()
    (app / "lambdas/echo.py").write_text(ECHO)
    schema = app / "schema.graphql"
    schema.write_text(schema.read_text().replace("type Query {\n", "type Query {\n  echo(text: String!): String\n"))
    manifest = app / "gqlsync.yaml"
    manifest.write_text(manifest.read_text()
                        .replace("dataSources:\n", "dataSources:\n  Echo: {type: AWS_LAMBDA, config: "
                                                   "{handler: lambdas/echo.py:handler}}\n")
                        .replace("resolvers:\n", "resolvers:\n  - {type: Query, field: echo, dataSource: Echo}\n"))
    return app


def add_hello(app: Path, payload: str) -> None:
    """Query.hello from a NONE data source and a template, and a new table: files written one at a time, each
    state servable."""
    (app / "resolvers/Query.hello.req.vtl").write_text(HELLO_REQ % payload)
    schema = app / "schema.graphql"
    schema.write_text(schema.read_text().replace("type Query {\n", "type Query {\n  hello: String\n"))
    manifest = app / "gqlsync.yaml"
    manifest.write_text(manifest.read_text()
                        .replace("dataSources:\n", "dataSources:\n  Local: {type: NONE}\n")
                        .replace("resolvers:\n", "resolvers:\n  - {type: Query, field: hello, dataSource: Local, "
                                 "request: resolvers/Query.hello.req.vtl, response: resolvers/item.res.vtl}\n")
                        + "  - {name: notes, partitionKey: {name: id, type: S}}\n")  # tables: is the last key


def eventually(check: Callable[[], Any], what: str, timeout: float = 8.0) -> Any:
    """`check()`'s first truthy result, polled until `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


class DevServer:
    """`gqlsync dev APP --watch` as a user runs it, its console output in a file."""

    def __init__(self, app: Path, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "dev.log"
        # bytecode writing on, as users have it: a handler's stale __pycache__ must not be what runs
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE",)}
        env.update(COLUMNS="500", PYTHONPATH=str(ROOT))
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "gqlsync.cli", "dev", str(app), "--watch",
                                          "--port", str(self.port), "--log-level", "warning"],
                                         cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_for_port(self.port, 60, self.proc)
        eventually(lambda: "watching" in self.output(), "the watcher started")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def query(self, query: str) -> dict[str, Any]:
        r = httpx.post(self.url + "/graphql", json={"query": query}, headers={"x-api-key": EVENT_KEY}, timeout=10)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[DevServer, Path]]:
    app = event_app_with_echo(tmp_path)
    server = DevServer(app, tmp_path)
    try:
        yield server, app
    finally:
        server.stop()


async def subscribe(url: str) -> Any:
    """An AppSync realtime (graphql-ws) subscription to comments on event e1, acknowledged."""
    header = base64.b64encode(json.dumps({"host": "x", "x-api-key": EVENT_KEY}).encode()).decode()
    ws = await websockets.connect(f"{url.replace('http', 'ws')}/graphql/realtime?header={header}&payload=e30=",
                                  subprotocols=["graphql-ws"])
    await ws.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "start", "payload": {
        "data": json.dumps({"query": COMMENTS}),
        "extensions": {"authorization": {"host": "x", "x-api-key": EVENT_KEY}}}}))
    assert await next_message(ws, 5) == {"type": "start_ack", "id": "1"}
    return ws


async def next_message(ws: Any, timeout: float) -> dict[str, Any]:
    """The next message that is not a keep-alive."""
    async with asyncio.timeout(timeout):
        while (msg := json.loads(await ws.recv()))["type"] == "ka":
            pass
    return dict(msg)


async def comment_reaches(ws: Any, server: DevServer, text: str) -> None:
    r = await asyncio.to_thread(server.query, f'mutation {{ commentOnEvent(eventId: "e1", content: "{text}", '
                                              'createdAt: "t") { eventId content } }')
    assert "errors" not in r, r
    msg = await next_message(ws, 5)
    assert msg["type"] == "data" and msg["payload"]["data"] == {
        "subscribeToEventComments": {"eventId": "e1", "content": text}}, msg


async def test_dev_watch_serves_edits_refuses_broken_ones_and_keeps_subscriptions(
        dev: tuple[DevServer, Path]) -> None:
    server, app = dev
    assert server.query("{ echo(text: \"a\") }") == {"data": {"echo": "v1:a"}}
    ws = await subscribe(server.url)  # on version 1; it must live through every reload below
    await comment_reaches(ws, server, "before")

    # (1) a new field, its data source, resolver and template
    add_hello(app, "hi")
    await asyncio.to_thread(eventually, lambda: server.query("{ hello }") == {"data": {"hello": "hi"}},
                            "Query.hello served")
    assert "reloaded: version" in server.output()
    await asyncio.to_thread(eventually, lambda: "created tables: notes" in server.output(), "the new table created")
    await comment_reaches(ws, server, "after the new field")

    # (2) a VTL syntax error: reported with file and line; the last good version keeps serving
    template = app / "resolvers/Query.hello.req.vtl"
    template.write_text('{"version": "2017-02-28",\n "payload": #if($ctx.args\n}\n')
    await asyncio.to_thread(eventually, lambda: "reload failed" in server.output(), "the broken template reported")
    assert f"{template.resolve()}:2:" in server.output()
    assert server.query("{ hello }") == {"data": {"hello": "hi"}}

    # (3) fixed: the fix is served
    template.write_text(HELLO_REQ % "hi again")
    await asyncio.to_thread(eventually, lambda: server.query("{ hello }") == {"data": {"hello": "hi again"}},
                            "the fixed template served")

    # (4) a Lambda handler's new code (same size, same second: no stale bytecode) is what runs
    (app / "lambdas/echo.py").write_text(ECHO.replace("v1:", "v2:"))
    await asyncio.to_thread(eventually, lambda: server.query("{ echo(text: \"b\") }") == {"data": {"echo": "v2:b"}},
                            "the handler's new code served")

    await comment_reaches(ws, server, "after every reload")
    await ws.close()
    out = server.output()
    assert "Traceback" not in out, out
    assert ".gqlsync" not in "".join(line for line in out.splitlines() if line.startswith("reloaded")), out


async def test_app_watcher_in_process(tmp_path: Path) -> None:
    """AppWatcher on a server not serving anything: reload, refuse with file and line, and the app's state folder
    and editors' scratch files changing reload nothing."""
    app = tmp_path / "tickets"
    shutil.copytree(ROOT / "tests/apps/tickets", app)
    server = GqlsyncServer(load_app(app), ServerSettings())
    said: list[str] = []
    watcher = AppWatcher(server, say=said.append, step_ms=50)
    await watcher.start()
    try:
        schema = app / "schema.graphql"
        schema.write_text(schema.read_text().replace("owner: String }", "owner: String label: String }", 1))
        await until(lambda: server.api.version == "2", said)
        assert said[-1] == "reloaded: version 2 (1 file changed: schema.graphql)"

        (app / ".gqlsync/dynamodb").mkdir(parents=True)
        (app / ".gqlsync/dynamodb/journal.jsonl").write_text("{}\n")
        (app / ".schema.graphql.swp").write_text("x")
        (app / "__pycache__").mkdir()
        (app / "__pycache__/x.cpython-311.pyc").write_bytes(b"x")
        schema.write_text(schema.read_text() + "type Broken { a: Strin }\n")
        await until(lambda: any(s.startswith("reload failed") for s in said), said)
        assert said[-2] == "reload failed: 1 problem(s); still serving version 2", said
        assert said[-1].startswith(f"  {schema.resolve()}:") and "Strin" in said[-1], said
        assert server.api.version == "2" and watcher.reloads == 1

        manifest = app / "gqlsync.yaml"
        manifest.write_text(manifest.read_text().replace("name: tickets", "name: renamed", 1))
        await until(lambda: "restart it" in said[-1], said)
        assert "not 'renamed'" in said[-2] and server.api.version == "2", said
    finally:
        await watcher.stop()


async def until(check: Callable[[], bool], said: list[str], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, said
        await asyncio.sleep(0.05)


def test_filter_ignores_state_bytecode_and_editor_files_below_the_app_only(tmp_path: Path) -> None:
    root = tmp_path / "node_modules" / "app"  # ignored names above the app folder do not count
    data = tmp_path / "node_modules" / "app" / "data"
    f = AppFilter(root, [data])
    from watchfiles import Change

    def seen(rel: str) -> bool:
        return f(Change.modified, str(root / rel))

    assert seen("schema.graphql") and seen("resolvers/Query.x.req.vtl") and seen("lambdas/fn.py")
    assert seen("gqlsync.yaml") and seen("database.vtl")
    for rel in (".gqlsync/dynamodb/journal.jsonl", ".gqlsync/streams/checkpoints.json", "lambdas/__pycache__/fn.pyc",
                ".schema.graphql.swp", "schema.graphql~", "4913", "#schema.graphql#", ".#schema.graphql",
                "data/x.json", ".git/index", "x.tmp"):
        assert not seen(rel), rel
    assert not f(Change.modified, str(tmp_path / "elsewhere.graphql"))


def test_a_handler_is_compiled_from_the_file_as_it_is_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # __pycache__ written as users have it
    handler = tmp_path / "fn.py"
    handler.write_text("def handler(e, c):\n    return 1\n")
    assert load_handler("fn.py:handler", tmp_path)(None, None) == 1
    handler.write_text("def handler(e, c):\n    return 2\n")  # same size, same second
    assert load_handler("fn.py:handler", tmp_path)(None, None) == 2
    handler.write_text("def handler(e, c):\n    return (\n")
    with pytest.raises(ValueError, match=rf"{handler}:2: .*SyntaxError"):
        load_handler("fn.py:handler", tmp_path)
    handler.write_text("import os\nimport no_such_module_here\n")
    with pytest.raises(ValueError, match=rf"{handler}:2: ModuleNotFoundError"):
        load_handler("fn.py:handler", tmp_path)
