"""One websocket connection: auth, its subscriptions, messages dispatched as they arrive, sends bounded per client.

A connection holds no task of its own: the transport calls `receive` for each text message and `closed` when the
socket is gone; async work (authentication, subscribing, a query over graphql-transport-ws) runs in a short-lived
task, and no further message is handed in until it ends (`busy`), so messages are handled in order. Sends go to the
socket at once; what a client does not read waits in the socket's backlog, bounded by `send_queue` messages and
`send_queue_bytes` bytes, past which the client is disconnected (1013), never waited for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Coroutine
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
    """A transport as a connection sees it: every call returns at once."""

    def send(self, payload: bytes) -> None:
        """Send one text message (UTF-8 JSON); what the client cannot take yet joins the backlog."""
        ...

    def backlog(self) -> tuple[int, int]:
        """Messages, and their bytes, sent but not yet handed to the client's socket."""
        ...

    def drop_backlog(self) -> None:
        """Let go of the backlog (it will never be sent)."""
        ...

    def keep_alive(self, interval: float) -> bool:
        """Take over the protocol's `ka` keep-alives every `interval` seconds (sent with the socket's own liveness
        round); False: the socket has no round at that interval, and the hub sends them."""
        ...

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close after what was sent before (the backlog included); `closed` follows."""
        ...


class ProtocolClose(Exception):  # noqa: N818
    """Raised by a protocol's handler: close the socket with this code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _json(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()




class Connection:
    """Protocol-independent machinery; subclasses speak AppSync's protocol or graphql-transport-ws."""

    __slots__ = (
        "_closing",
        "_gone",
        "_id",
        "_timer",
        "api_id",
        "apis",
        "auth",
        "auth_headers",
        "busy",
        "client_ip",
        "graphql_path",
        "host",
        "hub",
        "limits",
        "socket",
        "subscriptions",
    )

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
        self.graphql_path = graphql_path  # what SigV4 signatures of this socket's messages cover
        self.auth: AuthResult | None = None
        self.auth_headers: dict[str, str] = dict(handshake_headers or {})
        self.subscriptions: dict[str, Subscriber] | None = None  # made by the first subscription
        #: the task handling the last message (or the opening); the transport hands in no message until it ends
        self.busy: asyncio.Task[None] | None = None
        self._id: str | None = None
        self._closing = False
        self._gone = False
        self._timer: asyncio.TimerHandle | None = None

    @property
    def connection_id(self) -> str:
        if self._id is None:
            self._id = str(uuid.uuid4())
        return self._id

    # -- sending
    def send(self, message: dict[str, Any] | str | bytes) -> None:
        """Send a message; a client that cannot keep up is disconnected, never waited for."""
        if self._closing:
            return
        data = message if isinstance(message, bytes) else (
            message.encode() if isinstance(message, str) else _json(message))
        count, size = self.socket.backlog()
        if count and (count >= self.limits.send_queue or size + len(data) > self.limits.send_queue_bytes):
            self._too_slow(count, size)
            return
        self.socket.send(data)

    def _too_slow(self, count: int, size: int) -> None:
        """Disconnect a client that does not read: what is queued will never be sent, so it is freed now."""
        log.warning("closing a websocket that does not read its messages",
                    extra={"connection": self.connection_id, "queued": count, "queued_bytes": size})
        self.socket.drop_backlog()
        self.close(1013, "Send queue full: client too slow")

    def close(self, code: int, reason: str) -> None:
        """Close the socket after what was sent; the connection stops at once."""
        if self._closing:
            return
        self._stop()
        self.socket.close(code, reason)

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
        subs = self.subscriptions
        if subs is not None and sub_id in subs:
            return [{"errorType": "DuplicateSubscriptionId", "message": f"Subscription id {sub_id} is already in use."}]
        if subs is not None and len(subs) >= self.limits.max_subscriptions:
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
        if self._closing:
            return []  # the socket went while subscribing: nothing to register
        sub = Subscriber(sink=self, sub_id=sub_id, api_id=api.api_id, version=api.version, plan=plan, rights=rights)
        if self.subscriptions is None:
            self.subscriptions = {}
        self.subscriptions[sub_id] = sub
        self.hub.registry.add(sub)
        return []

    def stop_subscription(self, sub_id: str) -> bool:
        sub = self.subscriptions.pop(sub_id, None) if self.subscriptions else None
        if sub is None:
            return False
        self.hub.registry.remove(sub)
        return True

    # -- lifecycle (called by the transport)
    def open(self) -> None:
        """The handshake is done: the protocol starts (its first step may run in `busy`)."""
        self.hub.connections.add(self)
        self.on_open()

    def receive(self, text: str) -> None:
        """One text message from the client; the transport calls it only while `busy` is None."""
        if self._closing:
            return
        try:
            work = self.on_message(text)
        except ProtocolClose as exc:
            self.close(exc.code, exc.reason)
            return
        if work is not None:
            self.run(work)

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as this connection's `busy` task: later messages wait for it."""
        task = asyncio.get_running_loop().create_task(self._guarded(work))
        self.busy = task
        task.add_done_callback(self._idle)

    def _idle(self, task: asyncio.Task[None]) -> None:
        if self.busy is task:
            self.busy = None

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except ProtocolClose as exc:
            self.close(exc.code, exc.reason)
        except Exception:
            log.exception("realtime message handling failed", extra={"connection": self.connection_id})
            self.close(1011, "Internal error")

    def start_timer(self, seconds: float, callback: Any) -> None:
        self.cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(seconds, callback)

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _stop(self) -> None:
        """No more messages in or out: subscriptions end, keep-alives stop, timers and work are cancelled."""
        self._closing = True
        self.hub.forget(self)
        self.cancel_timer()
        for sub_id in list(self.subscriptions or ()):
            self.stop_subscription(sub_id)
        busy, self.busy = self.busy, None
        if busy is not None and busy is not asyncio.current_task():
            busy.cancel()
        self.on_stop()

    def closed(self) -> None:
        """The socket is gone (either side closed it, or it broke)."""
        if self._gone:
            return
        self._gone = True
        if not self._closing:
            self._stop()

    def shutdown(self) -> None:
        """The server is stopping: going away (1001), so clients reconnect elsewhere."""
        self.close(1001, "Server shutting down")

    # -- what each protocol says
    def on_open(self) -> None:
        raise NotImplementedError

    def on_message(self, text: str) -> Coroutine[Any, Any, None] | None:
        """Handle one message at once, or return the async work it needs (run as `busy`)."""
        raise NotImplementedError

    def on_stop(self) -> None:
        """The connection stops: end what the protocol runs besides subscriptions."""

    def too_large(self, text: str) -> bool:
        limit = self.limits.max_message_bytes
        return len(text) > limit // 4 and len(text.encode("utf-8", errors="replace")) > limit

    # -- Sink (called by the hub)
    def deliver(self, sub: Subscriber, data: bytes) -> None:
        """`data` is the event's payload JSON, shaped for `sub` (and every subscriber of its group)."""
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
