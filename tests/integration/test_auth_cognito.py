"""Cognito user-pool JWTs checked against a real JWKS server, AppSync's multi-auth directives, and fuzzing."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm

from gqlsync.app import App, load_app
from gqlsync.app.model import AuthProvider
from gqlsync.http import GqlsyncServer, ServerSettings
from tests.helpers import ROOT, GraphQLClient
from tests.services import JwksServer

pytestmark = pytest.mark.integration
API_KEY = "da2-multiauthtestkey0001"


class Keys:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def jwks() -> Iterator[tuple[JwksServer, Keys]]:
    server = JwksServer()
    keys = Keys("key-1")
    server.jwks = {"keys": [keys.jwk()]}
    try:
        yield server, keys
    finally:
        server.stop()


def token(jwks: tuple[JwksServer, Keys], keys: Keys | None = None, **overrides: Any) -> str:
    server, default_keys = jwks
    k = keys or default_keys
    now = int(time.time())
    claims = {"sub": "user-1", "iss": server.issuer, "aud": "web-client-1", "token_use": "id",
              "cognito:username": "ann", "iat": now, "exp": now + 3600, "auth_time": now}
    claims.update({key: v for key, v in overrides.items() if v is not None})
    for key in [key for key, v in overrides.items() if v is None]:
        claims.pop(key, None)
    return jwt.encode(claims, k.private, algorithm="RS256", headers={"kid": k.kid})


def multiauth_app(issuer: str, *extra: AuthProvider) -> App:
    """The multi-auth test app with its Cognito pool pointed at a test JWKS server, plus `extra` modes."""
    app = load_app(ROOT / "tests/apps/multiauth")
    cfg = {**app.auth.default.config, "issuer": issuer, "jwksMinRefreshSeconds": 0}
    return dataclasses.replace(app, auth=dataclasses.replace(
        app.auth, default=AuthProvider("AMAZON_COGNITO_USER_POOLS", cfg), additional=(*app.auth.additional, *extra)))


@pytest.fixture
async def c(jwks: tuple[JwksServer, Keys]) -> AsyncIterator[GraphQLClient]:
    async with GraphQLClient(GqlsyncServer(multiauth_app(jwks[0].issuer), ServerSettings()), api_key=None) as client:
        yield client


async def ask(c: GraphQLClient, query: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    resp = await c.post({"query": query}, headers=headers)
    return resp.status_code, resp.json()


async def test_valid_token_and_identity(c: GraphQLClient, jwks: tuple[JwksServer, Keys]) -> None:
    status, body = await ask(c, "{ whoami }", {"authorization": token(jwks, **{"cognito:groups": ["editors"]})})
    assert status == 200
    assert json.loads(body["data"]["whoami"]) == {"authType": "User Pool Authorization", "username": "ann",
                                                  "groups": ["editors"], "sub": "user-1"}
    status, _ = await ask(c, "{ whoami }", {"authorization": "Bearer " + token(jwks)})
    assert status == 200
    access = token(jwks, token_use="access", aud=None, client_id="web-client-7", username="ann")
    assert (await ask(c, "{ whoami }", {"authorization": access}))[0] == 200


def forged(jwks: tuple[JwksServer, Keys]) -> dict[str, str]:
    server, keys = jwks
    now = int(time.time())
    good = token(jwks)
    head, payload, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    tampered_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    none_token = jwt.encode({"sub": "x", "iss": server.issuer, "aud": "web-client-1", "token_use": "id",
                             "iat": now, "exp": now + 60}, None, algorithm="none")
    hs_token = _hs256_with_public_key(server, keys, now)  # PyJWT itself refuses to sign HS256 with a PEM key
    return {
        "expired": token(jwks, exp=now - 3600, iat=now - 7200),
        "not yet valid": token(jwks, nbf=now + 3600),
        "wrong issuer": token(jwks, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"),
        "wrong client": token(jwks, aud="evil-client"),
        "alg none": none_token,
        "HS256 signed with the public key": hs_token,
        "unknown kid": token(jwks, keys=Keys("key-unknown")),
        "tampered payload": f"{head}.{tampered_payload}.{sig}",
        "tampered signature": f"{head}.{payload}.{sig[:-4]}AAAA",
        "not a token": "hello",
        "missing token_use": token(jwks, token_use=None),
        "refresh token use": token(jwks, token_use="refresh"),
    }


def _hs256_with_public_key(server: JwksServer, keys: Keys, now: int) -> str:
    import hashlib
    import hmac

    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": keys.kid}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps({"sub": "x", "iss": server.issuer, "aud": "web-client-1",
                                                "token_use": "id", "iat": now, "exp": now + 60}).encode()).rstrip(b"=")
    sig = hmac.new(keys.public_pem(), header + b"." + body, hashlib.sha256).digest()
    return (header + b"." + body + b"." + base64.urlsafe_b64encode(sig).rstrip(b"=")).decode()


@pytest.mark.parametrize("case", ["expired", "not yet valid", "wrong issuer", "wrong client", "alg none",
                                  "HS256 signed with the public key", "unknown kid", "tampered payload",
                                  "tampered signature", "not a token", "missing token_use", "refresh token use"])
async def test_bad_tokens_are_refused_over_http(c: GraphQLClient, jwks: tuple[JwksServer, Keys], case: str) -> None:
    status, body = await ask(c, "{ whoami }", {"authorization": forged(jwks)[case]})
    assert status == 401, (case, body)
    assert body["errors"][0]["errorType"] == "UnauthorizedException"


async def test_key_rotation(c: GraphQLClient, jwks: tuple[JwksServer, Keys]) -> None:
    server, old = jwks
    new = Keys("key-2")
    server.jwks = {"keys": [old.jwk(), new.jwk()]}
    try:
        assert (await ask(c, "{ whoami }", {"authorization": token(jwks, keys=new)}))[0] == 200
        server.jwks = {"keys": [new.jwk()]}  # the old key retired: cached keys stay until refreshed
        assert (await ask(c, "{ whoami }", {"authorization": token(jwks, keys=new)}))[0] == 200
    finally:
        server.jwks = {"keys": [old.jwk()]}


# caller -> (field, allowed)
MATRIX = [
    ("api key", "{ publicPosts { id title } }", True),
    ("api key", "{ myPosts { id } }", False),
    ("api key", "{ adminReport }", False),
    ("api key", "{ keyOnly }", True),
    ("api key", "{ publicPosts { secret } }", False),
    ("user", "{ publicPosts { id title } }", True),
    ("user", "{ myPosts { id } }", True),
    ("user", "{ adminReport }", False),
    ("user", "{ keyOnly }", False),
    ("user", "{ publicPosts { secret } }", False),
    ("admin", "{ adminReport }", True),
    ("admin", "{ publicPosts { secret } }", True),
    ("user", 'mutation { addPost(title: "t") { id } }', False),
    ("editor", 'mutation { addPost(title: "t") { id } }', True),
]


@pytest.mark.parametrize("caller,query,allowed", MATRIX, ids=[f"{m[0]}:{m[1][:30]}" for m in MATRIX])
async def test_directive_matrix(c: GraphQLClient, jwks: tuple[JwksServer, Keys], caller: str, query: str,
                                allowed: bool) -> None:
    headers = {"api key": {"x-api-key": API_KEY}, "user": {"authorization": token(jwks)},
               "admin": {"authorization": token(jwks, **{"cognito:groups": ["admins"]})},
               "editor": {"authorization": token(jwks, **{"cognito:groups": ["editors"]})}}[caller]
    status, body = await ask(c, query, headers)
    assert status == 200
    if allowed:
        assert "errors" not in body, body
    else:
        err = body["errors"][0]
        assert err["errorType"] == "Unauthorized"
        assert err["message"].startswith("Not Authorized to access ")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.text(max_size=300), st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
                       st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
                                        max_size=60), min_size=3, max_size=3).map(".".join)))
async def test_fuzzed_authorization_headers_never_pass_and_never_500(c: GraphQLClient, value: str) -> None:
    value = "".join(ch for ch in value if " " <= ch <= "~")  # what an HTTP header value can carry
    resp = await c.post({"query": "{ whoami }"}, headers={"authorization": value.strip() or "x"})
    assert resp.status_code == 401
    assert resp.json()["errors"][0]["errorType"] == "UnauthorizedException"


# ------------------------------------------------------------------ the same decisions on the realtime endpoint


@pytest.fixture
async def live_multi(jwks: tuple[JwksServer, Keys]) -> AsyncIterator[str]:
    from tests.live import live_server

    async with live_server(GqlsyncServer(multiauth_app(jwks[0].issuer), ServerSettings())) as base:
        yield base


async def _appsync_socket(base: str, headers: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    import websockets

    encoded = base64.b64encode(json.dumps({"host": "h", **headers}).encode()).decode()
    ws = await websockets.connect(f"{base.replace('http', 'ws')}/graphql/realtime?header={encoded}&payload=e30=",
                                  subprotocols=["graphql-ws"])
    ws.authorization = {"host": "h", **headers}  # each start carries the headers that authorize it, as in AppSync
    await ws.send('{"type": "connection_init"}')
    return ws, json.loads(await ws.recv())


async def _start(ws: Any, sub_id: str, query: str) -> dict[str, Any]:
    await ws.send(json.dumps({"id": sub_id, "type": "start", "payload": {
        "data": json.dumps({"query": query}), "extensions": {"authorization": ws.authorization}}}))
    while True:
        msg = json.loads(await ws.recv())
        if msg["type"] != "ka":
            return dict(msg)


async def _events(ws: Any, wait: float = 1.0) -> list[dict[str, Any]]:
    from tests.live import messages

    return [m for m in await messages(ws, wait) if m["type"] == "data"]


async def test_realtime_tokens_directives_and_event_authorization(live_multi: str,
                                                                  jwks: tuple[JwksServer, Keys]) -> None:
    import httpx

    base = live_multi
    for case, bad in forged(jwks).items():
        if case in ("not a token",):
            continue
        ws, msg = await _appsync_socket(base, {"Authorization": bad})
        assert msg["type"] == "connection_error", case
        assert msg["payload"]["errors"][0]["errorType"] == "UnauthorizedException", case
        await ws.close()
    admin, msg = await _appsync_socket(base, {"Authorization": token(jwks, **{"cognito:groups": ["admins"]})})
    assert msg["type"] == "connection_ack"
    user, _ = await _appsync_socket(base, {"Authorization": token(jwks)})
    keyed, _ = await _appsync_socket(base, {"x-api-key": API_KEY})
    q = "subscription { onPost { id title secret } }"
    qa = "subscription { onPostAdmins { id title } }"
    assert (await _start(admin, "a", q))["type"] == "start_ack"
    assert (await _start(admin, "aa", qa))["type"] == "start_ack"
    assert (await _start(keyed, "k", q))["type"] == "start_ack"
    refused = await _start(user, "ua", qa)
    assert refused["type"] == "error" and refused["payload"]["errors"][0]["errorType"] == "Unauthorized"
    refused = await _start(keyed, "ka", qa)
    assert refused["payload"]["errors"][0]["errorType"] == "Unauthorized"
    poster = token(jwks, **{"cognito:groups": ["admins"]})  # an admin, so the mutation's result has `secret`
    async with httpx.AsyncClient(base_url=base) as http:
        r = await http.post("/graphql", json={"query": 'mutation { addPost(title: "news") { id title secret } }'},
                            headers={"authorization": poster})
        assert "errors" not in r.json(), r.json()
    got_admin = {m["id"]: m["payload"] for m in await _events(admin)}
    assert got_admin["a"]["data"]["onPost"]["secret"] == "classified" and "errors" not in got_admin["a"]
    assert got_admin["aa"]["data"]["onPostAdmins"]["title"] == "news"
    (keyed_event,) = await _events(keyed)
    payload = keyed_event["payload"]
    assert payload["data"]["onPost"]["title"] == "news" and payload["data"]["onPost"]["secret"] is None
    assert payload["errors"][0]["errorType"] == "Unauthorized" and payload["errors"][0]["path"] == ["onPost", "secret"]
    for ws in (admin, user, keyed):
        await ws.close()


# ------------------------------------------------------------------ OpenID Connect (discovery, clientId, TTLs)


@pytest.fixture
async def oidc(jwks: tuple[JwksServer, Keys]) -> AsyncIterator[tuple[GraphQLClient, str]]:
    server, _ = jwks
    issuer = f"http://127.0.0.1:{server.port}/oidc"
    app = multiauth_app(server.issuer, AuthProvider("OPENID_CONNECT", {
        "issuer": issuer, "clientId": "oidc-app", "iatTTL": 600_000, "authTTL": 600_000}))
    async with GraphQLClient(GqlsyncServer(app, ServerSettings()), api_key=None) as client:
        yield client, issuer


def oidc_token(jwks: tuple[JwksServer, Keys], issuer: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"sub": "oidc-user", "iss": issuer, "aud": "oidc-app", "iat": now, "exp": now + 600, "auth_time": now}
    claims.update(overrides)
    return jwt.encode(claims, jwks[1].private, algorithm="RS256", headers={"kid": jwks[1].kid})


async def test_oidc_tokens(oidc: tuple[GraphQLClient, str], jwks: tuple[JwksServer, Keys]) -> None:
    c, issuer = oidc
    now = int(time.time())
    status, body = await ask(c, "{ oidcOnly }", {"authorization": oidc_token(jwks, issuer)})
    assert status == 200, body
    assert json.loads(body["data"]["oidcOnly"]) == {"authType": "Open ID Connect Authorization", "sub": "oidc-user",
                                                    "issuer": issuer}
    status, body = await ask(c, "{ whoami }", {"authorization": oidc_token(jwks, issuer)})
    assert body["errors"][0]["errorType"] == "Unauthorized"  # a default-mode (Cognito) field
    assert (await ask(c, "{ oidcOnly }", {"authorization": oidc_token(jwks, issuer, aud=["x", "oidc-app"])}))[0] == 200
    for bad in (oidc_token(jwks, issuer, aud="someone-else"),
                oidc_token(jwks, issuer, iat=now - 3600, auth_time=now - 3600, exp=now + 600),
                oidc_token(jwks, issuer, auth_time=now - 3600),
                oidc_token(jwks, issuer, exp=now - 120),
                jwt.encode({"sub": "x", "iss": issuer, "aud": "oidc-app", "iat": now, "exp": now + 60}, None,
                           algorithm="none")):
        status, body = await ask(c, "{ oidcOnly }", {"authorization": bad})
        assert status == 401 and body["errors"][0]["errorType"] == "UnauthorizedException"
