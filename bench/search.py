"""The embedded search engine: bulk indexing, selective queries in-process, and searchX over GraphQL at 16 clients,
beside the same queries answered by a plain Python filter over the same documents, in one run.

    .venv/bin/python bench/search.py        # SEARCH_DOCS=100000 SEARCH_CLIENTS=16 SEARCH_REQUESTS=2000

Documents are small events (name from a vocabulary, one of 200 cities, attendees, price, online). Indexing goes
through opensearch-py's `_bulk` against the engine's REST endpoint (docs/s). "In-process" times the engine's
Python API on selective queries (p50/p99 over 200 runs each; goal: under 5 ms p50 at 100k docs), beside a
Python list comprehension over the same documents. "searchX" is Amplify's generated searchEvents resolver
(tests/amplify/searchable, imported with import-cfn) served by gqlsync in-process, 16 concurrent clients.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import pct  # noqa: E402

DOCS = int(os.environ.get("SEARCH_DOCS", "100000"))
CLIENTS = int(os.environ.get("SEARCH_CLIENTS", "16"))
REQUESTS = int(os.environ.get("SEARCH_REQUESTS", "2000"))
RUNS = 200
WORDS = ["python", "rust", "async", "meetup", "conference", "webinar", "data", "night", "talk", "workshop", "cloud",
         "search", "graph", "sync", "offline", "mobile", "design", "security", "testing", "release"]
CITIES = [f"city{i:03d}" for i in range(200)]
KEY = "da2-benchsearchkey0000000001"


def documents(n: int) -> list[dict[str, Any]]:
    rnd = random.Random(7)
    return [{"id": f"e{i:06d}", "name": " ".join(rnd.sample(WORDS, 3)) + (" zephyr" if i % 5000 == 0 else ""),
             "city": rnd.choice(CITIES), "attendees": rnd.randrange(10, 1000), "price": round(rnd.random() * 100, 2),
             "online": rnd.random() < 0.2} for i in range(n)]


#: (name, query DSL, the same question as a Python filter)
QUERIES: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ("term city + range attendees", {"bool": {"filter": [{"term": {"city.keyword": "city042"}},
                                                        {"range": {"attendees": {"gte": 500}}}]}},
     lambda d: d["city"] == "city042" and d["attendees"] >= 500),
    ("match a rare word", {"match": {"name": "zephyr"}}, lambda d: "zephyr" in d["name"].split()),
]


async def bulk_load(endpoint: str, docs: list[dict[str, Any]]) -> float:
    from opensearchpy import AsyncOpenSearch

    client = AsyncOpenSearch(hosts=[endpoint], timeout=120)
    try:
        start = time.perf_counter()
        for at in range(0, len(docs), 5000):
            body: list[dict[str, Any]] = []
            for d in docs[at:at + 5000]:
                body += [{"index": {"_index": "event", "_id": d["id"]}}, d]
            r = await client.bulk(body=body)
            assert not r["errors"], r
        await client.indices.refresh(index="event")
        return time.perf_counter() - start
    finally:
        await client.close()


def in_process(engine: Any, docs: list[dict[str, Any]]) -> list[tuple[str, float, float, float, float, int]]:
    rows = []
    for name, query, predicate in QUERIES:
        body = {"query": query, "size": 100}
        engine_ms, python_ms = [], []
        hits = 0
        for _ in range(RUNS):  # interleaved, so both see the same machine
            t = time.perf_counter()
            hits = len(engine.search("event", body)["hits"]["hits"])
            engine_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            found = [d for d in docs if predicate(d)][:100]
            python_ms.append((time.perf_counter() - t) * 1000)
        assert hits == len(found), (name, hits, len(found))
        rows.append((name, statistics.median(engine_ms), pct(engine_ms, 0.99), statistics.median(python_ms),
                     pct(python_ms, 0.99), hits))
    return rows


async def graphql_load(server: Any) -> tuple[float, float, float]:
    from tests.helpers import GraphQLClient

    query = ("query($c: String) { searchEvents(filter: {city: {eq: $c}, attendees: {gte: 500}}, limit: 20) "
             "{ items { id } total } }")
    latencies: list[float] = []
    async with GraphQLClient(server, api_key=KEY) as c:
        await c.query(query, {"c": "city001"})  # warm
        queue = list(range(REQUESTS))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                t = time.perf_counter()
                r = await c.query(query, {"c": CITIES[i % len(CITIES)]})
                latencies.append((time.perf_counter() - t) * 1000)
                assert "errors" not in r, r

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - start
    return REQUESTS / elapsed, statistics.median(latencies), pct(latencies, 0.99)


async def main() -> None:
    from gqlsync.app import load_app
    from gqlsync.app.cloudformation import import_cloudformation
    from gqlsync.server import GqlsyncServer, ServerSettings
    from tests.helpers import amplify_transform

    docs = documents(DOCS)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        templates = amplify_transform(ROOT / "tests/amplify/searchable/schema.graphql", out / "cdk")
        import_cloudformation(templates, out / "cdk", out / "app", api_key=KEY)
        server = GqlsyncServer(load_app(out / "app"), ServerSettings(
            embedded_dynamodb_dir=out / "ddb", embedded_search_dir=out / "search", create_tables=True))
        await server.start()
        try:
            endpoint = server.clients.settings.search_endpoint
            assert endpoint
            seconds = await bulk_load(endpoint, docs)
            rows = in_process(server._embedded_search.engine, docs)
            rps, p50, p99 = await graphql_load(server)
        finally:
            await server.stop()
    print(f"{os.cpu_count()} cores; {DOCS} documents; embedded engine (SQLite FTS5)\n")
    print("| what | figure |")
    print("|---|---:|")
    print(f"| `_bulk` indexing (opensearch-py, 5,000 a request) | {DOCS / seconds:,.0f} docs/s |")
    print(f"| searchEvents over GraphQL, {CLIENTS} clients | {rps:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms |")
    print("\n| selective query (in-process) | hits | engine p50 ms | engine p99 ms | Python filter p50 ms | "
          "Python filter p99 ms | engine vs Python |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, e50, e99, p50_, p99_, hits in rows:
        print(f"| {name} | {hits} | {e50:.2f} | {e99:.2f} | {p50_:.2f} | {p99_:.2f} | {p50_ / e50:.1f}x faster |")


if __name__ == "__main__":
    asyncio.run(main())
