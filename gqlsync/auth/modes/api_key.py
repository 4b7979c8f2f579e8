"""API_KEY: the `x-api-key` header against the app's keys, each with its expiry."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gqlsync.app.model import ApiKey, AuthConfig, AuthMode
from gqlsync.auth.base import AUTH_MODES, AuthFailure, AuthResult, RequestFacts
from gqlsync.typed_config import parse_config


class ApiKeyAuthenticator:
    mode: AuthMode = "API_KEY"

    def __init__(self, keys: tuple[ApiKey, ...]) -> None:
        if not keys:
            raise ValueError("API_KEY auth is enabled but auth.apiKeys lists no key")
        self._keys = keys

    def applies(self, headers: Mapping[str, str]) -> bool:
        return "x-api-key" in headers

    async def authenticate(self, headers: Mapping[str, str], source_ip: str | None = None,
                           request: RequestFacts | None = None) -> AuthResult:
        given = headers.get("x-api-key", "")
        now = datetime.now(UTC)
        for key in self._keys:
            if hmac.compare_digest(key.id.encode(), given.encode()):
                if key.expires is not None and key.expires <= now:
                    raise AuthFailure("API key has expired.")
                return AuthResult("API_KEY", None)
        raise AuthFailure("You are not authorized to make this call.")


@dataclass(frozen=True)
class ApiKeyConfig:
    """API_KEY takes no `config:`: its keys are `auth.apiKeys`."""


@AUTH_MODES.register("API_KEY")
def build(config: Mapping[str, Any], auth: AuthConfig, root: Path) -> ApiKeyAuthenticator:
    parse_config(ApiKeyConfig, config)
    return ApiKeyAuthenticator(auth.api_keys)
