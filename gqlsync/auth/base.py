"""The request-level authentication decision across an app's auth modes."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from gqlsync.app.model import ApiKey, AuthConfig, AuthMode


class AuthFailure(Exception):  # noqa: N818 - reads better at call sites
    """The request is refused before execution: HTTP 401 + x-amzn-ErrorType: UnauthorizedException."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RequestFacts:
    """What a signature covers besides headers (SigV4): method, path, query string, body."""

    method: str
    path: str
    query: str
    body: bytes


@dataclass(frozen=True)
class AuthResult:
    """Who the caller is: the mode that admitted them and `$ctx.identity` (None for API keys)."""

    mode: AuthMode
    identity: dict[str, Any] | None = None


class ModeAuthenticator(Protocol):
    """One auth mode. `applies` says whether the request carries this mode's credentials."""

    mode: AuthMode

    def applies(self, headers: Mapping[str, str]) -> bool: ...

    async def authenticate(self, headers: Mapping[str, str], source_ip: str | None = None,
                           request: RequestFacts | None = None) -> AuthResult:
        """Admit the caller or raise AuthFailure."""
        ...


class ApiKeyAuthenticator:
    mode: AuthMode = "API_KEY"

    def __init__(self, keys: tuple[ApiKey, ...]) -> None:
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


class Authenticator:
    """Tries the app's modes, default first, that match the credentials the request carries."""

    def __init__(self, config: AuthConfig, root: Path | None = None) -> None:
        self.config = config
        self.modes: list[ModeAuthenticator] = []
        for provider in (config.default, *config.additional):
            if provider.mode == "API_KEY":
                self.modes.append(ApiKeyAuthenticator(config.api_keys))
            elif provider.mode == "AMAZON_COGNITO_USER_POOLS":
                from gqlsync.auth.jwt_modes import CognitoAuthenticator

                self.modes.append(CognitoAuthenticator(provider.config))
            elif provider.mode == "OPENID_CONNECT":
                from gqlsync.auth.jwt_modes import OidcAuthenticator

                self.modes.append(OidcAuthenticator(provider.config))
            elif provider.mode == "AWS_IAM":
                from gqlsync.auth.iam import IamAuthenticator

                self.modes.append(IamAuthenticator(provider.config))
            elif provider.mode == "AWS_LAMBDA":
                from gqlsync.auth.lambda_authorizer import LambdaAuthenticator

                self.modes.append(LambdaAuthenticator(provider.config, root or Path(".")))
        # An Authorization header goes to the mode it is meant for: JWT issuers and SigV4 are recognised,
        # anything else is a Lambda authorizer's token, so the authorizer is asked last.
        self.modes.sort(key=lambda m: m.mode == "AWS_LAMBDA")

    async def authenticate(self, headers: Mapping[str, str], source_ip: str | None = None,
                           request: RequestFacts | None = None) -> AuthResult:
        """The first mode whose credentials the request carries decides; a bad credential is never retried
        against another mode."""
        applicable = [m for m in self.modes if m.applies(headers)]
        if not applicable:
            raise AuthFailure("Valid authorization header not provided.")
        return await applicable[0].authenticate(headers, source_ip, request)
