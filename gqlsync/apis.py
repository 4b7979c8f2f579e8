"""The API registry: api id -> the version being served (and a canary taking a share), swapped atomically."""

from __future__ import annotations

import hashlib
import random
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


@dataclass(frozen=True)
class _Route:
    current: ServedApi
    canary: ServedApi | None = None
    #: percent of requests the canary takes
    weight: float = 0.0


def bucket(api_id: str, client: str) -> float:
    """Where a client falls in 0-100 for an API: the same client always lands in the same place (sticky)."""
    digest = hashlib.blake2b(f"{api_id}\0{client}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * 100


class ApiRegistry:
    """Current version (and canary) per API id. Each change replaces the API's route in one assignment, so no
    request sees half of a swap."""

    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}

    def install(self, served: ServedApi) -> ServedApi | None:
        """Serve `served` from now on (a canary of the same version ends); returns the version it replaced (still
        running its in-flight requests)."""
        route = self._routes.get(served.api_id)
        keep = route is not None and route.canary is not None and route.canary.version != served.version
        self._routes[served.api_id] = (_Route(served, route.canary, route.weight) if keep and route is not None
                                       else _Route(served))
        return route.current if route is not None else None

    def set_canary(self, api_id: str, canary: ServedApi | None, weight: float = 0.0) -> None:
        route = self._routes[api_id]
        self._routes[api_id] = _Route(route.current, canary, weight if canary is not None else 0.0)

    def current(self, api_id: str) -> ServedApi:
        return self._routes[api_id].current

    def get(self, api_id: str) -> ServedApi | None:
        route = self._routes.get(api_id)
        return route.current if route is not None else None

    def canary(self, api_id: str) -> tuple[ServedApi, float] | None:
        route = self._routes.get(api_id)
        return (route.canary, route.weight) if route is not None and route.canary is not None else None

    def choose(self, api_id: str, client: str | None) -> ServedApi | None:
        """The version a request goes to: the canary for its share of clients (by `client`, so one client keeps
        its version; a request with no client id is placed at random), else the current one."""
        route = self._routes.get(api_id)
        if route is None:
            return None
        if route.canary is None or route.weight <= 0:
            return route.current
        where = bucket(api_id, client) if client else random.random() * 100
        return route.canary if where < route.weight else route.current

    def ids(self) -> list[str]:
        return list(self._routes)

    def all(self) -> list[ServedApi]:
        return [s for r in self._routes.values() for s in ((r.current, r.canary) if r.canary else (r.current,))]
