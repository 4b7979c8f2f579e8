"""`gqlsync import-cfn`: CloudFormation in, a validated and servable app out, or exit 2 with the reasons.

The command runs as a real process on real templates (tests/apps/cfn/); the apps it writes are served
against DynamoDB Local, and their Cognito mode checks real RS256 tokens against a JWKS server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from gqlsync.app import load_app
from gqlsync.app.cloudformation import DEFAULT_RESPONSE_TEMPLATE
from tests.helpers import ROOT, GraphQLClient, dynamodb_server, with_cognito_issuer
from tests.helpers import run_gqlsync as gqlsync
from tests.services import CognitoPool

pytestmark = pytest.mark.integration
NOTES = ROOT / "tests/apps/cfn/notes.yaml"
KEY = "da2-notesimporttestkey0001"


def variant(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """notes.yaml with each (old, new) replacement made once, written under tmp_path/templates."""
    text = NOTES.read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "templates" / "notes.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    """Temporary folders an import left next to --out."""
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def manifest(app_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((app_dir / "gqlsync.yaml").read_text())
    return data


async def test_cognito_api_imports_validates_and_serves(tmp_path: Path, dynamodb_endpoint: str) -> None:
    out = tmp_path / "notes-app"
    status, text = gqlsync("import-cfn", NOTES, "--out", out, "--api-key", KEY, "--parameter", "Env=test")
    assert status == 0, text
    assert f"wrote {out}: 4 resolvers" in text and "validated" in text and f"API key {KEY}" in text
    for coord in ("Query.echo", "Query.getNote", "Mutation.addNote"):
        assert f"note resolver {coord}: no response mapping template; wrote templates/{coord}.res.vtl" in text
        assert (out / "templates" / f"{coord}.res.vtl").read_text() == DEFAULT_RESPONSE_TEMPLATE
    assert "note resolver Query.whoami" not in text  # it has its own response template
    assert "user pool eu-west-1_N0tesPool1 is in eu-west-1; using eu-west-1" in text
    assert manifest(out)["auth"] == {
        "default": {"mode": "AMAZON_COGNITO_USER_POOLS",
                    "config": {"userPoolId": "eu-west-1_N0tesPool1", "awsRegion": "eu-west-1",
                               "appIdClientRegex": "^web-[0-9]+$", "defaultAction": "ALLOW"}},
        "additional": [{"mode": "API_KEY"}],
        "apiKeys": [{"id": KEY}],
    }
    assert manifest(out)["tables"][0]["name"] == "notes-test"  # --parameter Env=test
    assert leftovers(tmp_path) == []
    assert gqlsync("validate", out) == (0, "ok notes-app: 4 resolvers, 0 functions, 2 data sources, 23 types")

    async with GraphQLClient(dynamodb_server(load_app(out), dynamodb_endpoint), api_key=KEY) as c:
        assert await c.query('{ echo(text: "hi") { id text } }') == {"data": {"echo": {"id": "echo", "text": "hi"}}}
        add = 'mutation { addNote(id: "n1", text: "first") { id text } }'
        assert await c.query(add) == {"data": {"addNote": {"id": "n1", "text": "first"}}}
        assert await c.query('{ getNote(id: "n1") { text } }') == {"data": {"getNote": {"text": "first"}}}
        assert await c.query('{ getNote(id: "nope") { text } }') == {"data": {"getNote": None}}
        # the default response template raises the data source's error (2018-05-29 hands it over); the
        # text differs, else AppSync counts a failed condition whose item is already there as success
        again = await c.query(add.replace("first", "second"))
        assert again["data"] == {"addNote": None}
        assert again["errors"][0]["errorType"] == "DynamoDB:ConditionalCheckFailedException"
        # whoami has no directive: the default mode (Cognito) only, so an API key is refused
        whoami = await c.query("{ whoami }")
        assert whoami["data"] == {"whoami": None} and whoami["errors"][0]["errorType"] == "Unauthorized"


async def test_imported_cognito_mode_checks_tokens_with_the_pools_settings(
        tmp_path: Path, dynamodb_endpoint: str, cognito_pool: CognitoPool) -> None:
    out = tmp_path / "app"
    status, text = gqlsync("import-cfn", NOTES, "--out", out, "--api-key", KEY)
    assert status == 0, text
    # The issuer stands in for cognito-idp.eu-west-1.amazonaws.com; every other setting is the import's.
    app = with_cognito_issuer(load_app(out), cognito_pool.issuer)
    async with GraphQLClient(dynamodb_server(app, dynamodb_endpoint), api_key=None) as c:
        resp = await c.post({"query": "{ whoami }"}, headers={"authorization": cognito_pool.id_token("ann",
                                                                                                      client="web-7")})
        assert resp.status_code == 200
        assert json.loads(resp.json()["data"]["whoami"]) == {"authType": "User Pool Authorization",
                                                             "username": "ann"}
        # appIdClientRegex ^web-[0-9]+$ came over from UserPoolConfig
        resp = await c.post({"query": "{ whoami }"}, headers={"authorization": cognito_pool.id_token(
            "ann", client="mobile-7")})
        assert resp.status_code == 401


def test_unservable_template_exits_2_with_the_reason_and_writes_nothing(tmp_path: Path) -> None:
    template = variant(tmp_path, ("FieldName: getNote\n", "FieldName: getNotes\n"))
    out = tmp_path / "app"
    status, text = gqlsync("import-cfn", template, "--out", out)
    assert status == 2, text
    assert f"nothing was written to {out}" in text
    assert "gqlsync.yaml:" in text and "resolver Query.getNotes: type Query has no field getNotes" in text
    assert "wrote" not in text
    assert not out.exists() and leftovers(tmp_path) == []


def test_failed_import_leaves_an_existing_app_untouched(tmp_path: Path) -> None:
    out = tmp_path / "app"
    assert gqlsync("import-cfn", NOTES, "--out", out, "--api-key", KEY)[0] == 0
    before = snapshot(out)
    template = variant(tmp_path, ("DataSourceName: !GetAtt LocalSource.Name\n      RequestMappingTemplate: |\n"
                                  "        {\"version\": \"2018-05-29\", \"payload\": {\"id\"",
                                  "DataSourceName: Missing\n      RequestMappingTemplate: |\n"
                                  "        {\"version\": \"2018-05-29\", \"payload\": {\"id\""))
    status, text = gqlsync("import-cfn", template, "--out", out, "--api-key", KEY)
    assert status == 2, text
    assert "resolver Query.echo: unknown data source 'Missing'" in text
    assert snapshot(out) == before and leftovers(tmp_path) == []


def test_reimport_replaces_the_app_and_keeps_its_local_state(tmp_path: Path) -> None:
    out = tmp_path / "app"
    assert gqlsync("import-cfn", NOTES, "--out", out, "--api-key", KEY)[0] == 0
    (out / ".gqlsync" / "dynamodb").mkdir(parents=True)
    (out / ".gqlsync" / "dynamodb" / "journal").write_text("local data")
    (out / "templates" / "stale.vtl").write_text("from an earlier import")
    status, text = gqlsync("import-cfn", NOTES, "--out", out, "--api-key", KEY)
    assert status == 0, text
    assert not (out / "templates" / "stale.vtl").exists()
    assert (out / ".gqlsync" / "dynamodb" / "journal").read_text() == "local data"
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # a folder's usual mode, not mkdtemp's 0700
    assert leftovers(tmp_path) == []


def test_a_folder_that_is_not_an_app_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "docs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    status, text = gqlsync("import-cfn", NOTES, "--out", out)
    assert status == 2 and "no gqlsync.yaml: not replacing it" in text
    assert snapshot(out) == {"notes.txt": b"mine"} and leftovers(tmp_path) == []


def test_a_user_pool_known_only_once_deployed_is_asked_for(tmp_path: Path) -> None:
    template = variant(tmp_path, ("UserPoolId: eu-west-1_N0tesPool1", "UserPoolId: !Ref NotesUserPool"),
                       ("  NotesSchema:\n", "  NotesUserPool:\n    Type: AWS::Cognito::UserPool\n"
                                            "    Properties: {UserPoolName: notes}\n  NotesSchema:\n"))
    out = tmp_path / "app"
    status, text = gqlsync("import-cfn", template, "--out", out)
    assert status == 2, text
    assert "NotesApi (AWS::AppSync::GraphQLApi) default mode AMAZON_COGNITO_USER_POOLS" in text
    assert "--parameter NotesUserPool=" in text and not out.exists()

    status, text = gqlsync("import-cfn", template, "--out", out, "--parameter", "NotesUserPool=us-west-2_AbC123")
    assert status == 0, text
    config = manifest(out)["auth"]["default"]["config"]
    assert config["userPoolId"] == "us-west-2_AbC123" and config["awsRegion"] == "us-west-2"


ADDITIONAL = """        - AuthenticationType: API_KEY
        - AuthenticationType: AWS_IAM
        - AuthenticationType: AWS_LAMBDA
          LambdaAuthorizerConfig:
            AuthorizerUri: !Sub arn:aws:lambda:${AWS::Region}:111122223333:function:authorize
            AuthorizerResultTtlInSeconds: "60"
        - AuthenticationType: OPENID_CONNECT
          OpenIDConnectConfig: {Issuer: "https://login.example.com", ClientId: app-1, IatTTL: 3600000, AuthTTL: 0}
        - AuthenticationType: AMAZON_COGNITO_USER_POOLS
          UserPoolConfig: {UserPoolId: us-east-2_Second1, AppIdClientRegex: "^admin$"}
"""


def test_additional_iam_and_lambda_modes_need_their_local_counterparts(tmp_path: Path) -> None:
    template = variant(tmp_path, ("        - AuthenticationType: API_KEY\n", ADDITIONAL))
    out = tmp_path / "app"
    status, text = gqlsync("import-cfn", template, "--out", out, "--api-key", KEY)
    assert status == 2, text
    assert ("NotesApi (AWS::AppSync::GraphQLApi) additional mode 2 AWS_IAM: gqlsync checks SigV4 signatures "
            "against the access keys the app lists") in text and "--iam-credential ACCESS_KEY_ID=ENV_VAR" in text
    assert ("additional mode 3 AWS_LAMBDA: the authorizer is the deployed function "
            "arn:aws:lambda:us-east-1:111122223333:function:authorize") in text
    assert "pass --lambda authorize=path/to/handler.py:function" in text
    assert not out.exists() and leftovers(tmp_path) == []

    authorizer = tmp_path / "src" / "auth.py"
    authorizer.parent.mkdir()
    authorizer.write_text("def handler(event, context):\n    return {'isAuthorized': event['authorizationToken'] == 'ok'}\n")
    status, text = gqlsync("import-cfn", template, "--out", out, "--api-key", KEY,
                           "--lambda", f"authorize={authorizer}:handler", "--iam-credential", "AKIDCI=CI_SECRET")
    assert status == 0, text
    assert manifest(out)["auth"]["additional"] == [
        {"mode": "API_KEY"},
        {"mode": "AWS_IAM", "config": {"credentials": [{"accessKeyId": "AKIDCI", "secretAccessKeyEnv": "CI_SECRET"}]}},
        {"mode": "AWS_LAMBDA", "config": {"handler": "lambdas/auth.py:handler", "authorizerResultTtlInSeconds": 60}},
        {"mode": "OPENID_CONNECT", "config": {"issuer": "https://login.example.com", "clientId": "app-1",
                                              "iatTTL": 3600000, "authTTL": 0}},
        # no defaultAction: AppSync's additional Cognito providers have none
        {"mode": "AMAZON_COGNITO_USER_POOLS", "config": {"userPoolId": "us-east-2_Second1", "awsRegion": "us-east-2",
                                                         "appIdClientRegex": "^admin$"}},
    ]
    assert (out / "lambdas" / "auth.py").read_bytes() == authorizer.read_bytes()


@pytest.mark.parametrize("mode, config, reason", [
    ("AWS_IAM", "", "pass --iam-credential"),
    ("AWS_LAMBDA", "      LambdaAuthorizerConfig: {AuthorizerUri: arn:aws:lambda:us-east-1:1:function:auth}\n",
     "pass --lambda auth="),
    ("OPENID_CONNECT", "      OpenIDConnectConfig: {ClientId: app-1}\n", "no OpenIDConnectConfig.Issuer"),
])
def test_a_default_mode_that_cannot_be_imported_fails_the_import(tmp_path: Path, mode: str, config: str,
                                                                 reason: str) -> None:
    template = variant(tmp_path, (
        "      AuthenticationType: AMAZON_COGNITO_USER_POOLS\n      UserPoolConfig:\n"
        "        UserPoolId: eu-west-1_N0tesPool1\n        AwsRegion: !Ref AWS::Region\n"
        "        AppIdClientRegex: \"^web-[0-9]+$\"\n        DefaultAction: ALLOW\n",
        f"      AuthenticationType: {mode}\n{config}"))
    out = tmp_path / "app"
    status, text = gqlsync("import-cfn", template, "--out", out)
    assert status == 2, text
    assert f"NotesApi (AWS::AppSync::GraphQLApi) default mode {mode}: " in text
    assert reason in text
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_malformed_template_is_reported_with_its_line(tmp_path: Path) -> None:
    template = variant(tmp_path, ("      FieldName: echo\n", "      FieldName: [echo\n"))
    out = tmp_path / "app"
    status, text = gqlsync("import-cfn", template, "--out", out)
    assert status == 2 and f"{template}:" in text and "YAML syntax error" in text
    assert "Traceback" not in text and not out.exists() and leftovers(tmp_path) == []


def test_api_keys_keep_their_expiry_and_description(tmp_path: Path) -> None:
    keys = ("  NotesKey:\n    Type: AWS::AppSync::ApiKey\n    Properties:\n      ApiId: !GetAtt NotesApi.ApiId\n"
            "      Expires: 1893456000\n      Description: web client\n"
            "  SecondKey:\n    Type: AWS::AppSync::ApiKey\n    Properties:\n      ApiId: !GetAtt NotesApi.ApiId\n")
    template = variant(tmp_path, ("  NotesSchema:\n", keys + "  NotesSchema:\n"))
    out = tmp_path / "app"
    status, text = gqlsync("import-cfn", template, "--out", out, "--api-key", KEY)
    assert status == 0, text
    first, second = manifest(out)["auth"]["apiKeys"]
    assert first == {"id": KEY, "expires": "2030-01-01T00:00:00Z", "description": "web client"}
    assert second["id"].startswith("da2-") and "expires" not in second
    assert f"API key SecondKey: AWS generates key values, so it is {second['id']} here" in text


def test_what_cannot_be_carried_over_exits_2_naming_resource_and_property(tmp_path: Path) -> None:
    template = variant(tmp_path, ("  NotesSchema:\n", "  Changes:\n    Type: AWS::SNS::Topic\n  NotesSchema:\n"),
                       ("      BillingMode: PAY_PER_REQUEST\n",
                        "      BillingMode: PAY_PER_REQUEST\n      KinesisStreamSpecification: {StreamArn: arn:k}\n"))
    out = tmp_path / "app"
    status, text = gqlsync("import-cfn", template, "--out", out)
    assert status == 2, text
    assert "Changes (AWS::SNS::Topic): import-cfn cannot carry this resource type over" in text
    assert ("NotesTable (AWS::DynamoDB::Table) KinesisStreamSpecification: import-cfn does not carry this property "
            "over") in text
    assert not out.exists() and leftovers(tmp_path) == []
