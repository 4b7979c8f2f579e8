"""AWS_LAMBDA auth: a Lambda authorizer (run through the Lambda data-source machinery), cached by token."""

from __future__ import annotations

import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gqlsync.app.model import AuthMode
from gqlsync.auth.base import AuthFailure, AuthResult, RequestFacts
from gqlsync.datasources.lambda_ import LocalFunction, load_handler
from gqlsync.errors import DataSourceError

MAX_TTL = 3600
CACHE_ENTRIES = 10_000


class LambdaAuthenticator:
    """Config: handler (`file.py:function` in the app folder), authorizerResultTtlInSeconds (0-3600, default
    300), identityValidationExpression (a regex the token must match before the authorizer is called)."""

    mode: AuthMode = "AWS_LAMBDA"

    def __init__(self, config: dict[str, Any], root: Path) -> None:
        self.function = LocalFunction("authorizer", load_handler(str(config["handler"]), root),
                                      float(config.get("timeoutSeconds", 10)))
        self.ttl = max(0, min(MAX_TTL, int(config.get("authorizerResultTtlInSeconds", 300))))
        expr = config.get("identityValidationExpression")
        self.validation = re.compile(str(expr)) if expr else None
        self._cache: OrderedDict[str, tuple[AuthResult, float]] = OrderedDict()

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
        if hit is not None and time.monotonic() < hit[1]:
            self._cache.move_to_end(token)
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
            if len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return result
