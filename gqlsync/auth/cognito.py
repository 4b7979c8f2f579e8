"""Cognito user-pool JWTs: RS256 signatures checked against the pool's JWKS, and every claim AppSync checks."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import jwt
from jwt.exceptions import InvalidTokenError

from gqlsync.app.model import AuthMode
from gqlsync.auth.base import AuthFailure, AuthResult
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


class CognitoAuthenticator:
    """AMAZON_COGNITO_USER_POOLS. Config: userPoolId, awsRegion, appIdClientRegex, defaultAction (ALLOW|DENY);
    `issuer` and `jwksUri` override the AWS URLs (tests, private endpoints); `jwksMinRefreshSeconds` (10)
    rate-limits refetches caused by unknown key ids."""

    mode: AuthMode = "AMAZON_COGNITO_USER_POOLS"

    def __init__(self, config: dict[str, Any]) -> None:
        pool = str(config.get("userPoolId", ""))
        region = str(config.get("awsRegion") or (pool.split("_")[0] if "_" in pool else "us-east-1"))
        self.issuer = str(config.get("issuer") or f"https://cognito-idp.{region}.amazonaws.com/{pool}")
        self.jwks = JwksCache(str(config.get("jwksUri") or f"{self.issuer}/.well-known/jwks.json"),
                              min_refresh=float(config.get("jwksMinRefreshSeconds", 10)))
        regex = config.get("appIdClientRegex")
        self.client_regex = re.compile(str(regex)) if regex else None
        self.default_action = str(config.get("defaultAction", "ALLOW")).upper()
        # Verified tokens: a pure function of (token, keys, time), so kept until exp (at most CACHE_SECONDS).
        self._verified: OrderedDict[str, tuple[AuthResult, float]] = OrderedDict()

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

    async def authenticate(self, headers: Mapping[str, str], source_ip: str | None = None) -> AuthResult:
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
        if header.get("alg") not in ALGORITHMS:
            raise AuthFailure("Token is not signed with an accepted algorithm.")
        try:
            key = await self.jwks.key(str(header.get("kid", "")))
        except JwksUnavailable as exc:
            raise AuthFailure(f"Unable to verify the token: {exc}") from None
        if key is None:
            raise AuthFailure("Token is signed with an unknown key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key.key, algorithms=list(ALGORITHMS), issuer=self.issuer, leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False})
        except InvalidTokenError as exc:
            raise AuthFailure(f"Token is not valid: {exc}") from None
        use = claims.get("token_use")
        if use not in ("id", "access"):
            raise AuthFailure("Token is neither an id nor an access token.")
        client = claims.get("aud") if use == "id" else claims.get("client_id")
        if self.client_regex is not None and not (isinstance(client, str) and self.client_regex.fullmatch(client)):
            raise AuthFailure("Token was issued to a client this API does not accept.")
        groups = claims.get("cognito:groups")
        identity = {
            "sub": claims["sub"],
            "issuer": self.issuer,
            "username": claims.get("cognito:username") or claims.get("username") or claims["sub"],
            "claims": claims,
            "sourceIp": [source_ip] if source_ip else [],
            "defaultAuthStrategy": self.default_action,
            "groups": list(groups) if isinstance(groups, list) else None,
        }
        result = AuthResult(self.mode, identity)
        until = min(float(claims["exp"]), time.time() + CACHE_SECONDS)
        self._verified[token] = (result, until)
        if len(self._verified) > CACHE_ENTRIES:
            self._verified.popitem(last=False)
        return result
