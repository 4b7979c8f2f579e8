"""What every auth mode shares: the refusal, the request facts a signature covers, the result, the mode registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gqlsync.app.model import AuthConfig, AuthMode
from gqlsync.registry import Registry


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


class ModeFactory(Protocol):
    """How a mode module builds its authenticator: from the provider's `config:` (raising ValueError with the
    key and reason when it cannot work), the app's whole auth config (API keys) and the app folder (handlers)."""

    def __call__(self, config: Mapping[str, Any], auth: AuthConfig, root: Path) -> ModeAuthenticator: ...


#: Auth modes by AppSync's name; each module of gqlsync.auth.modes registers one.
AUTH_MODES: Registry[ModeFactory] = Registry("auth mode", "gqlsync.auth.modes")
