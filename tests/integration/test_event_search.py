"""examples/event-search on the embedded default (DynamoDB, its streams and the search engine, all embedded):
created events become searchable by themselves (the table's stream feeds the index), deleted ones leave it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gqlsync.app import load_app
from gqlsync.server import GqlsyncServer, ServerSettings
from tests.helpers import ROOT, GraphQLClient

APP = ROOT / "examples" / "event-search"
KEY = "da2-gqlsynceventsearchdevkey01"
CREATE = "mutation($n: String!, $w: String!, $d: String!) { createEvent(name: $n, when: \"soon\", where: $w, " \
         "description: $d) { id name } }"
SEARCH = "query($t: String!, $w: String, $l: Int, $n: String) { searchEvents(text: $t, where: $w, limit: $l, " \
         "nextToken: $n) { items { id name where } total nextToken } }"


async def ok(c: GraphQLClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    r = await c.query(query, variables)
    assert "errors" not in r, r
    return dict(r["data"])


async def eventually(c: GraphQLClient, variables: dict[str, Any], done: Callable[[dict[str, Any]], bool],
                     seconds: float = 10.0) -> dict[str, Any]:
    """The search answer once `done` holds for it (the stream reaches the index a moment after the write)."""
    deadline = time.monotonic() + seconds
    while True:
        found = dict((await ok(c, SEARCH, variables))["searchEvents"])
        if done(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


def dev_settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(embedded_dynamodb_dir=tmp_path / "ddb", embedded_search_dir=tmp_path / "search",
                          create_tables=True, streams_dir=tmp_path / "streams")


async def test_created_events_are_searchable_and_deleted_ones_are_not(tmp_path: Path) -> None:
    server = GqlsyncServer(load_app(APP), dev_settings(tmp_path))
    async with GraphQLClient(server, api_key=KEY) as c:
        empty = (await ok(c, SEARCH, {"t": "python"}))["searchEvents"]
        assert empty == {"items": [], "total": 0, "nextToken": None}  # nothing indexed yet
        made = {}
        for name, where, desc in [("Python meetup", "Berlin", "talks"), ("Rust meetup", "Berlin", "python interop"),
                                  ("Python conference", "Paris", "three days"), ("Jazz night", "Paris", "music")]:
            made[name] = (await ok(c, CREATE, {"n": name, "w": where, "d": desc}))["createEvent"]["id"]
        found = await eventually(c, {"t": "python"}, lambda f: f["total"] == 3)
        assert found["total"] == 3
        # a match in the name (weighted 3x) ranks above one in the description only
        assert [i["name"] for i in found["items"]][-1] == "Rust meetup"
        in_paris = (await ok(c, SEARCH, {"t": "python", "w": "Paris"}))["searchEvents"]
        assert [i["name"] for i in in_paris["items"]] == ["Python conference"]
        pages, token = [], None
        for _ in range(4):
            page = (await ok(c, SEARCH, {"t": "python", "l": 2, "n": token}))["searchEvents"]
            pages += [i["id"] for i in page["items"]]
            token = page["nextToken"]
            if token is None:
                break
        assert sorted(pages) == sorted(i["id"] for i in found["items"])  # every match once
        await ok(c, "mutation($id: ID!) { deleteEvent(id: $id) { id } }", {"id": made["Python meetup"]})
        after = await eventually(c, {"t": "python"}, lambda f: f["total"] == 2)
        assert made["Python meetup"] not in [i["id"] for i in after["items"]] and after["total"] == 2
        r = await c.query('mutation { deleteEvent(id: "no-such-event") { id } }')
        assert r == {"data": {"deleteEvent": None}}


async def test_a_version_that_brings_the_first_search_source_starts_the_engine(tmp_path: Path) -> None:
    import dataclasses

    from tests.helpers import EVENT_APP

    server = GqlsyncServer(load_app(EVENT_APP), ServerSettings(embedded_dynamodb_dir=tmp_path / "ddb",
                                                               embedded_search_dir=tmp_path / "search"))
    await server.start()
    try:
        assert server.clients.settings.search_endpoint is None  # no search source: no engine
        await server.install(dataclasses.replace(load_app(APP), name="event-app"))
        assert server.clients.settings.search_endpoint is not None
        async with GraphQLClient(server, api_key=KEY) as c:
            assert (await ok(c, SEARCH, {"t": "python"}))["searchEvents"]["total"] == 0
    finally:
        await server.stop()


async def test_the_index_is_rebuilt_from_the_table_after_a_restart(tmp_path: Path) -> None:
    """The embedded DynamoDB rebuilds its state (and so a new stream) at each start: the worker sees the stream
    replaced, scans the table into the index and drops what the table no longer has."""
    server = GqlsyncServer(load_app(APP), dev_settings(tmp_path))
    async with GraphQLClient(server, api_key=KEY) as c:
        kept = (await ok(c, CREATE, {"n": "Python kept", "w": "Rome", "d": "x"}))["createEvent"]["id"]
        gone = (await ok(c, CREATE, {"n": "Python gone", "w": "Rome", "d": "x"}))["createEvent"]["id"]
        assert (await eventually(c, {"t": "python"}, lambda f: f["total"] == 2))["total"] == 2
    # the index holds a document the table lost while nothing was following the stream
    await server.stop()
    from gqlsync.embedded.search import EmbeddedSearch

    engine = EmbeddedSearch(tmp_path / "search")
    engine.start()
    engine.engine.index_doc("events", "stale", {"id": "stale", "name": "Python stale", "where": "Rome"})
    engine.stop()
    server = GqlsyncServer(load_app(APP), dev_settings(tmp_path))
    async with GraphQLClient(server, api_key=KEY) as c:
        await ok(c, "mutation($id: ID!) { deleteEvent(id: $id) { id } }", {"id": gone})
        found = await eventually(c, {"t": "python"}, lambda f: f["total"] == 1)
        assert [i["id"] for i in found["items"]] == [kept]
