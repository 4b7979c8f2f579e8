"""One websocket connection: auth, its subscriptions, a bounded send queue drained by its own writer task."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from gqlsync.apis import ApiRegistry, ServedApi
from gqlsync.auth import AuthFailure, AuthResult, RequestFacts
from gqlsync.realtime.authorization import SubscriberRights
from gqlsync.realtime.hub import RealtimeHub
from gqlsync.realtime.registry import Subscriber
from gqlsync.request import RequestScope

log = logging.getLogger("gqlsync.realtime")


@dataclass(frozen=True)
class RealtimeLimits:
    """AppSync's defaults; configurable per server."""

    max_subscriptions: int = 100
    max_message_bytes: int = 240 * 1024
    connection_timeout_ms: int = 300_000
    keepalive_seconds: float = 60.0
    init_timeout_seconds: float = 30.0
    send_queue: int = 1000
    #: what the messages queued for one connection may add up to (AppSync's 240 KB payloads would otherwise let a
    #: full queue hold ~240 MB)
    send_queue_bytes: int = 16 * 1024 * 1024


class Socket(Protocol):
    async def receive_text(self) -> str: ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class Connection:
    """Protocol-independent machinery; subclasses speak AppSync's protocol or graphql-transport-ws."""

    def __init__(self, socket: Socket, apis: ApiRegistry, api_id: str, hub: RealtimeHub, limits: RealtimeLimits,
                 host: str | None, client_ip: str | None, *, handshake_headers: dict[str, str] | None = None,
                 graphql_path: str = "/graphql") -> None:
        self.socket = socket
        self.apis = apis
        self.api_id = api_id
        self.hub = hub
        self.limits = limits
        self.host = host
        self.client_ip = client_ip
        self.connection_id = str(uuid.uuid4())
        self.graphql_path = graphql_path  # what SigV4 signatures of this socket's messages cover
        self.auth: AuthResult | None = None
        self.auth_headers: dict[str, str] = dict(handshake_headers or {})
        self.subscriptions: dict[str, Subscriber] = {}
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(limits.send_queue)
        self._queued_bytes = 0
        self._closing = False
        self._tasks: list[asyncio.Task[Any]] = []

    # -- sending
    def send(self, message: dict[str, Any] | str) -> None:
        """Queue a message; a client that cannot keep up is disconnected, never waited for."""
        if self._closing:
            return
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        if self._queued_bytes + len(text) > self.limits.send_queue_bytes and not self._queue.empty():
            self._too_slow()
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self._too_slow()
            return
        self._queued_bytes += len(text)

    def _too_slow(self) -> None:
        """Disconnect a client that does not read: what is queued will never be sent, so it is freed now."""
        log.warning("closing a websocket that does not read its messages",
                    extra={"connection": self.connection_id, "queued": self._queue.qsize(),
                           "queued_bytes": self._queued_bytes})
        self._closing = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queued_bytes = 0
        self._queue.put_nowait(None)  # the writer ends after the message it may be sending
        self._tasks.append(asyncio.ensure_future(self.socket.close(1013, "Send queue full: client too slow")))

    async def _writer(self) -> None:
        while True:
            text = await self._queue.get()
            if text is None:
                return
            self._queued_bytes -= len(text)
            await self.socket.send_text(text)

    @property
    def served(self) -> ServedApi:
        """The API version for this client now (the current one, or a canary for its share of clients, by the
        same sticky split as HTTP requests): each new subscription or operation starts on it, and keeps it."""
        h = self.auth_headers
        client = h.get("x-gqlsync-client-id") or h.get("x-api-key") or h.get("authorization")
        return self.apis.choose(self.api_id, client) or self.apis.current(self.api_id)

    # -- auth
    async def authenticate(self, headers: dict[str, str], facts: RequestFacts | None = None) -> AuthResult:
        return await self.served.authenticator.authenticate({str(k).lower(): str(v) for k, v in headers.items()},
                                                            self.client_ip, facts)

    def scope(self, auth: AuthResult, headers: dict[str, str]) -> RequestScope:
        return RequestScope(request_id=str(uuid.uuid4()), identity=auth.identity, headers=headers,
                            domain_name=self.host, auth_type=auth.mode, source_ip=self.client_ip)

    # -- subscriptions
    async def start_subscription(self, sub_id: str, query: Any, variables: Any, operation_name: Any,
                                 headers: dict[str, str] | None,
                                 facts: RequestFacts | None = None) -> list[dict[str, Any]]:
        """Register; returns AppSync-shaped errors (empty on success)."""
        if sub_id in self.subscriptions:
            return [{"errorType": "DuplicateSubscriptionId", "message": f"Subscription id {sub_id} is already in use."}]
        if len(self.subscriptions) >= self.limits.max_subscriptions:
            return [{"errorType": "MaxSubscriptionsReachedError",
                     "message": f"At most {self.limits.max_subscriptions} subscriptions per connection."}]
        served = self.served
        auth = self.auth
        used_headers = self.auth_headers
        if headers is not None:
            used_headers = {str(k).lower(): str(v) for k, v in headers.items()}
            try:
                auth = await served.authenticator.authenticate(used_headers, self.client_ip, facts)
            except AuthFailure as exc:
                return [{"errorType": "UnauthorizedException", "message": exc.message}]
        assert auth is not None
        api = served.api
        rights = SubscriberRights(api.guard, auth.mode, auth.identity)
        plan, errors = await api.subscribe(query, variables, operation_name, self.scope(auth, used_headers),
                                           rights.may_subscribe)
        if plan is None:
            return [_appsync_error(e) for e in errors]
        sub = Subscriber(sink=self, sub_id=sub_id, api_id=api.api_id, version=api.version, plan=plan, rights=rights)
        self.subscriptions[sub_id] = sub
        self.hub.registry.add(sub)
        return []

    def stop_subscription(self, sub_id: str) -> bool:
        sub = self.subscriptions.pop(sub_id, None)
        if sub is None:
            return False
        self.hub.registry.remove(sub)
        return True

    # -- lifecycle
    async def shutdown(self) -> None:
        self._closing = True
        with contextlib.suppress(Exception):
            await self.socket.close(1001, "Server shutting down")

    async def serve(self) -> None:
        writer = asyncio.ensure_future(self._writer())
        self._tasks.append(writer)
        self.hub.connections.add(self)
        try:
            await self.run()
        finally:
            self.hub.forget(self)
            self._closing = True
            for sub_id in list(self.subscriptions):
                self.stop_subscription(sub_id)
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            for t in self._tasks:
                if t is not writer:
                    t.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer, 2)
            writer.cancel()

    async def run(self) -> None:
        raise NotImplementedError

    # -- Sink (called by the hub)
    def deliver(self, sub_id: str, data_json: str) -> None:
        raise NotImplementedError

    def deliver_error(self, sub_id: str, error_type: str, message: str) -> None:
        raise NotImplementedError

    def invalidate(self, sub_id: str) -> None:
        if self.stop_subscription(sub_id):
            self.send({"type": "complete", "id": sub_id})


def _appsync_error(e: dict[str, Any]) -> dict[str, Any]:
    out = {"errorType": e.get("errorType") or "ValidationError", "message": e.get("message")}
    if e.get("locations"):
        out["locations"] = e["locations"]
    if e.get("path"):
        out["path"] = e["path"]
    return out
