"""AMAZON_COGNITO_USER_POOLS: user-pool JWTs (id or access tokens) verified against the pool's JWKS."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gqlsync.app.model import AuthConfig, AuthMode
from gqlsync.auth.base import AUTH_MODES, AuthFailure
from gqlsync.auth.jwks import JwksCache
from gqlsync.auth.jwt import JwtAuthenticator
from gqlsync.typed_config import parse_config


@dataclass(frozen=True)
class CognitoConfig:
    """`issuer` and `jwksUri` override the AWS URLs (tests, private endpoints); `jwksMinRefreshSeconds`
    rate-limits refetches caused by unknown key ids."""

    user_pool_id: str | None = None
    aws_region: str | None = None
    app_id_client_regex: str | None = None
    default_action: Literal["ALLOW", "DENY"] = "ALLOW"
    issuer: str | None = None
    jwks_uri: str | None = None
    jwks_min_refresh_seconds: float = 10.0

    def check(self) -> None:
        if not (self.user_pool_id or self.issuer):
            raise ValueError("AMAZON_COGNITO_USER_POOLS needs config.userPoolId (or issuer)")
        if self.app_id_client_regex is not None:
            try:
                re.compile(self.app_id_client_regex)
            except re.error as exc:
                raise ValueError(f"config.appIdClientRegex is not a regular expression: {exc}") from None


class CognitoAuthenticator(JwtAuthenticator):
    mode: AuthMode = "AMAZON_COGNITO_USER_POOLS"
    required = ("exp", "iat", "iss", "sub", "token_use")

    def __init__(self, config: CognitoConfig) -> None:
        pool = config.user_pool_id or ""
        region = config.aws_region or (pool.split("_")[0] if "_" in pool else "us-east-1")
        super().__init__(config.issuer or f"https://cognito-idp.{region}.amazonaws.com/{pool}")
        self.jwks = JwksCache(config.jwks_uri or f"{self.issuer}/.well-known/jwks.json",
                              min_refresh=config.jwks_min_refresh_seconds)
        self.client_regex = re.compile(config.app_id_client_regex) if config.app_id_client_regex else None
        self.default_action = config.default_action

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


@AUTH_MODES.register("AMAZON_COGNITO_USER_POOLS")
def build(config: Mapping[str, Any], auth: AuthConfig, root: Path) -> CognitoAuthenticator:
    return CognitoAuthenticator(parse_config(CognitoConfig, config))
