"""AWS_LAMBDA auth: a Lambda authorizer (run through the Lambda data-source machinery), cached by token."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachetools import TLRUCache

from gqlsync.app.model import AuthConfig, AuthMode
from gqlsync.auth.base import AUTH_MODES, AuthFailure, AuthResult, RequestFacts
from gqlsync.errors import DataSourceError
from gqlsync.lambda_runner import LocalFunction, load_handler
from gqlsync.typed_config import parse_config

MAX_TTL = 3600
CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class LambdaAuthorizerConfig:
    """`handler`: `file.py:function` in the app folder; `authorizerResultTtlInSeconds` 0-3600 (0: no cache);
    `identityValidationExpression`: a regex the token must match before the authorizer is called."""

    handler: str
    authorizer_result_ttl_in_seconds: int = 300
    identity_validation_expression: str | None = None
    timeout_seconds: float = 10.0

    def check(self) -> None:
        if not 0 <= self.authorizer_result_ttl_in_seconds <= MAX_TTL:
            raise ValueError(f"config.authorizerResultTtlInSeconds must be 0-{MAX_TTL}")
        if self.identity_validation_expression is not None:
            try:
                re.compile(self.identity_validation_expression)
            except re.error as exc:
                raise ValueError(f"config.identityValidationExpression is not a regular expression: {exc}") from None


class LambdaAuthenticator:
    mode: AuthMode = "AWS_LAMBDA"

    def __init__(self, config: LambdaAuthorizerConfig, root: Path) -> None:
        self.function = LocalFunction("authorizer", load_handler(config.handler, root), config.timeout_seconds)
        self.ttl = config.authorizer_result_ttl_in_seconds
        expr = config.identity_validation_expression
        self.validation = re.compile(expr) if expr else None
        # token -> (result, expiry): each entry lives for its own TTL (ttlOverride), the oldest go first.
        self._cache: TLRUCache[str, tuple[AuthResult, float]] = TLRUCache(
            CACHE_ENTRIES, ttu=lambda _token, hit, _now: hit[1], timer=time.monotonic)

    def applies(self, headers: Mapping[str, str]) -> bool:
        return bool(headers.get("authorization", "").strip())

    async def authenticate(self, headers: Mapping[str, str], source_ip: str | None = None,
                           request: RequestFacts | None = None) -> AuthResult:
        token = headers.get("authorization", "").strip()
        if not token:
            raise AuthFailure("Valid authorization header not provided.")
        if self.validation is not None and not self.validation.fullmatch(token):
            raise AuthFailure("The token does not match the identity validation expression.")
        hit = self._cache.get(token)
        if hit is not None:
            return hit[0]
        event = {"authorizationToken": token, "requestContext": {
            "apiId": "local", "accountId": "000000000000", "requestId": str(uuid.uuid4()),
            "queryString": None, "operationName": None, "variables": {}}}
        try:
            response = await self.function.invoke(event)
        except DataSourceError as exc:
            raise AuthFailure(f"The Lambda authorizer failed: {exc.message}") from None
        if not isinstance(response, dict) or not response.get("isAuthorized"):
            raise AuthFailure("The Lambda authorizer did not authorize this request.")
        denied = [str(f) for f in response.get("deniedFields") or []]
        result = AuthResult(self.mode, {"resolverContext": dict(response.get("resolverContext") or {}),
                                        "deniedFields": denied})
        ttl = response.get("ttlOverride", self.ttl)
        ttl = max(0, min(MAX_TTL, int(ttl if isinstance(ttl, (int, float)) else self.ttl)))
        if ttl:
            self._cache[token] = (result, time.monotonic() + ttl)
        return result


@AUTH_MODES.register("AWS_LAMBDA")
def build(config: Mapping[str, Any], auth: AuthConfig, root: Path) -> LambdaAuthenticator:
    return LambdaAuthenticator(parse_config(LambdaAuthorizerConfig, config, refused={
        "functionArn": "remote authorizer functions are not supported yet; give handler: file.py:function"}), root)
