"""OPENID_CONNECT: JWTs from any OIDC issuer, keys found through its discovery document."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gqlsync.app.model import AuthConfig, AuthMode
from gqlsync.auth.base import AUTH_MODES, AuthFailure
from gqlsync.auth.jwks import JwksCache, JwksUnavailable
from gqlsync.auth.jwt import LEEWAY_SECONDS, JwtAuthenticator
from gqlsync.typed_config import KEY, parse_config


@dataclass(frozen=True)
class OidcConfig:
    """`clientId` is checked against aud/azp; `iatTTL` and `authTTL` are milliseconds (0: unchecked);
    `jwksUri` overrides the discovery document's."""

    issuer: str
    client_id: str | None = None
    iat_ttl: float = field(default=0, metadata={KEY: "iatTTL"})
    auth_ttl: float = field(default=0, metadata={KEY: "authTTL"})
    jwks_uri: str | None = None
    jwks_min_refresh_seconds: float = 10.0


class OidcAuthenticator(JwtAuthenticator):
    mode: AuthMode = "OPENID_CONNECT"
    algorithms = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")

    def __init__(self, config: OidcConfig) -> None:
        super().__init__(config.issuer.rstrip("/"))
        self.client_id = config.client_id
        self.iat_ttl = config.iat_ttl / 1000
        self.auth_ttl = config.auth_ttl / 1000
        self.min_refresh = config.jwks_min_refresh_seconds
        self._jwks: JwksCache | None = JwksCache(config.jwks_uri, min_refresh=self.min_refresh) \
            if config.jwks_uri else None
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


@AUTH_MODES.register("OPENID_CONNECT")
def build(config: Mapping[str, Any], auth: AuthConfig, root: Path) -> OidcAuthenticator:
    return OidcAuthenticator(parse_config(OidcConfig, config))
