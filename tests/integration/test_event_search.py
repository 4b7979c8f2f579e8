"""examples/event-search on the embedded default (DynamoDB and the search engine, both embedded): events are
searchable as soon as they are created, and gone from the index once deleted."""

from __future__ import annotations

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


async def test_created_events_are_searchable_and_deleted_ones_are_not(tmp_path: Path) -> None:
    server = GqlsyncServer(load_app(APP), ServerSettings(embedded_dynamodb_dir=tmp_path / "ddb",
                                                         embedded_search_dir=tmp_path / "search", create_tables=True))
    async with GraphQLClient(server, api_key=KEY) as c:
        empty = (await ok(c, SEARCH, {"t": "python"}))["searchEvents"]
        assert empty == {"items": [], "total": 0, "nextToken": None}  # nothing indexed yet
        made = {}
        for name, where, desc in [("Python meetup", "Berlin", "talks"), ("Rust meetup", "Berlin", "python interop"),
                                  ("Python conference", "Paris", "three days"), ("Jazz night", "Paris", "music")]:
            made[name] = (await ok(c, CREATE, {"n": name, "w": where, "d": desc}))["createEvent"]["id"]
        found = (await ok(c, SEARCH, {"t": "python"}))["searchEvents"]
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
        after = (await ok(c, SEARCH, {"t": "python"}))["searchEvents"]
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
