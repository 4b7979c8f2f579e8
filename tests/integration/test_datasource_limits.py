"""Protecting backends: per-data-source maxConcurrency, queue and call timeouts, safe retries, enabled: false."""

from __future__ import annotations

import asyncio
import socket
import textwrap
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gqlsync.app import load_app
from gqlsync.app.errors import AppError
from gqlsync.http import GqlsyncServer, ServerSettings
from tests.helpers import GraphQLClient

KEY = "da2-dslimitstestkey000001"

SCHEMA = """
type Query {
  legacy(ms: Int): String
  tight(ms: Int): String
  quick(ms: Int): String
  plain: String
  dropped(key: String!): String
  flaky(key: String!): String
  retired: String
  lam(n: Int): Int
}
type Mutation {
  dropWrite(key: String!): String
  refusedWrite: String
}
"""

GET = '{"version": "2018-05-29", "method": "GET", "resourcePath": "/PATH", "params": {"query": {"ms": "$util.defaultIfNull($ctx.args.ms, 0)"}}}'
HTTP_RES = textwrap.dedent("""\
    #if($ctx.error)$util.error($ctx.error.message, $ctx.error.type)#end
    $util.toJson("${ctx.result.statusCode}:${ctx.result.body}")
    """)

LAMBDA = textwrap.dedent("""\
    import threading
    import time

    _lock = threading.Lock()
    _in_flight = 0

    def handler(event, context):
        global _in_flight
        with _lock:
            _in_flight += 1
            seen = _in_flight
        time.sleep(0.1)
        with _lock:
            _in_flight -= 1
        return seen
    """)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed): connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def write_app(root: Path, endpoint: str) -> Path:
    """One app, one data source per limit being tested, all on the same counting server."""
    (root / "lambdas").mkdir(parents=True)
    (root / "lambdas" / "count.py").write_text(LAMBDA)
    (root / "schema.graphql").write_text(SCHEMA)
    files = {
        "slow.req.vtl": GET.replace("PATH", "slow"),
        "plain.req.vtl": GET.replace("PATH", "plain"),
        "dropped.req.vtl": GET.replace("PATH", "drop-once/$ctx.args.key"),
        "flaky.req.vtl": GET.replace("PATH", "flaky-503/$ctx.args.key"),
        "drop-write.req.vtl": GET.replace("GET", "POST").replace("PATH", "drop-once/$ctx.args.key"),
        "http.res.vtl": HTTP_RES,
        "lambda.req.vtl": '{"version": "2018-05-29", "operation": "Invoke", "payload": {}}',
        "lambda.res.vtl": "#if($ctx.error)$util.error($ctx.error.message, $ctx.error.type)#end\n$util.toJson($ctx.result)",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "gqlsync.yaml").write_text(textwrap.dedent(f"""\
        name: dslimits
        schema: schema.graphql
        auth:
          apiKeys: [{{id: {KEY}}}]
        dataSources:
          Legacy:
            type: HTTP
            config: {{endpoint: "{endpoint}"}}
            limits: {{maxConcurrency: 5}}
          Tight:
            type: HTTP
            config: {{endpoint: "{endpoint}"}}
            limits: {{maxConcurrency: 2, queueTimeoutMs: 50}}
          Quick:
            type: HTTP
            config: {{endpoint: "{endpoint}"}}
            limits: {{timeoutMs: 200}}
          Plain:
            type: HTTP
            config: {{endpoint: "{endpoint}"}}
          Retrying:
            type: HTTP
            config: {{endpoint: "{endpoint}"}}
            limits: {{retries: 2}}
          Refused:
            type: HTTP
            config: {{endpoint: "http://127.0.0.1:{closed_port()}"}}
            limits: {{retries: 2}}
          Retired:
            type: HTTP
            config: {{endpoint: "{endpoint}"}}
            enabled: false
          Counter:
            type: AWS_LAMBDA
            config: {{handler: lambdas/count.py:handler}}
            limits: {{maxConcurrency: 3}}
        resolvers:
          - {{type: Query, field: legacy, dataSource: Legacy, request: slow.req.vtl, response: http.res.vtl}}
          - {{type: Query, field: tight, dataSource: Tight, request: slow.req.vtl, response: http.res.vtl}}
          - {{type: Query, field: quick, dataSource: Quick, request: slow.req.vtl, response: http.res.vtl}}
          - {{type: Query, field: plain, dataSource: Plain, request: plain.req.vtl, response: http.res.vtl}}
          - {{type: Query, field: dropped, dataSource: Retrying, request: dropped.req.vtl, response: http.res.vtl}}
          - {{type: Query, field: flaky, dataSource: Retrying, request: flaky.req.vtl, response: http.res.vtl}}
          - {{type: Query, field: retired, dataSource: Retired, request: plain.req.vtl, response: http.res.vtl}}
          - {{type: Mutation, field: dropWrite, dataSource: Retrying, request: drop-write.req.vtl,
              response: http.res.vtl}}
          - {{type: Mutation, field: refusedWrite, dataSource: Refused, request: drop-write.req.vtl,
              response: http.res.vtl}}
          - {{type: Query, field: lam, dataSource: Counter, request: lambda.req.vtl, response: lambda.res.vtl}}
        """))
    return root


class CountingServer:
    """A real HTTP/1.1 server on loopback that counts requests in flight (one request per connection).

    `/slow?ms=N` answers after N ms; `/drop-once/KEY` drops the connection unanswered the first time, answers later;
    `/flaky-503/KEY` answers 503 the first time, 200 later; anything else answers at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode().split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        length = next((int(h.split(":", 1)[1]) for h in lines[1:] if h.lower().startswith("content-length:")), 0)
        if length:
            await reader.readexactly(length)
        path, _, query = target.partition("?")
        self.requests[f"{method} {path}"] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            status, body = 200, "ok"
            if path == "/slow":
                ms = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("ms", "0"))
                await asyncio.sleep(ms / 1000)
            elif path.startswith("/drop-once/") and self.requests[f"{method} {path}"] == 1:
                writer.transport.abort()
                return
            elif path.startswith("/flaky-503/") and self.requests[f"{method} {path}"] == 1:
                status, body = 503, "unavailable"
            reason = {200: "OK", 503: "Service Unavailable"}[status]
            writer.write(f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {len(body)}\r\n"
                         f"connection: close\r\n\r\n{body}".encode())
            await writer.drain()
            writer.close()
        finally:
            self.in_flight -= 1


@pytest.fixture
async def backend() -> AsyncIterator[CountingServer]:
    server = CountingServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def app_dir(tmp_path: Path, backend: CountingServer) -> Path:
    return write_app(tmp_path / "app", f"http://127.0.0.1:{backend.port}")


@pytest.fixture
async def client(app_dir: Path) -> AsyncIterator[GraphQLClient]:
    c = GraphQLClient(GqlsyncServer(load_app(app_dir), ServerSettings()), api_key=KEY)
    try:
        yield c
    finally:
        await c.close()


async def test_max_concurrency_bounds_what_the_backend_sees(client: GraphQLClient, backend: CountingServer) -> None:
    answers = await asyncio.gather(*(client.query("{ legacy(ms: 40) }") for _ in range(50)))
    assert all(a == {"data": {"legacy": "200:ok"}} for a in answers), answers
    assert backend.requests["GET /slow"] == 50
    assert backend.max_in_flight == 5  # never more, and the limit was reached: calls did run 5 at a time
    metrics = client.server.metrics.exposition().decode()
    labels = 'app="dslimits",datasource="Legacy",type="HTTP"'
    assert f"gqlsync_datasource_invocations_total{{{labels}}} 50.0" in metrics
    assert f"gqlsync_datasource_in_flight{{{labels}}} 0.0" in metrics
    assert f"gqlsync_datasource_queue_seconds_count{{{labels}}} 50.0" in metrics


async def test_one_gate_across_two_versions_of_an_app(app_dir: Path, backend: CountingServer) -> None:
    """A deploy keeps the old version serving beside the new one: together they still send at most 5."""
    old = GraphQLClient(GqlsyncServer(load_app(app_dir), ServerSettings()), api_key=KEY)
    new = GraphQLClient(GqlsyncServer(load_app(app_dir), ServerSettings()), api_key=KEY)
    try:
        answers = await asyncio.gather(*(c.query("{ legacy(ms: 40) }") for _ in range(20) for c in (old, new)))
        assert all(a == {"data": {"legacy": "200:ok"}} for a in answers), answers
        assert backend.max_in_flight == 5
    finally:
        await old.close()
        await new.close()


async def test_queue_timeout_throttles_the_excess(client: GraphQLClient, backend: CountingServer) -> None:
    answers = await asyncio.gather(*(client.query("{ tight(ms: 300) }") for _ in range(10)))
    ok = [a for a in answers if a.get("data") == {"tight": "200:ok"}]
    throttled = [a for a in answers if a["data"] == {"tight": None}]
    assert len(ok) == 2 and len(throttled) == 8, answers
    for a in throttled:
        (err,) = a["errors"]
        assert err["errorType"] == "DataSource:Throttled" and err["path"] == ["tight"]
        assert "Tight" in err["message"] and "queueTimeoutMs" in err["message"]
    assert backend.requests["GET /slow"] == 2  # the throttled calls never reached the backend
    assert backend.max_in_flight == 2
    metrics = client.server.metrics.exposition().decode()
    assert 'gqlsync_datasource_throttles_total{app="dslimits",datasource="Tight",type="HTTP"} 8.0' in metrics
    # the gate frees up: later calls get through again
    assert await client.query("{ tight }") == {"data": {"tight": "200:ok"}}


async def test_timeout_cuts_a_call_off(client: GraphQLClient) -> None:
    r = await client.query("{ quick(ms: 2000) plain }")
    assert r["data"] == {"quick": None, "plain": "200:ok"}
    (err,) = r["errors"]
    assert err["errorType"] == "DataSource:Timeout" and err["path"] == ["quick"]
    assert "200 ms" in err["message"]
    assert await client.query("{ quick(ms: 10) }") == {"data": {"quick": "200:ok"}}


async def test_a_read_is_retried_after_a_dropped_connection(client: GraphQLClient, backend: CountingServer) -> None:
    assert await client.query('{ dropped(key: "a") }') == {"data": {"dropped": "200:ok"}}
    assert backend.requests["GET /drop-once/a"] == 2
    metrics = client.server.metrics.exposition().decode()
    assert 'gqlsync_datasource_retries_total{app="dslimits",datasource="Retrying",type="HTTP"} 1.0' in metrics


async def test_a_write_that_may_have_been_received_is_not_retried(client: GraphQLClient,
                                                                  backend: CountingServer) -> None:
    r = await client.query('mutation { dropWrite(key: "b") }')
    assert r["data"] == {"dropWrite": None}
    assert r["errors"][0]["errorType"] == "HTTP:ConnectionError"
    assert backend.requests["POST /drop-once/b"] == 1  # the server got it once; a retry could have done it twice


async def test_a_write_whose_connection_was_refused_is_retried(client: GraphQLClient) -> None:
    """A refused connection sent nothing, so even a POST is safe to try again."""
    r = await client.query("mutation { refusedWrite }")
    assert r["data"] == {"refusedWrite": None} and r["errors"][0]["errorType"] == "HTTP:ConnectionError"
    metrics = client.server.metrics.exposition().decode()
    assert 'gqlsync_datasource_retries_total{app="dslimits",datasource="Refused",type="HTTP"} 2.0' in metrics


async def test_an_http_503_is_an_answer_for_the_template_not_a_retry(client: GraphQLClient,
                                                                    backend: CountingServer) -> None:
    """AppSync hands any HTTP status to the response template; retries are for calls that got no answer."""
    assert await client.query('{ flaky(key: "c") }') == {"data": {"flaky": "503:unavailable"}}
    assert await client.query('{ flaky(key: "c") }') == {"data": {"flaky": "200:ok"}}
    assert backend.requests["GET /flaky-503/c"] == 2


async def test_a_disabled_data_source_fails_its_fields_only(client: GraphQLClient, backend: CountingServer) -> None:
    r = await client.query("{ retired plain }")
    assert r["data"] == {"retired": None, "plain": "200:ok"}
    (err,) = r["errors"]
    assert err["errorType"] == "DataSource:Disabled" and err["path"] == ["retired"]
    assert "Retired" in err["message"] and "enabled: false" in err["message"]
    assert backend.requests["GET /plain"] == 1  # the disabled source sent nothing


async def test_a_lambda_data_source_is_limited_too(client: GraphQLClient) -> None:
    answers = await asyncio.gather(*(client.query("{ lam }") for _ in range(15)))
    seen = [a["data"]["lam"] for a in answers]
    assert all(isinstance(n, int) for n in seen), answers
    assert max(seen) == 3


def test_limits_are_checked_with_lines(tmp_path: Path) -> None:
    root = write_app(tmp_path / "app", "http://127.0.0.1:1")
    manifest = root / "gqlsync.yaml"
    text = manifest.read_text()
    text = text.replace("limits: {maxConcurrency: 5}", "limits: {maxConcurrency: 0, burst: 3}")
    text = text.replace("limits: {timeoutMs: 200}", "limits: {queueTimeoutMs: 10}")
    text = text.replace("enabled: false", "enabled: nope")
    manifest.write_text(text)
    with pytest.raises(AppError) as caught:
        load_app(root)
    found = {(p.line, p.message.split(":")[0]) for p in caught.value.problems}
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, line in enumerate(lines, 1) if fragment in line)

    assert (line_of("maxConcurrency: 0"), "dataSources.Legacy.limits") in found
    assert (line_of("maxConcurrency: 0"), "dataSources.Legacy.limits.maxConcurrency") in found
    assert (line_of("enabled: nope"), "dataSources.Retired.enabled") in found
    # schema-valid, but queueTimeoutMs needs maxConcurrency (checked once the schema passes)
    manifest.write_text(text.replace("limits: {maxConcurrency: 0, burst: 3}", "limits: {maxConcurrency: 5}")
                        .replace("enabled: nope", "enabled: false"))
    with pytest.raises(AppError) as caught:
        load_app(root)
    (problem,) = caught.value.problems
    assert problem.line == line_of("queueTimeoutMs: 10")
    assert "queueTimeoutMs" in problem.message and "maxConcurrency" in problem.message


def test_limits_reach_the_model(app_dir: Path) -> None:
    app = load_app(app_dir)
    tight = app.data_sources["Tight"]
    assert tight.limits is not None and (tight.limits.max_concurrency, tight.limits.queue_timeout_ms) == (2, 50)
    assert app.data_sources["Plain"].limits is None and app.data_sources["Plain"].enabled
    assert not app.data_sources["Retired"].enabled
