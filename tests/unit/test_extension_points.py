"""The core's extension points: registries, typed configs refused key by key, immutable swappable API versions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLString

from gqlsync.apis import ApiRegistry
from gqlsync.app import load_app
from gqlsync.auth import AUTH_MODES
from gqlsync.datasources import DATA_SOURCES, Call, DataSourceEnv
from gqlsync.realtime import RealtimeHub
from gqlsync.runtimes import RUNTIMES
from gqlsync.server import GqlsyncServer, ServerSettings, build_served
from tests.helpers import EVENT_APP, ROOT, GraphQLClient
from tests.unit.test_app_loading import problems


def line_of(path: Path, text: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if text in t)


def test_every_kind_is_registered_by_its_own_module() -> None:
    assert set(DATA_SOURCES.names()) >= {"AMAZON_DYNAMODB", "AWS_LAMBDA", "HTTP", "NONE",
                                         "AMAZON_OPENSEARCH_SERVICE", "AMAZON_ELASTICSEARCH"}
    assert set(AUTH_MODES.names()) == {"API_KEY", "AMAZON_COGNITO_USER_POOLS", "OPENID_CONNECT", "AWS_IAM",
                                       "AWS_LAMBDA"}
    assert "VTL" in RUNTIMES.names()


@pytest.mark.parametrize("key,reason", [
    ("versioned: true", "needs config.deltaSyncConfig.deltaSyncTableName"),
    ("deltaSyncConfig: {deltaSyncTableName: d}", "only read when config.versioned is true"),
    ("deltaSyncConfig: {deltaSyncTableNme: d}", "deltaSyncTableNme: unknown key"),
    ("useCallerCredentials: true", "not supported yet"),
    ("tablename: typo", "unknown key (known: deltaSyncConfig, endpoint, region, tableName, useCallerCredentials, "
                        "versioned)"),
    ("region: 7", "expected"),
])
def test_a_data_source_key_that_would_be_ignored_is_refused_where_it_is_written(app_dir: Path, key: str,
                                                                                reason: str) -> None:
    manifest = app_dir / "gqlsync.yaml"
    manifest.write_text(manifest.read_text().replace("      tableName: events\n",
                                                     f"      tableName: events\n      {key}\n", 1))
    where = f"gqlsync.yaml:{line_of(manifest, key)}: dataSources.EventsTable.config.{key.split(':')[0]}"
    found = problems(app_dir)
    assert any(where in p and reason in p for p in found), found


def test_max_batch_size_is_refused_where_it_would_be_ignored(app_dir: Path) -> None:
    manifest = app_dir / "gqlsync.yaml"
    manifest.write_text(manifest.read_text().replace("    field: getEvent\n", "    field: getEvent\n"
                                                     "    maxBatchSize: 10\n", 1))
    (p,) = problems(app_dir)
    assert f"gqlsync.yaml:{line_of(manifest, 'maxBatchSize')}:" in p and "maxBatchSize" in p
    assert "batches Lambda invocations; data source EventsTable is AMAZON_DYNAMODB" in p


def test_auth_mode_config_is_checked_by_the_mode(app_dir: Path) -> None:
    manifest = app_dir / "gqlsync.yaml"
    manifest.write_text(manifest.read_text().replace(
        "  default:\n    mode: API_KEY\n",
        "  default:\n    mode: API_KEY\n  additional:\n    - mode: AMAZON_COGNITO_USER_POOLS\n"
        "      config: {userPoolId: us-east-1_abc, appIdClientRegx: x}\n", 1))
    (p,) = problems(app_dir)
    assert f"gqlsync.yaml:{line_of(manifest, 'AMAZON_COGNITO_USER_POOLS')}:" in p
    assert "config.appIdClientRegx: unknown key" in p


def test_unknown_kinds_name_what_exists(app_dir: Path) -> None:
    manifest = app_dir / "gqlsync.yaml"
    manifest.write_text(manifest.read_text().replace("    mode: API_KEY\n", "    mode: API_KEYS\n", 1)
                        .replace("    type: AMAZON_DYNAMODB\n", "    type: DYNAMO\n", 1))
    found = problems(app_dir)
    assert any("unknown data source type 'DYNAMO'" in p and "AMAZON_DYNAMODB" in p for p in found)
    assert any("unknown auth mode 'API_KEYS'" in p and "API_KEY" in p for p in found)


@dataclass(frozen=True)
class EchoConfig:
    prefix: str = ""


class EchoDataSource:
    """A data-source type added by one module (this one): registered, configured, started, called with context."""

    type = "TEST_ECHO"
    config_type = EchoConfig
    direct = False
    tables = ()
    started = 0

    def __init__(self, name: str, config: EchoConfig, env: DataSourceEnv) -> None:
        self.name = name
        self.prefix = config.prefix

    async def start(self) -> None:
        EchoDataSource.started += 1

    async def close(self) -> None:
        pass

    async def invoke(self, request: dict[str, Any], call: Call) -> Any:
        return f"{self.prefix}{request['payload']} for {call.where} as {call.scope.auth_type}"


DATA_SOURCES.register("TEST_ECHO")(EchoDataSource)


async def test_a_new_data_source_type_is_one_module(app_dir: Path) -> None:
    manifest = app_dir / "gqlsync.yaml"
    (app_dir / "echo.req.vtl").write_text('{"version": "2018-05-29", "payload": "$ctx.args.id"}')
    (app_dir / "echo.res.vtl").write_text('$util.toJson({"id": $ctx.result, "name": "n"})')
    text = manifest.read_text().replace("dataSources:\n", "dataSources:\n  Echo:\n    type: TEST_ECHO\n"
                                        "    config: {prefix: '>'}\n", 1)
    text = text.replace("    dataSource: EventsTable\n    request: resolvers/Query.getEvent.req.vtl\n"
                        "    response: resolvers/item.res.vtl\n",
                        "    dataSource: Echo\n    request: echo.req.vtl\n    response: echo.res.vtl\n", 1)
    manifest.write_text(text)
    async with GraphQLClient(GqlsyncServer(load_app(app_dir), ServerSettings())) as client:
        body = await client.query('{ getEvent(id: "e1") { id } }')
    assert body["data"]["getEvent"]["id"] == ">e1 for Query.getEvent as API_KEY"
    assert EchoDataSource.started >= 1


def test_building_a_version_touches_no_object_another_version_uses() -> None:
    app = load_app(ROOT / "tests/apps/semantics")
    hub = RealtimeHub()
    from gqlsync.datasources import ClientProvider
    from gqlsync.observe import Metrics

    first = build_served(app, ClientProvider(), Metrics(), hub).api
    resolve_before = first.schema.query_type.fields["echo"].resolve  # type: ignore[union-attr]
    string_before = (GraphQLString.serialize, GraphQLString.parse_value)
    second = build_served(app, ClientProvider(), Metrics(), hub, version="2").api
    assert first.schema is not second.schema
    assert first.schema.query_type is not second.schema.query_type
    assert first.schema.query_type.fields["echo"].resolve is resolve_before  # type: ignore[union-attr]
    assert second.schema.query_type.fields["echo"].resolve is not resolve_before  # type: ignore[union-attr]
    assert (GraphQLString.serialize, GraphQLString.parse_value) == string_before
    assert first.schema.type_map["AWSDateTime"] is not second.schema.type_map["AWSDateTime"]


async def test_swapping_a_version_is_atomic_and_in_flight_requests_keep_theirs() -> None:
    server = GqlsyncServer(load_app(ROOT / "tests/apps/semantics"), ServerSettings())
    registry: ApiRegistry = server.apis
    old = server.served
    new = build_served(server.app, server.clients, server.metrics, server.hub, version="2")
    async with GraphQLClient(server, api_key="da2-semanticstestkey0001") as client:
        assert (await client.query('{ echo(msg: "a") }'))["data"]["echo"] == "a"
        assert registry.install(new) is old
        assert server.api is new.api and server.api.version == "2"
        assert (await client.query('{ echo(msg: "b") }'))["data"]["echo"] == "b"
    assert old.api.version == "1"  # the replaced version is untouched and still whole


def test_dev_without_moto_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from typer.testing import CliRunner

    from gqlsync.cli import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "moto" else real(name, *a))
    result = CliRunner().invoke(cli, ["dev", str(EVENT_APP)])
    assert result.exit_code == 2
    assert "gqlsync[dev]" in result.output


async def test_data_source_calls_are_bounded_per_request_and_carry_their_context() -> None:
    from gqlsync.engine.resolvers import Invoker
    from gqlsync.errors import ResolverError
    from gqlsync.observe import Metrics
    from gqlsync.request import RequestScope

    ds = EchoDataSource("Echo", EchoConfig(), DataSourceEnv(None, ROOT))  # type: ignore[arg-type]
    invoker = Invoker("app", ds, Metrics(), None, max_calls=3)
    scope = RequestScope(request_id="r", identity=None, headers={}, auth_type="AWS_IAM")
    call = Call("Query.x", None, scope)
    assert [await invoker({"payload": i}, call) for i in range(3)] == [f"{i} for Query.x as AWS_IAM" for i in range(3)]
    with pytest.raises(ResolverError, match="limit of 3 data source calls"):
        await invoker({"payload": 4}, call)


def test_which_code_files_a_resolver_needs_is_its_runtimes_rule(app_dir: Path) -> None:
    manifest = app_dir / "gqlsync.yaml"
    text = manifest.read_text()
    text = text.replace("    field: getEvent\n    dataSource: EventsTable\n    request: resolvers/Query.getEvent.req.vtl\n"
                        "    response: resolvers/item.res.vtl\n",
                        "    field: getEvent\n    dataSource: EventsTable\n    request: resolvers/Query.getEvent.req.vtl\n", 1)
    text = text.replace("    field: listEvents\n", "    field: listEvents\n    runtime: COBOL\n", 1)
    manifest.write_text(text)
    found = problems(app_dir)
    assert any(f"gqlsync.yaml:{line_of(manifest, 'field: getEvent') - 1}: resolver Query.getEvent: VTL needs a "
               "`response:` mapping template" in p for p in found), found
    assert any("resolver Query.listEvents: unknown runtime 'COBOL'; this gqlsync knows " in p and "APPSYNC_JS" in p
               and "VTL" in p for p in found), found
