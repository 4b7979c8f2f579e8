"""JWT auth modes: Cognito user pools and OpenID Connect, signatures checked against the issuer's JWKS."""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import httpx
import jwt
from jwt.exceptions import InvalidTokenError

from gqlsync.app.model import AuthMode
from gqlsync.auth.base import AuthFailure, AuthResult, RequestFacts
from gqlsync.auth.jwks import JwksCache, JwksUnavailable

LEEWAY_SECONDS = 60
CACHE_SECONDS = 300
CACHE_ENTRIES = 10_000
ALGORITHMS = ("RS256",)  # what Cognito signs with; none, HS* and anything else are refused


def bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value if value.count(".") == 2 else None


def unverified_issuer(token: str) -> str | None:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except InvalidTokenError:
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return str(iss) if iss else None


class JwtAuthenticator:
    """Verification shared by the JWT modes; subclasses check their own claims and build `$ctx.identity`."""

    mode: AuthMode
    algorithms: tuple[str, ...] = ALGORITHMS
    required: tuple[str, ...] = ("exp", "iat", "iss", "sub")

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        # Verified tokens: a pure function of (token, keys, time), so kept until exp (at most CACHE_SECONDS).
        self._verified: OrderedDict[str, tuple[AuthResult, float]] = OrderedDict()

    async def keys(self) -> JwksCache:
        raise NotImplementedError

    def check(self, claims: dict[str, Any]) -> None:
        """Raise AuthFailure for claims this mode refuses."""

    def identity(self, claims: dict[str, Any], source_ip: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def applies(self, headers: Mapping[str, str]) -> bool:
        token = bearer(headers)
        if token is None:
            return False
        return token in self._verified or unverified_issuer(token) == self.issuer

    def _cached(self, token: str, source_ip: str | None) -> AuthResult | None:
        hit = self._verified.get(token)
        if hit is None:
            return None
        result, until = hit
        if time.time() >= until:
            del self._verified[token]
            return None
        self._verified.move_to_end(token)
        assert result.identity is not None
        return AuthResult(result.mode, {**result.identity, "sourceIp": [source_ip] if source_ip else []})

    async def authenticate(self, headers: Mapping[str, str], source_ip: str | None = None,
                           request: RequestFacts | None = None) -> AuthResult:
        token = bearer(headers)
        if token is None:
            raise AuthFailure("Valid authorization header not provided.")
        cached = self._cached(token, source_ip)
        if cached is not None:
            return cached
        try:
            header = jwt.get_unverified_header(token)
        except InvalidTokenError:
            raise AuthFailure("Token is malformed.") from None
        if header.get("alg") not in self.algorithms:
            raise AuthFailure("Token is not signed with an accepted algorithm.")
        try:
            key = await (await self.keys()).key(str(header.get("kid", "")))
        except JwksUnavailable as exc:
            raise AuthFailure(f"Unable to verify the token: {exc}") from None
        if key is None:
            raise AuthFailure("Token is signed with an unknown key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key.key, algorithms=list(self.algorithms), issuer=self.issuer, leeway=LEEWAY_SECONDS,
                options={"require": list(self.required), "verify_aud": False})
        except InvalidTokenError as exc:
            raise AuthFailure(f"Token is not valid: {exc}") from None
        self.check(claims)
        result = AuthResult(self.mode, self.identity(claims, source_ip))
        until = min(float(claims["exp"]), time.time() + CACHE_SECONDS)
        self._verified[token] = (result, until)
        if len(self._verified) > CACHE_ENTRIES:
            self._verified.popitem(last=False)
        return result


class CognitoAuthenticator(JwtAuthenticator):
    """AMAZON_COGNITO_USER_POOLS. Config: userPoolId, awsRegion, appIdClientRegex, defaultAction (ALLOW|DENY);
    `issuer` and `jwksUri` override the AWS URLs (tests, private endpoints); `jwksMinRefreshSeconds` (10)
    rate-limits refetches caused by unknown key ids."""

    mode: AuthMode = "AMAZON_COGNITO_USER_POOLS"
    required = ("exp", "iat", "iss", "sub", "token_use")

    def __init__(self, config: dict[str, Any]) -> None:
        pool = str(config.get("userPoolId", ""))
        region = str(config.get("awsRegion") or (pool.split("_")[0] if "_" in pool else "us-east-1"))
        super().__init__(str(config.get("issuer") or f"https://cognito-idp.{region}.amazonaws.com/{pool}"))
        self.jwks = JwksCache(str(config.get("jwksUri") or f"{self.issuer}/.well-known/jwks.json"),
                              min_refresh=float(config.get("jwksMinRefreshSeconds", 10)))
        regex = config.get("appIdClientRegex")
        self.client_regex = re.compile(str(regex)) if regex else None
        self.default_action = str(config.get("defaultAction", "ALLOW")).upper()

    async def keys(self) -> JwksCache:
        return self.jwks

    def check(self, claims: dict[str, Any]) -> None:
        use = claims.get("token_use")
        if use not in ("id", "access"):
            raise AuthFailure("Token is neither an id nor an access token.")
        client = claims.get("aud") if use == "id" else claims.get("client_id")
        if self.client_regex is not None and not (isinstance(client, str) and self.client_regex.fullmatch(client)):
            raise AuthFailure("Token was issued to a client this API does not accept.")

    def identity(self, claims: dict[str, Any], source_ip: str | None) -> dict[str, Any]:
        groups = claims.get("cognito:groups")
        return {
            "sub": claims["sub"],
            "issuer": self.issuer,
            "username": claims.get("cognito:username") or claims.get("username") or claims["sub"],
            "claims": claims,
            "sourceIp": [source_ip] if source_ip else [],
            "defaultAuthStrategy": self.default_action,
            "groups": list(groups) if isinstance(groups, list) else None,
        }


class OidcAuthenticator(JwtAuthenticator):
    """OPENID_CONNECT. Config: issuer, clientId (checked against aud/azp), iatTTL and authTTL in milliseconds
    (0: unchecked); keys from the issuer's discovery document (`jwksUri` overrides)."""

    mode: AuthMode = "OPENID_CONNECT"
    algorithms = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(str(config["issuer"]).rstrip("/"))
        self.client_id = config.get("clientId")
        self.iat_ttl = float(config.get("iatTTL", 0)) / 1000
        self.auth_ttl = float(config.get("authTTL", 0)) / 1000
        self.min_refresh = float(config.get("jwksMinRefreshSeconds", 10))
        self._jwks: JwksCache | None = JwksCache(str(config["jwksUri"]), min_refresh=self.min_refresh) \
            if config.get("jwksUri") else None
        self._discovery_lock = asyncio.Lock()

    async def keys(self) -> JwksCache:
        if self._jwks is not None:
            return self._jwks
        async with self._discovery_lock:
            if self._jwks is None:
                url = f"{self.issuer}/.well-known/openid-configuration"
                try:
                    async with httpx.AsyncClient(timeout=3.0) as http:
                        resp = await http.get(url)
                    resp.raise_for_status()
                    jwks_uri = str(resp.json()["jwks_uri"])
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                    raise JwksUnavailable(f"OIDC discovery at {url} failed: {exc}") from None
                self._jwks = JwksCache(jwks_uri, min_refresh=self.min_refresh)
        return self._jwks

    def check(self, claims: dict[str, Any]) -> None:
        if self.client_id:
            aud = claims.get("aud")
            auds = aud if isinstance(aud, list) else [aud]
            if self.client_id not in auds and claims.get("azp") != self.client_id:
                raise AuthFailure("Token was issued to another client.")
        now = time.time()
        if self.iat_ttl and now - float(claims["iat"]) > self.iat_ttl + LEEWAY_SECONDS:
            raise AuthFailure("Token was issued too long ago (iatTTL).")
        if self.auth_ttl:
            auth_time = claims.get("auth_time")
            if not isinstance(auth_time, (int, float)) or now - float(auth_time) > self.auth_ttl + LEEWAY_SECONDS:
                raise AuthFailure("The user authenticated too long ago (authTTL).")

    def identity(self, claims: dict[str, Any], source_ip: str | None) -> dict[str, Any]:
        return {"sub": claims["sub"], "issuer": self.issuer, "claims": claims,
                "sourceIp": [source_ip] if source_ip else []}
