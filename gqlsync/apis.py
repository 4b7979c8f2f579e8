"""The API registry: api id -> the version being served (API and authenticator), swapped atomically."""

from __future__ import annotations

from dataclasses import dataclass

from gqlsync.auth import Authenticator
from gqlsync.engine.api import ApiVersion


@dataclass(frozen=True)
class ServedApi:
    """One immutable version as the transports serve it. A request or subscription holds the one it started on."""

    api: ApiVersion
    authenticator: Authenticator

    @property
    def api_id(self) -> str:
        return self.api.api_id

    @property
    def version(self) -> str:
        return self.api.version


class ApiRegistry:
    """Current version per API id. `install` replaces it in one assignment, so no request sees half of a swap."""

    def __init__(self) -> None:
        self._current: dict[str, ServedApi] = {}

    def install(self, served: ServedApi) -> ServedApi | None:
        """Serve `served` from now on; returns the version it replaced (still running its in-flight requests)."""
        previous = self._current.get(served.api_id)
        self._current[served.api_id] = served
        return previous

    def current(self, api_id: str) -> ServedApi:
        return self._current[api_id]

    def get(self, api_id: str) -> ServedApi | None:
        return self._current.get(api_id)

    def all(self) -> list[ServedApi]:
        return list(self._current.values())
