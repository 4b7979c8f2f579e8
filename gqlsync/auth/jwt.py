"""JWT verification shared by the Cognito and OIDC modes: accepted algorithms, JWKS signature, claims, a cache."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jwt
from cachetools import TLRUCache
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
        self._verified: TLRUCache[str, tuple[AuthResult, float]] = TLRUCache(
            CACHE_ENTRIES, ttu=lambda _token, hit, _now: hit[1], timer=time.time)

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
        result = hit[0]
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
        return result
