"""Brokers carry mutation events to every process's hub: in-process, or Redis pub/sub for many processes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Deliver = Callable[[str, list[dict[str, Any]]], Awaitable[None]]


class Broker(Protocol):
    async def start(self, deliver: Deliver) -> None:
        """Begin handing every published event (from any process) to `deliver(api_id, events)`."""
        ...

    async def publish(self, api_id: str, events: list[dict[str, Any]]) -> None: ...

    async def close(self) -> None: ...


class LocalBroker:
    """One process: publishing is delivering."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def publish(self, api_id: str, events: list[dict[str, Any]]) -> None:
        if self._deliver is not None:
            await self._deliver(api_id, events)

    async def close(self) -> None:
        self._deliver = None
