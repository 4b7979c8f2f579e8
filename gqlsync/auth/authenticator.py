"""The request-level authentication decision across an app's auth modes (default first)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gqlsync.app.model import AuthConfig
from gqlsync.auth.base import AUTH_MODES, AuthFailure, AuthResult, ModeAuthenticator, RequestFacts


class AuthConfigError(ValueError):
    """Auth config that cannot work: (manifest line, reason) for each mode that refused its config."""

    def __init__(self, problems: list[tuple[int | None, str]]) -> None:
        super().__init__("; ".join(reason for _, reason in problems))
        self.problems = problems


class Authenticator:
    """Tries the app's modes whose credentials the request carries. Raises AuthConfigError naming each mode and
    reason for config that cannot work (an unknown key, a missing user pool, a handler that does not load)."""

    def __init__(self, config: AuthConfig, root: Path | None = None) -> None:
        self.config = config
        self.modes: list[ModeAuthenticator] = []
        problems: list[tuple[int | None, str]] = []
        for provider in (config.default, *config.additional):
            try:
                build = AUTH_MODES.get(provider.mode)
                self.modes.append(build(provider.config, config, root or Path(".")))
            except (ValueError, KeyError) as exc:
                problems.append((provider.line or config.line, f"auth {provider.mode}: {exc}"))
        if problems:
            raise AuthConfigError(problems)
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
