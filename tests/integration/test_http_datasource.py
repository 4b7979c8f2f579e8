"""The HTTP data source against real loopback servers: statuses, timeouts, refusals, SigV4 verified by botocore, TLS."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gqlsync.app import load_app
from gqlsync.app.errors import AppError
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.http.tls import LocalCertificate, ensure_local_certificate
from gqlsync.server import check_app
from tests.helpers import GraphQLClient
from tests.services import free_port

pytestmark = pytest.mark.integration
KEY = "da2-httpdatasourcekey0001"
ACCESS_KEY, SECRET_KEY, TOKEN = "AKIDHTTPTEST", "http-test-secret/key+1", "session-token-of-the-test=="

SCHEMA = """
type HttpResult { statusCode: Int headers: AWSJSON body: String }
type Query { call(method: String!, path: String!, query: AWSJSON, headers: AWSJSON, body: String): HttpResult }
"""
REQUEST = """{"version": "2018-05-29", "method": "$ctx.args.method", "resourcePath": $util.toJson($ctx.args.path),
  "params": {
    #if($ctx.args.query) "query": $util.toJson($ctx.args.query), #end
    #if($ctx.args.headers) "headers": $util.toJson($ctx.args.headers), #end
    "body": $util.toJson($ctx.args.body)
  }}"""
RESPONSE = """#if($ctx.error)$util.error($ctx.error.message, $ctx.error.type)#end
{"statusCode": $ctx.result.statusCode, "headers": $util.toJson($util.toJson($ctx.result.headers)),
 "body": $util.toJson($ctx.result.body)}"""
CALL = """query($m: String!, $p: String!, $q: AWSJSON, $h: AWSJSON, $b: String) {
  call(method: $m, path: $p, query: $q, headers: $h, body: $b) { statusCode headers body } }"""


# --- the backend: a Starlette app on loopback (http and https), with a botocore-based SigV4 verifier ---------------

def verify_sigv4(request: Request, body: bytes) -> dict[str, Any]:
    """Recompute the request's signature with botocore's SigV4Auth over what was received, and compare."""
    auth = request.headers.get("authorization")
    if not auth:
        return {"signed": False}
    algorithm, _, fields = auth.partition(" ")
    parts = dict(p.strip().split("=", 1) for p in fields.split(","))
    access_key, date, region, service, _ = parts["Credential"].split("/")
    names = parts["SignedHeaders"].split(";")
    received = {n: request.headers[n] for n in names}
    raw_path = request.scope["raw_path"].decode()
    query = request.scope["query_string"].decode()
    url = f"{request.url.scheme}://{request.headers['host']}{raw_path}" + (f"?{query}" if query else "")
    req = AWSRequest(method=request.method, url=url, headers=received, data=body)
    req.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(BotoCredentials(ACCESS_KEY, SECRET_KEY, TOKEN), service, region)
    canonical = signer.canonical_request(req)
    expected = signer.signature(signer.string_to_sign(req, canonical), req)
    return {"signed": True, "algorithm": algorithm, "accessKey": access_key, "date": date, "region": region,
            "service": service, "signedHeaders": names, "token": request.headers.get("x-amz-security-token"),
            "valid": hmac.compare_digest(expected, parts["Signature"])}


class Backend:
    def __init__(self) -> None:
        self.peers: list[Any] = []

    async def status(self, request: Request) -> Response:
        code = int(request.path_params["code"])
        self.peers.append(request.scope.get("client"))
        return Response(f"answer {code}", status_code=code, media_type="text/plain",
                        headers={"X-Test-Header": "yes", "Set-Cookie": "a=1"})

    async def echo(self, request: Request) -> Response:
        body = await request.body()
        return JSONResponse({"method": request.method, "rawPath": request.scope["raw_path"].decode(),
                             "query": request.scope["query_string"].decode(),
                             "headers": dict(request.headers), "body": body.decode(),
                             "sigv4": verify_sigv4(request, body)})

    async def slow(self, request: Request) -> Response:
        await asyncio.sleep(5)
        return PlainTextResponse("too late")

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/status/{code:int}", self.status, methods=methods),
                                 Route("/echo/{rest:path}", self.echo, methods=methods),
                                 Route("/slow", self.slow)])


@contextlib.asynccontextmanager
async def serve(app: Starlette, **options: Any) -> AsyncIterator[str]:
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                       **options))
    task = asyncio.ensure_future(uv.serve())
    while not uv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"{'https' if options else 'http'}://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        await asyncio.wait_for(task, 10)


class Servers:
    def __init__(self, backend: Backend, http: str, https: str, cert: LocalCertificate) -> None:
        self.backend, self.http, self.https, self.cert = backend, http, https, cert


@pytest.fixture(scope="module")
async def servers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Servers]:
    cert = ensure_local_certificate(tmp_path_factory.mktemp("backend-tls"))
    backend = Backend()
    async with serve(backend.app()) as http, \
            serve(backend.app(), ssl_certfile=str(cert.cert), ssl_keyfile=str(cert.key)) as https:
        yield Servers(backend, http, https, cert)


# --- the API under test: one HTTP data source, one resolver --------------------------------------------------------

def write_app(folder: Path, config: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.graphql").write_text(SCHEMA)
    (folder / "call.req.vtl").write_text(REQUEST)
    (folder / "call.res.vtl").write_text(RESPONSE)
    manifest = {"name": "http-ds", "schema": "schema.graphql", "auth": {"apiKeys": [{"id": KEY}]},
                "dataSources": {"Api": {"type": "HTTP", "config": config}},
                "resolvers": [{"type": "Query", "field": "call", "dataSource": "Api", "request": "call.req.vtl",
                               "response": "call.res.vtl"}]}
    (folder / "gqlsync.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


@contextlib.asynccontextmanager
async def api(folder: Path, config: dict[str, Any]) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(GqlsyncServer(load_app(write_app(folder, config)), ServerSettings()),
                             api_key=KEY) as client:
        yield client


async def call(client: GraphQLClient, method: str, path: str, **kw: Any) -> dict[str, Any]:
    variables: dict[str, Any] = {"m": method, "p": path}
    for name, value in (("q", kw.get("query")), ("h", kw.get("headers"))):
        if value is not None:
            variables[name] = json.dumps(value)
    if kw.get("body") is not None:
        variables["b"] = kw["body"]
    return await client.query(CALL, variables)


# --- answers, whatever their status, reach the response template ---------------------------------------------------

@pytest.mark.parametrize("code", [200, 201, 404, 418, 500, 503])
async def test_every_status_reaches_the_template_as_status_code_and_body(
        servers: Servers, tmp_path: Path, code: int) -> None:
    async with api(tmp_path, {"endpoint": servers.http}) as client:
        r = await call(client, "GET", f"/status/{code}")
    assert "errors" not in r, r
    result = r["data"]["call"]
    assert (result["statusCode"], result["body"]) == (code, f"answer {code}")
    headers = json.loads(result["headers"])
    assert headers["x-test-header"] == "yes" and headers["content-type"].startswith("text/plain")  # Starlette's case


async def test_headers_keep_the_endpoints_spelling_and_repeated_ones_are_joined(tmp_path: Path) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nX-Multi: 1\r\n"
                     b"x-multi: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()

    tcp = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        async with api(tmp_path, {"endpoint": f"http://127.0.0.1:{tcp.sockets[0].getsockname()[1]}"}) as client:
            r = await call(client, "GET", "/")
    finally:
        tcp.close()
    result = r["data"]["call"]
    assert (result["statusCode"], result["body"]) == (502, "{}")
    assert json.loads(result["headers"]) == {"Content-Type": "application/json", "X-Multi": "1, 2",
                                             "Content-Length": "2", "Connection": "close"}


async def test_the_request_document_is_sent_as_written(servers: Servers, tmp_path: Path) -> None:
    async with api(tmp_path, {"endpoint": servers.http}) as client:
        r = await call(client, "POST", "/echo/a b/c", query={"q": "x y/z&", "ids": ["1", "2"], "flag": True},
                       headers={"Content-Type": "application/json", "X-Custom": "v"}, body='{"a": 1}')
    echo = json.loads(r["data"]["call"]["body"])
    assert echo["method"] == "POST" and echo["rawPath"] == "/echo/a%20b/c"
    assert echo["query"] == "q=x%20y%2Fz%26&ids=1&ids=2&flag=true"
    assert echo["headers"]["x-custom"] == "v" and echo["headers"]["content-type"] == "application/json"
    assert echo["body"] == '{"a": 1}' and echo["sigv4"] == {"signed": False}


async def test_connections_are_pooled_and_kept_alive(servers: Servers, tmp_path: Path) -> None:
    servers.backend.peers.clear()
    async with api(tmp_path, {"endpoint": servers.http, "maxConnections": 4}) as client:
        for _ in range(5):
            assert (await call(client, "GET", "/status/200"))["data"]["call"]["statusCode"] == 200
    assert len(servers.backend.peers) == 5 and len(set(map(tuple, servers.backend.peers))) == 1


# --- failures: the field fails with a clear errorType ---------------------------------------------------------------

async def test_a_backend_that_does_not_answer_in_time_is_http_timeout(servers: Servers, tmp_path: Path) -> None:
    async with api(tmp_path, {"endpoint": servers.http, "timeoutSeconds": 0.5}) as client:
        started = time.monotonic()
        r = await call(client, "GET", "/slow")
        took = time.monotonic() - started
    assert r["data"] == {"call": None}
    assert r["errors"][0]["errorType"] == "HTTP:Timeout" and "timed out after 0.5 s" in r["errors"][0]["message"]
    assert took < 3


async def test_a_refused_connection_is_http_connection_error(tmp_path: Path) -> None:
    async with api(tmp_path, {"endpoint": f"http://127.0.0.1:{free_port()}"}) as client:
        r = await call(client, "GET", "/status/200")
    assert r["data"] == {"call": None}
    error = r["errors"][0]
    assert error["errorType"] == "HTTP:ConnectionError" and "ConnectError" in error["message"], error


# --- AWS_IAM: SigV4 with the server's credentials, verified by botocore ---------------------------------------------

@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


IAM = {"authorizationType": "AWS_IAM", "awsIamConfig": {"signingRegion": "eu-west-1", "signingServiceName": "states"}}


@pytest.mark.parametrize("method,body", [("GET", None), ("POST", '{"input": "{\\"x\\": 1}"}'), ("DELETE", None)])
async def test_aws_iam_requests_are_signed_with_sigv4_and_the_session_token(
        servers: Servers, tmp_path: Path, aws_env: None, method: str, body: str | None) -> None:
    async with api(tmp_path, {"endpoint": servers.http, "authorizationConfig": IAM}) as client:
        r = await call(client, method, "/echo/exec utions/run", query={"b": "2 3", "a": ["z", "y"], "~x": "a+b"},
                       headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AWSStepFunctions.X"},
                       body=body)
    assert "errors" not in r, r
    sig = json.loads(r["data"]["call"]["body"])["sigv4"]
    assert sig["valid"] is True, sig
    assert (sig["algorithm"], sig["accessKey"], sig["region"], sig["service"]) == (
        "AWS4-HMAC-SHA256", ACCESS_KEY, "eu-west-1", "states")
    assert sig["token"] == TOKEN and "x-amz-security-token" in sig["signedHeaders"]
    assert {"host", "x-amz-date", "content-type", "x-amz-target"} <= set(sig["signedHeaders"])


async def test_the_verifier_rejects_a_signature_made_with_other_credentials(
        servers: Servers, tmp_path: Path, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    async with api(tmp_path, {"endpoint": servers.http, "authorizationConfig": IAM}) as client:
        r = await call(client, "GET", "/echo/x")
    assert json.loads(r["data"]["call"]["body"])["sigv4"]["valid"] is False


async def test_without_credentials_a_signed_source_fails_the_field_clearly(
        servers: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    async with api(tmp_path / "app", {"endpoint": servers.http, "authorizationConfig": IAM}) as client:
        r = await call(client, "GET", "/echo/x")
    assert r["errors"][0]["errorType"] == "HTTP:NoCredentials", r


# --- TLS: the system store by default, the app's CA bundle for private endpoints -----------------------------------

async def test_https_with_the_apps_ca_bundle(servers: Servers, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    shutil.copy(servers.cert.ca, tmp_path / "certs" / "ca.pem")
    async with api(tmp_path, {"endpoint": servers.https, "caBundle": "certs/ca.pem"}) as client:
        r = await call(client, "GET", "/status/404")
    assert r["data"]["call"]["statusCode"] == 404, r


async def test_https_with_another_ca_fails_clearly(servers: Servers, tmp_path: Path) -> None:
    other = ensure_local_certificate(tmp_path / "other-ca")
    shutil.copy(other.ca, tmp_path / "wrong-ca.pem")
    async with api(tmp_path, {"endpoint": servers.https, "caBundle": "wrong-ca.pem"}) as client:
        r = await call(client, "GET", "/status/200")
    error = r["errors"][0]
    assert r["data"] == {"call": None} and error["errorType"] == "HTTP:TLSError", error
    assert "CERTIFICATE_VERIFY_FAILED" in error["message"] and "wrong-ca.pem" in error["message"]


async def test_https_is_verified_against_the_system_store_by_default(servers: Servers, tmp_path: Path) -> None:
    async with api(tmp_path, {"endpoint": servers.https}) as client:
        r = await call(client, "GET", "/status/200")
    error = r["errors"][0]
    assert error["errorType"] == "HTTP:TLSError" and "system's CA store" in error["message"], error


async def test_insecure_skip_tls_verify_is_named_so_and_warned_about(
        servers: Servers, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "gqlsync.datasources.http"):
        async with api(tmp_path, {"endpoint": servers.https, "insecureSkipTlsVerify": True}) as client:
            r = await call(client, "GET", "/status/200")
    assert r["data"]["call"]["statusCode"] == 200
    assert any("NOT verified" in rec.getMessage() for rec in caplog.records)


# --- config: every key checked at load, with the file and line -----------------------------------------------------

@pytest.mark.parametrize("config,expected", [
    ({"endpoint": "http://x", "timeout": 3}, "config.timeout: unknown key"),
    ({"endpoint": "http://x", "authorizationConfig": {**IAM, "awsIamConfig": {"signingRegion": "eu-west-1",
                                                                           "signingService": "states"}}},
     "config.authorizationConfig.awsIamConfig.signingService: unknown key"),
    ({"endpoint": "http://x", "authorizationConfig": {"authorizationType": "API_KEY"}},
     "config.authorizationConfig.authorizationType: expected 'AWS_IAM'"),
    ({"endpoint": "http://x", "authorizationConfig": {"authorizationType": "AWS_IAM"}}, "AWS_IAM needs awsIamConfig"),
    ({"endpoint": "https://x", "caBundle": "missing.pem"}, "config.caBundle:"),
    ({"endpoint": "http://x", "caBundle": "missing.pem"}, "config.caBundle applies to https:// endpoints only"),
    ({"endpoint": "http://x", "timeoutSeconds": 0}, "config.timeoutSeconds must be positive"),
    ({"endpoint": "http://x", "connectTimeoutSeconds": "2"}, "config.connectTimeoutSeconds: expected"),
])
def test_config_is_checked_key_by_key(tmp_path: Path, config: dict[str, Any], expected: str) -> None:
    with pytest.raises(AppError) as exc:
        check_app(write_app(tmp_path, config))  # what `gqlsync validate` and every start run
    messages = [str(p) for p in exc.value.problems]
    assert any(expected in m and "gqlsync.yaml:" in m for m in messages), messages


# --- import-cfn carries HttpConfig.AuthorizationConfig ------------------------------------------------------------

def test_import_cfn_carries_the_authorization_config(tmp_path: Path) -> None:
    from gqlsync.app.cloudformation import import_cloudformation

    api_id = {"Fn::GetAtt": ["Api", "ApiId"]}
    template = {"Resources": {
        "Api": {"Type": "AWS::AppSync::GraphQLApi", "Properties": {"Name": "s", "AuthenticationType": "API_KEY"}},
        "Schema": {"Type": "AWS::AppSync::GraphQLSchema", "Properties": {"ApiId": api_id, "Definition": SCHEMA}},
        "States": {"Type": "AWS::AppSync::DataSource", "Properties": {
            "ApiId": api_id, "Name": "States", "Type": "HTTP", "HttpConfig": {
                "Endpoint": "https://states.eu-west-1.amazonaws.com/",
                "AuthorizationConfig": {"AuthorizationType": "AWS_IAM", "AwsIamConfig": {
                    "SigningRegion": "eu-west-1", "SigningServiceName": "states"}}}}},
    }}
    (tmp_path / "t.json").write_text(json.dumps(template))
    import_cloudformation([tmp_path / "t.json"], tmp_path, tmp_path / "app", api_key=KEY)
    manifest = yaml.safe_load((tmp_path / "app" / "gqlsync.yaml").read_text())
    assert manifest["dataSources"]["States"]["config"] == {
        "endpoint": "https://states.eu-west-1.amazonaws.com/", "authorizationConfig": IAM}
    app = load_app(tmp_path / "app")
    assert app.data_sources["States"].config["authorizationConfig"] == IAM
