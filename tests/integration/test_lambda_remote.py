"""Remote Lambda functions through a real Invoke API endpoint (gqlsync.lambda_api: botocore signing and all), and
BatchInvoke through the per-request batch loader, remote and local."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings
from gqlsync.lambda_api import LambdaHost, LambdaServer
from tests.helpers import ROOT, GraphQLClient

pytestmark = pytest.mark.integration

APP = ROOT / "tests/apps/lambdaremote"
KEY = "da2-lambdaremotetestkey00001"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[LambdaHost, str]]:
    host = LambdaHost.from_dir(APP / "functions")
    host.functions["throttled"].concurrency = 1
    server = LambdaServer(host)
    url = server.start()
    yield host, url
    server.stop()


@pytest.fixture
async def c(endpoint: tuple[LambdaHost, str], tmp_path: Path) -> AsyncIterator[GraphQLClient]:
    host, url = endpoint
    host.reset()
    app_dir = tmp_path / "app"
    shutil.copytree(APP, app_dir)
    manifest = app_dir / "gqlsync.yaml"
    manifest.write_text(manifest.read_text().replace("${ENDPOINT}", url))
    async with GraphQLClient(GqlsyncServer(load_app(app_dir), ServerSettings()), api_key=KEY) as client:
        yield client


async def test_invoke_a_remote_function(c: GraphQLClient, endpoint: tuple[LambdaHost, str]) -> None:
    assert await c.query('{ echo(msg: "hi") }') == {"data": {"echo": "echo: hi"}}
    assert endpoint[0].invocations["echo"] == 1


async def test_an_unhandled_function_error_is_the_field_error_appsync_gives(c: GraphQLClient) -> None:
    body = await c.query("{ fail }")
    assert body["data"] == {"fail": None}
    (error,) = body["errors"]
    assert (error["errorType"], error["message"], error["path"]) == ("Lambda:Unhandled", "no such thing", ["fail"])


async def test_response_code_sees_the_function_error_as_ctx_error(c: GraphQLClient) -> None:
    body = await c.query("{ failTemplate }")
    (error,) = body["errors"]
    assert (error["errorType"], error["message"]) == ("Lambda:Unhandled", "wrapped: no such thing")


async def test_a_handled_error_keeps_the_functions_error_type(c: GraphQLClient) -> None:
    body = await c.query("{ handled }")
    assert body["data"] == {"handled": None}
    (error,) = body["errors"]
    assert (error["errorType"], error["message"]) == ("Forbidden", "not yours")


async def test_a_function_past_its_timeout_is_a_timeout_error(c: GraphQLClient) -> None:
    import time

    start = time.monotonic()
    body = await c.query("{ slow }")
    assert time.monotonic() - start < 0.9  # gave up at timeoutSeconds (0.3), did not wait for the function (1 s)
    (error,) = body["errors"]
    assert (error["errorType"], error["message"]) == ("Lambda:TimeoutError", "Task timed out after 0.3 seconds")


async def test_throttling_is_retried_until_it_succeeds(c: GraphQLClient, endpoint: tuple[LambdaHost, str]) -> None:
    host = endpoint[0]
    body = await c.query("{ a: throttled b: throttled }")  # two concurrent calls, reserved concurrency 1
    assert body == {"data": {"a": "made it", "b": "made it"}}
    assert host.throttles["throttled"] >= 1 and host.invocations["throttled"] == 2


async def test_other_aws_errors_are_clear_field_errors(c: GraphQLClient, endpoint: tuple[LambdaHost, str],
                                                       tmp_path: Path) -> None:
    app_dir = tmp_path / "missing"
    shutil.copytree(APP, app_dir)
    manifest = app_dir / "gqlsync.yaml"
    manifest.write_text(manifest.read_text().replace("${ENDPOINT}", endpoint[1]).replace("function:echo",
                                                                                         "function:nothere"))
    async with GraphQLClient(GqlsyncServer(load_app(app_dir), ServerSettings()), api_key=KEY) as other:
        body = await other.query('{ echo(msg: "hi") }')
    (error,) = body["errors"]
    assert error["errorType"] == "Lambda:ResourceNotFoundException"
    assert "Function not found" in error["message"] and "nothere" in error["message"]


@pytest.mark.parametrize(("field", "calls"), [("double50", 1), ("double10", 5)])
async def test_batch_invoke_of_50_items_is_ceil_n_over_max_batch_size_calls(
        c: GraphQLClient, endpoint: tuple[LambdaHost, str], field: str, calls: int) -> None:
    host = endpoint[0]
    body = await c.query(f"{{ items(count: 50) {{ n {field} }} }}")
    assert "errors" not in body
    assert [(i["n"], i[field]) for i in body["data"]["items"]] == [(n, 2 * n) for n in range(1, 51)]
    assert host.invocations["batch"] == calls  # counted at the server


async def test_a_direct_resolver_batches_and_reports_errors_per_item(c: GraphQLClient,
                                                                     endpoint: tuple[LambdaHost, str]) -> None:
    body = await c.query("{ items(count: 23) { n direct } }")
    assert endpoint[0].invocations["batch"] == 3
    values = [i["direct"] for i in body["data"]["items"]]
    assert values == [None if n == 7 else 2 * n for n in range(1, 24)]
    (error,) = body["errors"]
    assert (error["errorType"], error["message"], error["path"]) == ("Unlucky", "seven is unlucky",
                                                                     ["items", 6, "direct"])


async def test_local_handlers_batch_the_same_way(c: GraphQLClient) -> None:
    body = await c.query("{ items(count: 50) { n local } }")
    assert [i["local"] for i in body["data"]["items"]] == [2 * n for n in range(1, 51)]
    assert local_calls(c) == 5


def local_calls(c: GraphQLClient) -> int:
    """How many times the LocalBatch data source's handler ran."""
    source = c.server.served.api.data_sources["LocalBatch"]
    return int(source.function.function.invocations)  # type: ignore[attr-defined]


async def test_the_lambda_serve_command_speaks_the_invoke_api(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    import aioboto3
    import httpx

    from tests.services import free_port, wait_for_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gqlsync.cli", "lambda", "serve", str(APP / "functions"),
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_for_port(port, 30, proc)
        session = aioboto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        async with session.client("lambda", endpoint_url=f"http://127.0.0.1:{port}") as client:
            answer = await client.invoke(FunctionName="echo", Payload=json.dumps({"arguments": {"msg": "x"}}))
            assert json.loads(await answer["Payload"].read()) == "echo: x" and "FunctionError" not in answer
            answer = await client.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:fail")
            assert answer["FunctionError"] == "Unhandled"
            assert json.loads(await answer["Payload"].read())["errorType"] == "LookupError"
            answer = await client.invoke(FunctionName="echo", InvocationType="DryRun")
            assert answer["StatusCode"] == 204
        async with httpx.AsyncClient() as http:
            calls = (await http.get(f"http://127.0.0.1:{port}/_gqlsync/calls")).json()
        assert calls["echo"] == {"invocations": 1, "throttles": 0} and calls["fail"]["invocations"] == 1
    finally:
        proc.terminate()
        proc.wait(10)
