"""AWS_IAM: requests signed by botocore's SigV4 signer (service appsync), checked against configured keys."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gqlsync.app import load_app
from gqlsync.app.model import AuthProvider
from gqlsync.http import GqlsyncServer, ServerSettings
from tests.helpers import ROOT, GraphQLClient

pytestmark = pytest.mark.integration
AKID, SECRET = "AKIAGQLSYNCTEST00001", "s3cr3t/KEY+gqlsync/test0000000000000000"
QUERY = json.dumps({"query": "{ iamOnly }"}).encode()


@pytest.fixture
async def c() -> AsyncIterator[GraphQLClient]:
    app = load_app(ROOT / "tests/apps/multiauth")
    iam = AuthProvider("AWS_IAM", {"credentials": [{"accessKeyId": AKID, "secretAccessKey": SECRET,
                                                    "accountId": "123456789012",
                                                    "userArn": "arn:aws:iam::123456789012:user/ci-bot"}]})
    app = dataclasses.replace(app, auth=dataclasses.replace(app.auth, additional=(*app.auth.additional, iam)))
    async with GraphQLClient(GqlsyncServer(app, ServerSettings()), api_key=None) as client:
        yield client


def signed(body: bytes = QUERY, secret: str = SECRET, service: str = "appsync", when: datetime | None = None,
           akid: str = AKID) -> dict[str, str]:
    req = AWSRequest(method="POST", url="http://gqlsync.test/graphql", data=body,
                     headers={"content-type": "application/json"})
    moment = (when or datetime.now(UTC)).replace(tzinfo=None)
    with patch("botocore.auth.get_current_datetime", lambda: moment):
        SigV4Auth(Credentials(akid, secret), service, "us-east-1").add_auth(req)
    return {k.lower(): str(v) for k, v in req.headers.items()}


async def test_valid_signature_and_identity(c: GraphQLClient) -> None:
    resp = await c.post(None, raw=QUERY, headers=signed())
    assert resp.status_code == 200, resp.text
    assert json.loads(resp.json()["data"]["iamOnly"]) == {
        "authType": "IAM Authorization", "accountId": "123456789012",
        "userArn": "arn:aws:iam::123456789012:user/ci-bot", "username": "ci-bot"}


@pytest.mark.parametrize("case", ["wrong secret", "stale date", "altered body", "wrong service", "unknown key",
                                  "future date"])
async def test_bad_signatures_are_refused(c: GraphQLClient, case: str) -> None:
    headers = {
        "wrong secret": lambda: signed(secret="not-the-secret"),
        "stale date": lambda: signed(when=datetime.now(UTC) - timedelta(minutes=20)),
        "future date": lambda: signed(when=datetime.now(UTC) + timedelta(minutes=20)),
        "altered body": lambda: signed(),
        "wrong service": lambda: signed(service="execute-api"),
        "unknown key": lambda: signed(akid="AKIAUNKNOWN000000000"),
    }[case]()
    body = json.dumps({"query": "{ iamOnly keyOnly }"}).encode() if case == "altered body" else QUERY
    resp = await c.post(None, raw=body, headers=headers)
    assert resp.status_code == 401, (case, resp.text)
    assert resp.headers["x-amzn-ErrorType"] == "UnauthorizedException"


async def test_iam_caller_cannot_read_other_modes_fields(c: GraphQLClient) -> None:
    body = json.dumps({"query": "{ keyOnly }"}).encode()
    resp = await c.post(None, raw=body, headers=signed(body=body))
    assert resp.status_code == 200
    assert resp.json()["errors"][0]["errorType"] == "Unauthorized"


async def test_iam_on_the_realtime_handshake_and_starts() -> None:
    import base64

    import websockets

    from tests.live import live_server

    app = load_app(ROOT / "tests/apps/multiauth")
    iam = AuthProvider("AWS_IAM", {"credentials": [{"accessKeyId": AKID, "secretAccessKey": SECRET,
                                                    "accountId": "123456789012"}]})
    app = dataclasses.replace(app, auth=dataclasses.replace(app.auth, additional=(*app.auth.additional, iam)))
    async with live_server(GqlsyncServer(app, ServerSettings())) as base:
        host = base.split("//")[1]

        def amplify_style(path: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
            req = AWSRequest(method="POST", url=f"https://{host}{path}", data=body, headers={
                "accept": "application/json, text/javascript", "content-encoding": "amz-1.0",
                "content-type": "application/json; charset=UTF-8"})
            with patch("botocore.auth.get_current_datetime", lambda: datetime.now(UTC).replace(tzinfo=None)):
                SigV4Auth(Credentials(AKID, secret), "appsync", "us-east-1").add_auth(req)
            return {k.lower(): str(v) for k, v in req.headers.items()} | {"host": host}

        async def connect(headers: dict[str, str]) -> tuple[object, dict]:
            encoded = base64.b64encode(json.dumps(headers).encode()).decode()
            ws = await websockets.connect(f"{base.replace('http', 'ws')}/graphql/realtime?header={encoded}&payload=e30=",
                                          subprotocols=["graphql-ws"])
            await ws.send('{"type": "connection_init"}')
            return ws, json.loads(await ws.recv())

        bad, msg = await connect(amplify_style("/graphql/connect", b"{}", secret="wrong"))
        assert msg["type"] == "connection_error"
        assert msg["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
        await bad.close()
        ws, msg = await connect(amplify_style("/graphql/connect", b"{}"))
        assert msg["type"] == "connection_ack"
        data = json.dumps({"query": "subscription { onPost { id } }", "variables": {}})

        async def start(sub_id: str, auth: dict[str, str]) -> dict:
            await ws.send(json.dumps({"id": sub_id, "type": "start", "payload": {
                "data": data, "extensions": {"authorization": auth}}}))
            while True:
                m = json.loads(await ws.recv())
                if m["type"] != "ka":
                    return dict(m)

        refused = await start("x", amplify_style("/graphql", b'{"tampered": true}'))
        assert refused["type"] == "error"
        assert refused["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
        ok = await start("y", amplify_style("/graphql", data.encode()))
        assert ok == {"type": "start_ack", "id": "y"}
        admins_only = json.dumps({"query": "subscription { onPostAdmins { id } }", "variables": {}})
        await ws.send(json.dumps({"id": "z", "type": "start", "payload": {
            "data": admins_only, "extensions": {"authorization": amplify_style("/graphql", admins_only.encode())}}}))
        while (m := json.loads(await ws.recv()))["type"] == "ka":
            pass
        assert m["type"] == "error" and m["payload"]["errors"][0]["errorType"] == "Unauthorized"  # by directive
        await ws.close()
