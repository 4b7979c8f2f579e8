"""Lambda authorizer (through the Lambda data-source runner) and a direct Lambda resolver."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from gqlsync.app import load_app
from gqlsync.http import GqlsyncServer, ServerSettings
from tests.helpers import ROOT, GraphQLClient

pytestmark = pytest.mark.integration


@pytest.fixture
async def c() -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(GqlsyncServer(load_app(ROOT / "tests/apps/lambdaauth"), ServerSettings()),
                             api_key=None) as client:
        yield client


def calls(c: GraphQLClient) -> int:
    return int(c.server.served.authenticator.modes[0].function.invocations)  # type: ignore[attr-defined]


async def ask(c: GraphQLClient, query: str, token: str) -> tuple[int, dict]:
    resp = await c.post({"query": query}, headers={"authorization": token})
    return resp.status_code, resp.json()


async def test_allow_with_resolver_context_and_cache(c: GraphQLClient) -> None:
    status, body = await ask(c, "{ me secretStuff }", "allow")
    assert status == 200 and json.loads(body["data"]["me"]) == {"authType": "Lambda Authorization",
                                                                 "context": {"user": "u1"}}
    assert body["data"]["secretStuff"] == "the secret"
    before = calls(c)
    for _ in range(3):
        assert (await ask(c, "{ me }", "allow"))[0] == 200
    assert calls(c) == before  # cached for its ttlOverride
    for _ in range(2):
        assert (await ask(c, "{ me }", "nocache"))[0] == 200
    assert calls(c) == before + 2  # ttlOverride 0: asked every time


async def test_denied_fields(c: GraphQLClient) -> None:
    status, body = await ask(c, "{ me secretStuff }", "limited")
    assert status == 200
    assert json.loads(body["data"]["me"])["context"] == {"user": "u2"}
    assert body["data"]["secretStuff"] is None
    assert body["errors"][0]["errorType"] == "Unauthorized" and body["errors"][0]["path"] == ["secretStuff"]


@pytest.mark.parametrize("token", ["deny", "boom"])
async def test_deny_and_authorizer_error_are_401(c: GraphQLClient, token: str) -> None:
    status, body = await ask(c, "{ me }", token)
    assert status == 401 and body["errors"][0]["errorType"] == "UnauthorizedException"


async def test_identity_validation_expression_refuses_without_calling(c: GraphQLClient) -> None:
    before = calls(c)
    status, _ = await ask(c, "{ me }", "Not A Valid Token!")
    assert status == 401 and calls(c) == before


async def test_direct_lambda_resolver(c: GraphQLClient) -> None:
    status, body = await ask(c, "{ double(n: 21) }", "allow")
    assert (status, body) == (200, {"data": {"double": 42}})
    status, body = await ask(c, "{ double(n: -1) }", "allow")
    assert status == 200 and body["data"] == {"double": None}
    assert body["errors"][0]["errorType"] == "Lambda:Unhandled" and body["errors"][0]["message"] == "n must not be negative"


async def test_broken_handler_is_refused_at_load(tmp_path: object) -> None:
    import shutil
    from pathlib import Path

    from gqlsync.app import AppError

    dst = Path(str(tmp_path)) / "app"
    shutil.copytree(ROOT / "tests/apps/lambdaauth", dst)
    (dst / "gqlsync.yaml").write_text((dst / "gqlsync.yaml").read_text().replace("doubler.py:handler",
                                                                                 "doubler.py:nope"))
    with pytest.raises(AppError, match="has no function 'nope'"):
        GqlsyncServer(load_app(dst), ServerSettings())
