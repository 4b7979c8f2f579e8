"""The explorer in headless Chromium: GraphiQL from the package's own files, queries, docs and a live subscription."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from playwright.async_api import async_playwright
from starlette.applications import Starlette
from starlette.routing import Mount

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings, create_app
from tests.helpers import EVENT_APP, EVENT_KEY, unique_prefix, with_table_prefix
from tests.live import live_server
from tests.services import free_port

pytestmark = pytest.mark.integration

#: Debian's `chromium` (tests/run.sh installs it) driven by playwright's pip driver (its own browser download
#: is not needed); GQLSYNC_CHROMIUM points at another build.
CHROMIUM = os.environ.get("GQLSYNC_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"  # the headers tab is open
RESPONSE = ".graphiql-response .CodeMirror"


class Explorer:
    """One browser page on the explorer, with every URL it reached out to."""

    def __init__(self, page: Any, base: str, server: GqlsyncServer) -> None:
        self.page = page
        self.base = base  # where gqlsync's app is: http://127.0.0.1:<port>[/prefix]
        self.server = server
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("websocket", lambda ws: self.urls.append(ws.url))

    async def run(self, query: str) -> None:
        """Put `query` in the editor and press GraphiQL's run button."""
        await self.page.eval_on_selector(QUERY_EDITOR, "(e, q) => e.CodeMirror.setValue(q)", query)
        await self.page.click(".graphiql-execute-button")

    async def response_with(self, text: str, timeout: float = 8000) -> Any:
        """The response pane's JSON once it contains `text`."""
        await self.page.wait_for_function(
            "([sel, text]) => { const e = document.querySelector(sel); return e && e.CodeMirror.getValue().includes(text); }",
            arg=[RESPONSE, text], timeout=timeout)
        value = await self.page.eval_on_selector(RESPONSE, "e => e.CodeMirror.getValue()")
        return json.loads(value)

    def foreign(self) -> list[str]:
        """The requests that did not go to the test's server on 127.0.0.1."""
        local = urlsplit(self.base).netloc  # 127.0.0.1:<port>
        return [u for u in self.urls if urlsplit(u).scheme not in ("data", "blob", "about")
                and urlsplit(u).netloc != local]


@contextlib.asynccontextmanager
async def served(server: GqlsyncServer, prefix: str) -> AsyncIterator[str]:
    """`server` on 127.0.0.1, its app at the root or mounted under `prefix` (as behind /v1/apis/<id>/graphql)."""
    if not prefix:
        async with live_server(server) as base:
            yield base
        return
    port = free_port()
    host = Starlette(routes=[Mount(prefix, app=create_app(server))])  # its lifespan does not reach gqlsync's
    uv = uvicorn.Server(uvicorn.Config(host, host="127.0.0.1", port=port, log_level="warning",
                                       ws_ping_interval=None, ws_per_message_deflate=False))
    task = asyncio.ensure_future(uv.serve())
    try:
        while not uv.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}{prefix}"
    finally:
        uv.should_exit = True
        await task
        await server.stop()


@pytest.fixture(params=["", "/v1/apis/event-app"], ids=["root", "prefixed"])
async def explorer(request: pytest.FixtureRequest, dynamodb_endpoint: str) -> AsyncIterator[Explorer]:
    if CHROMIUM is None:
        pytest.fail("no chromium: tests/run.sh installs Debian's (apt-get install chromium)")
    app = with_table_prefix(load_app(EVENT_APP), unique_prefix())
    server = GqlsyncServer(app, ServerSettings(dev=True, dynamodb_endpoint=dynamodb_endpoint, create_tables=True))
    async with served(server, request.param) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            context = await browser.new_context()
            # Anything leaving 127.0.0.1 fails at once (as it would offline) and is reported below.
            await context.route(lambda url: urlsplit(url).hostname != "127.0.0.1", lambda route: route.abort())
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            ex = Explorer(page, base, server)
            yield ex
            assert ex.foreign() == [], f"the explorer reached outside 127.0.0.1: {ex.foreign()}"
            assert errors == [], f"the page threw: {errors}"
        finally:
            await browser.close()


async def mutate(base: str, query: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        r = await http.post(base + "/graphql", json={"query": query}, headers={"x-api-key": EVENT_KEY})
    body: dict[str, Any] = r.json()
    assert "errors" not in body, body
    return body


async def test_graphiql_runs_queries_docs_and_subscriptions_offline(explorer: Explorer) -> None:
    page = explorer.page
    loaded = await page.goto(explorer.base + "/graphql")
    assert loaded is not None and loaded.ok
    await page.wait_for_selector(QUERY_EDITOR)

    # dev=True pre-fills the headers editor with the app's API key
    headers = await page.eval_on_selector(HEADERS_EDITOR, "e => e.CodeMirror.getValue()")
    assert json.loads(headers) == {"x-api-key": EVENT_KEY}

    # the docs explorer shows the schema, which GraphiQL introspected over POST /graphql
    await page.click("button[aria-label='Show Documentation Explorer']")
    await page.click(".graphiql-doc-explorer a.graphiql-doc-explorer-type-name:text-is('Query')")
    await page.wait_for_selector(".graphiql-doc-explorer-field-name:text-is('getEvent')")
    await page.wait_for_selector(".graphiql-doc-explorer-field-name:text-is('listEvents')")

    # a mutation, then a query, from the editor
    await explorer.run('mutation { createEvent(name: "Offline", when: "now", where: "here", description: "d") { id name } }')
    created = await explorer.response_with('"createEvent"')
    event_id = created["data"]["createEvent"]["id"]
    assert created["data"]["createEvent"]["name"] == "Offline"
    await explorer.run(f'query {{ getEvent(id: "{event_id}") {{ id name where }} }}')
    assert await explorer.response_with('"getEvent"') == \
        {"data": {"getEvent": {"id": event_id, "name": "Offline", "where": "here"}}}

    # a subscription over /graphql/realtime (graphql-transport-ws), fed by a mutation sent over HTTP
    await explorer.run(f'subscription {{ subscribeToEventComments(eventId: "{event_id}") {{ eventId content }} }}')
    server = explorer.server
    async with asyncio.timeout(8):
        while not list(server.hub.registry.on_field(server.api_id, "subscribeToEventComments")):
            await asyncio.sleep(0.02)  # waits for the browser's subscribe to be registered, not for time
    await mutate(explorer.base, f'mutation {{ commentOnEvent(eventId: "{event_id}", content: "from the test", '
                                f'createdAt: "2024-01-01T00:00:00Z") {{ eventId content }} }}')
    pushed = await explorer.response_with("from the test")
    assert pushed == {"data": {"subscribeToEventComments": {"eventId": event_id, "content": "from the test"}}}

    # GraphiQL's run button stops the running subscription: gqlsync forgets it
    await page.click(".graphiql-execute-button[aria-label^='Stop']")
    await page.wait_for_selector(".graphiql-execute-button[aria-label^='Execute']")
    async with asyncio.timeout(8):
        while list(server.hub.registry.on_field(server.api_id, "subscribeToEventComments")):
            await asyncio.sleep(0.02)

    # the headers editor authorizes the socket too: another key is refused at connection_init
    await page.eval_on_selector(HEADERS_EDITOR, """e => e.CodeMirror.setValue('{"x-api-key": "da2-nope"}')""")
    await explorer.run(f'subscription {{ subscribeToEventComments(eventId: "{event_id}") {{ content }} }}')
    refused = await explorer.response_with("4403")
    assert refused == {"errors": [{"message": "The realtime connection closed: 4403 Forbidden"}]}

    ws_base = explorer.base.replace("http://", "ws://")
    assert [u for u in explorer.urls if u.startswith("ws")] == [ws_base + "/graphql/realtime"] * 2
    assert any(u.startswith(explorer.base + "/_gqlsync/static/graphiql.min.js?v=") for u in explorer.urls)
