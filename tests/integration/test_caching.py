"""AppSync's server-side caching on DynamoDB Local: a second identical request does not reach DynamoDB (counted),
eviction from a mutation's template works, per-identity keys never give one caller another's answer, errors are
not cached, nested fields key on their source, and processes sharing Redis share the cache."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from gqlsync.app import load_app
from gqlsync.server import GqlsyncServer, ServerSettings
from tests.helpers import EVENT_APP, EVENT_KEY, GraphQLClient, with_cognito_issuer

pytestmark = pytest.mark.integration
CREATE = 'mutation($n: String!) { createEvent(name: $n, when: "now", where: "here", description: "d") { id } }'


def cached_event_app(tmp: Path, caching: str, *, get_event_keys: str | None = None) -> Path:
    """The Event app with `caching:` and (optionally) getEvent opted in with caching keys; deleteEvent evicts."""
    app = tmp / f"app-{uuid.uuid4().hex[:6]}"
    shutil.copytree(EVENT_APP, app, ignore=shutil.ignore_patterns(".gqlsync"))
    prefix = f"c{uuid.uuid4().hex[:6]}_"
    manifest = app / "gqlsync.yaml"
    text = manifest.read_text()
    for table in ("events", "comments"):
        text = text.replace(f"tableName: {table}", f"tableName: {prefix}{table}").replace(
            f"- name: {table}", f"- name: {prefix}{table}")
    if get_event_keys is not None:
        text = text.replace("    request: resolvers/Query.getEvent.req.vtl\n",
                            "    request: resolvers/Query.getEvent.req.vtl\n"
                            f"    cachingConfig: {{ttl: 60, cachingKeys: {get_event_keys}}}\n", 1)
    text = text.replace("    request: resolvers/Mutation.deleteEvent.req.vtl\n    response: resolvers/item.res.vtl",
                        "    request: resolvers/Mutation.deleteEvent.req.vtl\n    response: resolvers/evict.res.vtl", 1)
    manifest.write_text(text + f"\ncaching:\n{caching}")
    (app / "resolvers" / "evict.res.vtl").write_text(
        '$extensions.evictFromApiCache("Query", "getEvent", {"context.arguments.id": $ctx.args.id})\n'
        "$util.toJson($ctx.result)\n")
    return app


def dynamodb_calls(server: GqlsyncServer, source: str = "EventsTable") -> float:
    return server.metrics.registry.get_sample_value(
        "gqlsync_datasource_seconds_count", {"app": server.app.name, "datasource": source,
                                             "type": "AMAZON_DYNAMODB"}) or 0.0


def cache_count(server: GqlsyncServer, field: str, outcome: str) -> float:
    return server.metrics.registry.get_sample_value(
        "gqlsync_cache_requests_total", {"app": server.app.name, "field": field, "outcome": outcome}) or 0.0


async def ok(c: GraphQLClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    r = await c.query(query, variables or {})
    assert "errors" not in r, r
    return dict(r["data"])


async def test_per_resolver_caching_keys_and_eviction(tmp_path: Path, dynamodb_endpoint: str) -> None:
    app = load_app(cached_event_app(tmp_path, "  behavior: PER_RESOLVER_CACHING\n  ttl: 120\n",
                                    get_event_keys='["$context.arguments.id"]'))
    server = GqlsyncServer(app, ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True))
    async with GraphQLClient(server, api_key=EVENT_KEY) as c:
        made = (await ok(c, CREATE, {"n": "Launch"}))["createEvent"]["id"]
        query = "query($id: ID!) { getEvent(id: $id) { id name } }"
        before = dynamodb_calls(server)
        first = await ok(c, query, {"id": made})
        assert dynamodb_calls(server) == before + 1
        second = await ok(c, query, {"id": made})
        assert second == first == {"getEvent": {"id": made, "name": "Launch"}}
        assert dynamodb_calls(server) == before + 1  # answered from the cache: DynamoDB not reached
        assert cache_count(server, "Query.getEvent", "hit") == 1
        assert cache_count(server, "Query.getEvent", "miss") == 1
        other = (await ok(c, CREATE, {"n": "Other"}))["createEvent"]["id"]
        await ok(c, query, {"id": other})  # another key: a miss
        assert cache_count(server, "Query.getEvent", "miss") == 2
        # listEvents did not opt in: every call reaches DynamoDB
        calls = dynamodb_calls(server)
        for _ in range(2):
            await ok(c, "{ listEvents(limit: 5) { items { id } } }")
        assert dynamodb_calls(server) == calls + 2
        # deleteEvent's template evicts getEvent's entry for that id: the next getEvent reads DynamoDB (and misses)
        await ok(c, "mutation($id: ID!) { deleteEvent(id: $id) { id } }", {"id": made})
        calls = dynamodb_calls(server)
        assert await ok(c, query, {"id": made}) == {"getEvent": None}
        assert dynamodb_calls(server) == calls + 1
        await ok(c, query, {"id": other})  # its entry was not touched
        assert dynamodb_calls(server) == calls + 1


async def test_full_request_caching_keys_on_identity_and_source(tmp_path: Path, dynamodb_endpoint: str,
                                                                 cognito_pool: Any) -> None:
    folder = cached_event_app(tmp_path, "  behavior: FULL_REQUEST_CACHING\n  ttl: 60\n")
    manifest = folder / "gqlsync.yaml"
    manifest.write_text(manifest.read_text().replace(
        "auth:\n", "auth:\n  additional:\n    - mode: AMAZON_COGNITO_USER_POOLS\n"
                   "      config: {userPoolId: us-east-1_TestPool}\n", 1))
    (folder / "schema.graphql").write_text((folder / "schema.graphql").read_text().replace(
        "type Query {", "type Query {\n  whoami: String @aws_cognito_user_pools", 1))
    manifest.write_text(manifest.read_text().replace("resolvers:\n", (
        "resolvers:\n  - type: Query\n    field: whoami\n    dataSource: Nothing\n"
        "    request: resolvers/whoami.req.vtl\n    response: resolvers/whoami.res.vtl\n"), 1).replace(
        "dataSources:\n", "dataSources:\n  Nothing:\n    type: NONE\n", 1))
    (folder / "resolvers" / "whoami.req.vtl").write_text('{"version": "2018-05-29", "payload": {}}')
    (folder / "resolvers" / "whoami.res.vtl").write_text("$util.toJson($ctx.identity.username)")
    app = with_cognito_issuer(load_app(folder), cognito_pool.issuer)
    server = GqlsyncServer(app, ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True))
    async with GraphQLClient(server, api_key=None) as c:
        for user in ("ann", "bob", "ann", "bob"):
            r = await c.post({"query": "{ whoami }"}, headers={"authorization": cognito_pool.id_token(user)})
            assert r.json() == {"data": {"whoami": user}}  # never the other caller's cached answer
        hits = cache_count(server, "Query.whoami", "hit")
        token = cognito_pool.id_token("ann")
        for _ in range(2):
            r = await c.post({"query": "{ whoami }"}, headers={"authorization": token})
            assert r.json() == {"data": {"whoami": "ann"}}
        assert cache_count(server, "Query.whoami", "hit") >= hits + 1  # the same identity: answered from the cache
    async with GraphQLClient(server, api_key=EVENT_KEY) as c:
        a = (await ok(c, CREATE, {"n": "A"}))["createEvent"]["id"]
        b = (await ok(c, CREATE, {"n": "B"}))["createEvent"]["id"]
        await ok(c, 'mutation($e: ID!) { commentOnEvent(eventId: $e, content: "for A", createdAt: "t") '
                    "{ commentId } }", {"e": a})
        q = "query($id: ID!) { getEvent(id: $id) { name comments(limit: 5) { items { content } } } }"
        # Event.comments has the same arguments for both events: keyed on its source, A's never answers for B
        assert await ok(c, q, {"id": a}) == {"getEvent": {"name": "A", "comments": {"items": [{"content": "for A"}]}}}
        assert await ok(c, q, {"id": b}) == {"getEvent": {"name": "B", "comments": {"items": []}}}
        assert await ok(c, q, {"id": a}) == {"getEvent": {"name": "A", "comments": {"items": [{"content": "for A"}]}}}
        assert cache_count(server, "Event.comments", "hit") >= 1
        # mutations always run
        calls = dynamodb_calls(server)
        await ok(c, CREATE, {"n": "C"})
        await ok(c, CREATE, {"n": "C"})
        assert dynamodb_calls(server) == calls + 2


async def test_errors_are_not_cached_and_redis_is_shared(tmp_path: Path, dynamodb_endpoint: str,
                                                         redis_server: Any) -> None:
    folder = cached_event_app(tmp_path, "  behavior: FULL_REQUEST_CACHING\n")
    (folder / "resolvers" / "Query.getEvent.req.vtl").write_text(
        '#if($ctx.args.id == "bad")$util.error("no such thing", "Bad")#end\n'
        + (folder / "resolvers" / "Query.getEvent.req.vtl").read_text())
    settings = ServerSettings(dynamodb_endpoint=dynamodb_endpoint, create_tables=True, redis_url=redis_server.url)
    one = GqlsyncServer(load_app(folder), settings)
    async with GraphQLClient(one, api_key=EVENT_KEY) as a:
        for _ in range(2):
            r = await a.query('{ getEvent(id: "bad") { id } }')
            assert r["errors"][0]["errorType"] == "Bad"
        assert cache_count(one, "Query.getEvent", "hit") == 0  # an answer with errors is not kept
        made = (await ok(a, CREATE, {"n": "Shared"}))["createEvent"]["id"]
        await ok(a, "query($id: ID!) { getEvent(id: $id) { name } }", {"id": made})
    # another process (a fresh server on the same Redis) finds the entry the first one wrote
    two = GqlsyncServer(load_app(folder), settings)
    async with GraphQLClient(two, api_key=EVENT_KEY) as b:
        await two.start()
        calls = dynamodb_calls(two)
        assert await ok(b, "query($id: ID!) { getEvent(id: $id) { name } }", {"id": made}) == {
            "getEvent": {"name": "Shared"}}
        assert dynamodb_calls(two) == calls and cache_count(two, "Query.getEvent", "hit") == 1  # from Redis


def test_caching_config_is_checked_at_load(tmp_path: Path) -> None:
    from gqlsync.app import AppError

    folder = cached_event_app(tmp_path, "  behavior: PER_RESOLVER_CACHING\n",
                              get_event_keys='["$context.arguments.id", "$context.headers.x"]')
    with pytest.raises(AppError) as exc:
        load_app(folder)
    assert any("caching key '$context.headers.x' is not an entry of $context.arguments" in str(p)
               and "gqlsync.yaml:" in str(p) for p in exc.value.problems), exc.value.problems
