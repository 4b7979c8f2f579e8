"""Amplify's @searchable output, imported with `import-cfn` as it is, served against the embedded search engine.

The transformer's searchX resolvers (filters, sort, nextToken, from, aggregates) run unchanged; their data source
talks to the embedded engine through opensearch-py, as it would to a cluster. The streaming function's event source
mapping is imported as a `streams:` entry, so events created through the API reach the index from the table's
stream, as on AWS.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gqlsync.app import load_app
from gqlsync.app.cloudformation import import_cloudformation
from gqlsync.app.model import amplify_index
from gqlsync.server import GqlsyncServer, ServerSettings
from tests.helpers import ROOT, GraphQLClient, amplify_transform, unique_prefix, with_table_prefix

pytestmark = pytest.mark.integration
KEY = "da2-searchabletestkey0000001"
EVENTS: list[dict[str, Any]] = [
    {"id": "e1", "name": "Python meetup", "description": "talks about asyncio and typing", "city": "berlin",
     "attendees": 40, "price": 0.0, "online": False, "startsAt": "2026-12-03T18:00:00.000Z"},
    {"id": "e2", "name": "Rust meetup", "description": "ownership and borrowing", "city": "berlin",
     "attendees": 25, "price": 5.0, "online": False, "startsAt": "2026-12-10T18:00:00.000Z"},
    {"id": "e3", "name": "Python conference", "description": "three days of python talks", "city": "paris",
     "attendees": 900, "price": 250.0, "online": False, "startsAt": "2027-03-01T09:00:00.000Z"},
    {"id": "e4", "name": "Async webinar", "description": "asyncio from scratch", "city": "online",
     "attendees": 300, "price": 0.0, "online": True, "startsAt": "2026-12-05T16:00:00.000Z"},
    {"id": "e5", "name": "Data night", "description": "dataframes and notebooks", "city": "paris",
     "attendees": 60, "price": 10.0, "online": False, "startsAt": "2026-12-12T19:00:00.000Z"},
]
ITEM = "id name city attendees price online"
SEARCH = ("query($f: SearchableEventFilterInput, $s: [SearchableEventSortInput], $l: Int, $t: String, $from: Int, "
          "$a: [SearchableEventAggregationInput]) { searchEvents(filter: $f, sort: $s, limit: $l, nextToken: $t, "
          f"from: $from, aggregates: $a) {{ items {{ {ITEM} }} total nextToken aggregateItems {{ name result {{ "
          "... on SearchableAggregateScalarResult { value } ... on SearchableAggregateBucketResult { buckets { key "
          "doc_count } } } } } }")


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("searchable")
    templates = amplify_transform(ROOT / "tests/amplify/searchable/schema.graphql", out / "cdk")
    result = import_cloudformation(templates, out / "cdk", out / "app", api_key=KEY)
    notes = " ".join(result.notes)
    assert "AWS::Elasticsearch::Domain" in notes
    assert "streaming function" not in notes and "OpenSearchStreamingLambda" not in notes
    manifest = yaml.safe_load((out / "app" / "gqlsync.yaml").read_text())
    # the streaming function's event source mapping: the Event table's stream into the search data source's index
    (table,) = [t["name"] for t in manifest["tables"]]
    (search_source,) = [n for n, ds in manifest["dataSources"].items() if ds["type"] == "AMAZON_ELASTICSEARCH"]
    assert manifest["streams"] == [{"table": table, "searchDataSource": search_source, "batchSize": 100}]
    # with no `index:`, the index is Amplify's rule from the table name: the one searchEvents reads
    (search_fn,) = [f for f in manifest["functions"].values() if f["dataSource"] == search_source]
    path = re.search(r'"(/[^"]+/_search)"', (out / "app" / search_fn["request"]).read_text())
    assert path and path.group(1) == f"/{amplify_index(table)}/_search" == "/event/_search"
    assert load_app(out / "app").streams[0].index_name == "event"
    return out / "app"


CREATE = "mutation($i: CreateEventInput!) { createEvent(input: $i) { id } }"


@pytest.fixture
async def c(app_dir: Path, dynamodb_endpoint: str, tmp_path: Path) -> AsyncIterator[GraphQLClient]:
    """The imported app with its stream running: events created through the API reach the index by themselves."""
    app = with_table_prefix(load_app(app_dir), unique_prefix())
    server = GqlsyncServer(app, ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True,
                                               embedded_search_dir=tmp_path / "search",
                                               streams_dir=tmp_path / "streams", streams_poll_seconds=0.05))
    async with GraphQLClient(server, api_key=KEY) as client:
        await server.start()
        endpoint = server.clients.settings.search_endpoint
        assert endpoint and endpoint.startswith("http://127.0.0.1:")
        for event in EVENTS:
            r = await client.query(CREATE, {"i": event})
            assert "errors" not in r, r
        deadline = time.monotonic() + 15
        while (((await client.query(SEARCH)).get("data") or {}).get("searchEvents") or {}).get("total") \
                != len(EVENTS):
            assert time.monotonic() < deadline, "the stream did not bring every event to the index"
            await asyncio.sleep(0.05)
        yield client


async def search(c: GraphQLClient, **variables: Any) -> dict[str, Any]:
    r = await c.query(SEARCH, variables)
    assert "errors" not in r, r
    return dict(r["data"]["searchEvents"])


def ids(page: dict[str, Any]) -> list[str]:
    return [i["id"] for i in page["items"]]


async def test_filters_select_what_they_say(c: GraphQLClient) -> None:
    assert set(ids(await search(c, f={"city": {"eq": "berlin"}}))) == {"e1", "e2"}
    assert set(ids(await search(c, f={"attendees": {"gte": 60}, "online": {"eq": False}}))) == {"e3", "e5"}
    assert set(ids(await search(c, f={"or": [{"city": {"eq": "paris"}}, {"price": {"lt": 1}}]}))) == {
        "e1", "e3", "e4", "e5"}
    assert set(ids(await search(c, f={"not": {"city": {"eq": "berlin"}}}))) == {"e3", "e4", "e5"}
    assert set(ids(await search(c, f={"description": {"match": "asyncio"}}))) == {"e1", "e4"}
    assert set(ids(await search(c, f={"name": {"matchPhrasePrefix": "python con"}}))) == {"e3"}
    assert set(ids(await search(c, f={"attendees": {"range": [25, 60]}}))) == {"e1", "e2", "e5"}
    assert set(ids(await search(c, f={"name": {"wildcard": "*meet*"}}))) == {"e1", "e2"}
    page = await search(c, f={"city": {"exists": True}, "startsAt": {"gt": "2026-12-31T00:00:00.000Z"}})
    assert ids(page) == ["e3"] and page["total"] == 1


async def test_sorts_on_several_fields_and_pages_with_next_token(c: GraphQLClient) -> None:
    by = [{"field": "city", "direction": "asc"}, {"field": "attendees", "direction": "desc"}]
    page = await search(c, s=by)
    assert ids(page) == ["e1", "e2", "e4", "e3", "e5"] and page["total"] == 5
    seen: list[str] = []
    token = None
    for _ in range(5):
        page = await search(c, s=by, l=2, t=token)
        seen += ids(page)
        token = page["nextToken"]
        if len(page["items"]) < 2:
            break
    assert seen == ["e1", "e2", "e4", "e3", "e5"]
    assert ids(await search(c, s=by, l=2, **{"from": 2})) == ["e4", "e3"]


async def test_aggregates(c: GraphQLClient) -> None:
    page = await search(c, a=[{"name": "cities", "type": "terms", "field": "city"},
                              {"name": "avgPrice", "type": "avg", "field": "price"},
                              {"name": "most", "type": "max", "field": "attendees"}])
    results = {a["name"]: a["result"] for a in page["aggregateItems"]}
    assert {b["key"]: b["doc_count"] for b in results["cities"]["buckets"]} == {"berlin": 2, "paris": 2, "online": 1}
    assert results["avgPrice"]["value"] == pytest.approx(53.0)
    assert results["most"]["value"] == 900


async def test_a_bad_filter_is_a_field_error_and_the_server_keeps_serving(c: GraphQLClient) -> None:
    r = await c.query(SEARCH, {"f": {"attendees": {"range": [1]}}})
    assert r["data"]["searchEvents"] is None and r["errors"][0]["errorType"] == "MappingTemplate"
    assert ids(await search(c, f={"id": {"eq": "e5"}})) == ["e5"]
