"""`gqlsync infra`: the CloudFormation template for the Event app, a search app and a Delta Sync app passes cfn-lint
and holds what running them on AWS needs, scoped to the app's own tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint
from typer.testing import CliRunner

from gqlsync.cli import cli
from gqlsync.infra import InfraError, plan_app, render, template_for
from gqlsync.infra.observability import DECLARATIONS, NAMESPACE, agent_config
from gqlsync.infra.template import DATA_ACTIONS, HEALTH_PATH, PORT
from gqlsync.observe import Metrics
from tests.helpers import ROOT

EVENT_APP = ROOT / "examples" / "event-app"
SEARCH_APP = ROOT / "examples" / "event-search"
OFFLINE_APP = ROOT / "examples" / "todo-offline"


def build(app_dir: Path) -> dict[str, Any]:
    return template_for(plan_app(app_dir))


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def lint_errors(text: str) -> list[str]:
    matches = lint(text, config=ManualArgs(regions=["us-east-1", "eu-central-1"]))
    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches]


@pytest.mark.parametrize("app_dir", [EVENT_APP, SEARCH_APP, OFFLINE_APP], ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_template_passes_cfn_lint(app_dir: Path, fmt: str) -> None:
    text = render(build(app_dir), fmt)
    assert lint_errors(text) == []
    loaded = yaml.safe_load(text) if fmt == "yaml" else json.loads(text)
    assert loaded == json.loads(json.dumps(build(app_dir)))  # the rendering is the template, nothing lost


def test_lint_would_catch_a_broken_template() -> None:
    template = build(EVENT_APP)
    template["Resources"]["EventsTable"]["Properties"]["BillingMode"] = "FREE"
    assert any("FREE" in e for e in lint_errors(render(template)))


def test_event_app_tables_are_the_manifests() -> None:
    tables = resources(build(EVENT_APP), "AWS::DynamoDB::Table")
    events, comments = tables["EventsTable"], tables["CommentsTable"]
    assert events["Properties"]["TableName"] == "events"
    assert events["Properties"]["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert comments["Properties"]["KeySchema"] == [{"AttributeName": "eventId", "KeyType": "HASH"},
                                                   {"AttributeName": "commentId", "KeyType": "RANGE"}]
    for t in (events, comments):
        assert t["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert t["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
        assert t["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert t["DeletionPolicy"] == "Retain"
    control = tables["ControlTable"]
    assert control["Condition"] == "Managed"
    assert [k["AttributeName"] for k in control["Properties"]["KeySchema"]] == ["pk", "sk"]


def test_event_app_service_behind_https_with_websockets_and_redis() -> None:
    t = build(EVENT_APP)
    r = t["Resources"]
    listener = r["HttpsListener"]["Properties"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTPS", 443)
    assert listener["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    group = r["TargetGroup"]["Properties"]
    assert (group["HealthCheckPath"], group["Port"]) == (HEALTH_PATH, PORT)
    assert not any(a["Key"].startswith("stickiness") for a in group["TargetGroupAttributes"])
    idle = {a["Key"]: a["Value"] for a in r["LoadBalancer"]["Properties"]["LoadBalancerAttributes"]}
    assert int(idle["idle_timeout.timeout_seconds"]) > 60  # past the realtime `ka` interval
    service = r["Service"]["Properties"]
    assert service["LaunchType"] == "FARGATE"
    assert service["LoadBalancers"][0]["TargetGroupArn"] == {"Ref": "TargetGroup"}
    container = r["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    managed, plain = container["Command"]["Fn::If"][1:]
    assert plain[:2] == ["serve", "/app"] and managed[-3:] == ["--managed", "--control-table",
                                                               {"Ref": "ControlTable"}]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["GQLSYNC_REDIS_URL"] == {"Fn::Sub": "rediss://${Redis.PrimaryEndPoint.Address}:"
                                                   "${Redis.PrimaryEndPoint.Port}"}
    assert "GQLSYNC_SEARCH_ENDPOINT" not in env
    redis = r["Redis"]["Properties"]
    assert redis["TransitEncryptionEnabled"] is True and "subscriptions" in redis["ReplicationGroupDescription"]
    assert not resources(t, "AWS::OpenSearchService::Domain") and not resources(t, "AWS::Lambda::Function")


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in role["Properties"]["Policies"]:
        for s in p["PolicyDocument"]["Statement"]:
            out.append(s["Fn::If"][1] if "Fn::If" in s else s)
    return out


def test_task_role_reaches_only_the_apps_tables() -> None:
    r = build(EVENT_APP)["Resources"]
    statements = _statements(r["TaskRole"])
    data = [s for s in statements if "dynamodb:GetItem" in s["Action"] and "dynamodb:Scan" in s["Action"]]
    assert len(data) == 1 and tuple(data[0]["Action"]) == DATA_ACTIONS
    assert data[0]["Resource"] == [{"Fn::Sub": "${EventsTable.Arn}"}, {"Fn::Sub": "${EventsTable.Arn}/index/*"},
                                   {"Fn::Sub": "${CommentsTable.Arn}"}, {"Fn::Sub": "${CommentsTable.Arn}/index/*"}]
    for s in statements:
        assert "*" not in s["Resource"] and not any(a.endswith(":*") for a in s["Action"])
    control = [s for s in statements if s["Resource"] == [{"Fn::GetAtt": ["ControlTable", "Arn"]}]]
    assert control and "dynamodb:CreateTable" not in control[0]["Action"]


def test_delta_sync_tables_are_created_and_granted() -> None:
    t = build(OFFLINE_APP)
    tables = {r["Properties"]["TableName"]: r for r in resources(t, "AWS::DynamoDB::Table").values()
              if "TableName" in r["Properties"]}
    delta = tables["AmplifyDataStore-local-NONE"]["Properties"]
    assert [k["AttributeName"] for k in delta["KeySchema"]] == ["ds_pk", "ds_sk"]
    assert delta["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "_ttl"}
    granted = json.dumps(_statements(t["Resources"]["TaskRole"]))
    assert "AmplifyDataStoreLocalNONETable.Arn" in granted and "TodoLocalNONETable.Arn" in granted


def test_search_app_gets_a_domain_and_a_function_per_route() -> None:
    t = build(SEARCH_APP)
    r = t["Resources"]
    table = r["SearchEventsTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}  # implied by streams:
    assert resources(t, "AWS::OpenSearchService::Domain") == {"SearchDomain": r["SearchDomain"]}
    env = {e["Name"]: e["Value"] for e in r["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Environment"]}
    assert env["GQLSYNC_SEARCH_ENDPOINT"] == {"Fn::Sub": "https://${SearchDomain.DomainEndpoint}"}
    assert "Redis" not in r  # no subscriptions, no cache: nothing to share between tasks
    mapping = r["SearchEventsToEventsMapping"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["SearchEventsTable", "StreamArn"]}
    assert mapping["FunctionName"] == {"Ref": "SearchEventsToEventsFunction"}
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["SearchSyncFailedBatches", "Arn"]}
    function = r["SearchEventsToEventsFunction"]["Properties"]
    assert function["Handler"] == "lambda_function.handler"
    variables = function["Environment"]["Variables"]
    assert variables["INDEX"] == "events"
    assert variables["DEAD_LETTER_QUEUE_URL"] == {"Ref": "SearchSyncDeadLetters"}
    assert variables["OPENSEARCH_ENDPOINT"] == {"Fn::Sub": "https://${SearchDomain.DomainEndpoint}"}
    by_action = {a: s["Resource"] for s in _statements(r["SearchSyncRole"]) for a in s["Action"]}
    assert by_action["dynamodb:GetRecords"] == [{"Fn::GetAtt": ["SearchEventsTable", "StreamArn"]}]
    assert by_action["es:ESHttpPost"] == [{"Fn::Sub": "arn:${AWS::Partition}:es:${AWS::Region}:${AWS::AccountId}"
                                                      ":domain/gqlsync-event-search/*"}]
    assert "dynamodb:PutItem" not in by_action and "es:ESHttpDelete" not in by_action
    principals = r["SearchDomain"]["Properties"]["AccessPolicies"]["Statement"][0]["Principal"]["AWS"]
    assert principals == [{"Fn::GetAtt": ["TaskRole", "Arn"]}, {"Fn::GetAtt": ["SearchSyncRole", "Arn"]}]


def _search_app_copy(tmp_path: Path, edit: Any) -> Path:
    app = tmp_path / "app"
    shutil.copytree(SEARCH_APP, app, ignore=shutil.ignore_patterns(".gqlsync"))
    manifest = yaml.safe_load((app / "gqlsync.yaml").read_text())
    edit(manifest)
    (app / "gqlsync.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return app


def test_two_indexes_from_one_table_are_two_functions(tmp_path: Path) -> None:
    app = _search_app_copy(tmp_path, lambda m: m["streams"].append(
        {"table": "search-events", "searchDataSource": "EventsIndex", "index": "archive", "batchSize": 100}))
    t = build(app)
    mappings = resources(t, "AWS::Lambda::EventSourceMapping")
    assert sorted(mappings) == ["SearchEventsToArchiveMapping", "SearchEventsToEventsMapping"]
    assert mappings["SearchEventsToArchiveMapping"]["Properties"]["BatchSize"] == 100
    assert t["Resources"]["SearchEventsToArchiveFunction"]["Properties"]["Environment"]["Variables"][
        "INDEX"] == "archive"
    assert lint_errors(render(t)) == []


def test_a_stream_from_an_undeclared_table_is_refused(tmp_path: Path) -> None:
    app = _search_app_copy(tmp_path, lambda m: m.pop("tables"))
    with pytest.raises(InfraError, match="search-events, which is not declared under tables"):
        plan_app(app)


def _alarm_metrics(t: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    out = []
    for a in resources(t, "AWS::CloudWatch::Alarm").values():
        p = a["Properties"]
        if "Metrics" in p:
            out += [(q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"],
                     [d["Name"] for d in q["MetricStat"]["Metric"]["Dimensions"]]) for q in p["Metrics"]
                    if "MetricStat" in q]
        else:
            out.append((p["Namespace"], p["MetricName"], [d["Name"] for d in p["Dimensions"]]))
    return out


def test_alarms_watch_metrics_that_exist() -> None:
    t = build(SEARCH_APP)
    metrics = _alarm_metrics(t)
    namespaces = {ns for ns, _, _ in metrics}
    assert {"AWS/ApplicationELB", "AWS/ECS", "AWS/DynamoDB", "AWS/Lambda", "AWS/SQS", "AWS/ES", NAMESPACE} <= namespaces
    assert ("AWS/Lambda", "IteratorAge", ["FunctionName"]) in metrics
    declared = dict(DECLARATIONS)
    for ns, name, dims in metrics:
        if ns == NAMESPACE:  # a gqlsync metric reaches CloudWatch only with exactly its declared dimensions
            assert tuple(dims) == declared[name], name
    # ... and the agent is told to send those, and gqlsync exports them under these names and labels
    selected = {d["metric_selectors"][0].strip("^$"): tuple(d["dimensions"][0])
                for d in agent_config()["logs"]["metrics_collected"]["prometheus"]["emf_processor"]
                ["metric_declaration"]}
    assert selected == declared
    registry = Metrics()
    registry.version_requests.labels("a", "1", "error").inc()
    registry.requests.labels("a", "query", "200").inc()
    registry.field_errors.labels("a", "Query.x", "E").inc()
    meter = registry.datasource("a", "EventsTable", "AMAZON_DYNAMODB")
    meter.error("E")
    meter.throttled()
    meter.in_flight.inc()
    text = registry.exposition().decode()
    for name, labels in declared.items():
        line = next(ln for ln in text.splitlines() if ln.startswith(name + "{"))
        assert all(f'{label}="' in line for label in labels), line
    # a data source without limits.maxConcurrency never throttles: no alarm on it
    assert not any("throttles" in k.lower() for k in t["Resources"])
    assert "EventsTableErrorsAlarm" in t["Resources"] and "EventsIndexErrorsAlarm" in t["Resources"]


def test_cli_writes_the_template(tmp_path: Path) -> None:
    out = tmp_path / "stack.json"
    result = CliRunner().invoke(cli, ["infra", str(SEARCH_APP), "--out", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == json.loads(json.dumps(build(SEARCH_APP)))
    bad = CliRunner().invoke(cli, ["infra", str(SEARCH_APP), "--format", "toml"])
    assert bad.exit_code == 2


def test_cli_reports_a_broken_app(tmp_path: Path) -> None:
    app = _search_app_copy(tmp_path, lambda m: m["resolvers"][0].update(dataSource="Nope"))
    result = CliRunner().invoke(cli, ["infra", str(app)])
    assert result.exit_code == 2 and "Nope" in result.output
