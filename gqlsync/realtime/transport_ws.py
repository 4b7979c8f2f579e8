"""The graphql-transport-ws protocol (the `graphql-ws` library): subscriptions, queries and mutations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any

from gqlsync.auth import AuthFailure
from gqlsync.realtime.connection import Connection, ProtocolClose
from gqlsync.realtime.registry import Subscriber

__all__ = ["ProtocolClose", "TransportWsConnection"]

_NEXT_HEAD = b'{"id":'
_NEXT_PAYLOAD = b',"type":"next","payload":'


class TransportWsConnection(Connection):
    """Closes with the protocol's 44xx codes on protocol violations, as graphql-ws servers do."""

    __slots__ = ("_operations", "acked")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acked = False
        # queries and mutations running over the socket (made by the first)
        self._operations: dict[str, asyncio.Task[None]] | None = None

    def on_open(self) -> None:
        if self.auth_headers:
            self.run(self._authenticate_handshake())
        else:
            self._await_init()

    async def _authenticate_handshake(self) -> None:
        # Credentials given at the handshake are checked at once; connection_init may add to them.
        try:
            await self.authenticate(self.auth_headers)
        except AuthFailure:
            raise ProtocolClose(4403, "Forbidden") from None
        if not self.acked:
            self._await_init()

    def _await_init(self) -> None:
        self.start_timer(self.limits.init_timeout_seconds,
                         lambda: self.close(4408, "Connection initialisation timeout"))

    def on_message(self, text: str) -> Coroutine[Any, Any, None] | None:
        if self.too_large(text):
            raise ProtocolClose(4400, "Message too large")
        try:
            msg = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise ProtocolClose(4400, "Invalid message received") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise ProtocolClose(4400, "Invalid message received")
        kind = msg["type"]
        if kind == "connection_init":
            if self.acked:
                raise ProtocolClose(4429, "Too many initialisation requests")
            payload = msg.get("payload")
            headers = dict(self.auth_headers)
            if isinstance(payload, dict):
                nested = payload.get("headers")
                extra: dict[str, Any] = nested if isinstance(nested, dict) else payload
                headers.update({str(k).lower(): str(v) for k, v in extra.items()
                                if isinstance(v, (str, int, float))})
            return self._init(headers)
        if kind == "ping":  # the pong echoes the ping's payload, as graphql-ws servers do
            self.send({"type": "pong", "payload": msg["payload"]} if isinstance(msg.get("payload"), dict)
                      else {"type": "pong"})
        elif kind == "pong":
            return None
        elif kind == "subscribe":
            if not self.acked:
                raise ProtocolClose(4401, "Unauthorized")
            return self._subscribe(msg)
        elif kind == "complete":
            if isinstance(msg.get("id"), str):
                self.stop_subscription(msg["id"])
                operation = self._operations.pop(msg["id"], None) if self._operations else None
                if operation is not None:
                    operation.cancel()
        else:
            raise ProtocolClose(4400, f"Unexpected message type {kind}")
        return None

    async def _init(self, headers: dict[str, str]) -> None:
        try:
            self.auth = await self.authenticate(headers)
        except AuthFailure:
            raise ProtocolClose(4403, "Forbidden") from None
        self.auth_headers = headers
        self.acked = True
        self.cancel_timer()
        self.send({"type": "connection_ack"})

    async def _subscribe(self, msg: dict[str, Any]) -> None:
        sub_id = msg.get("id")
        payload = msg.get("payload")
        if not isinstance(sub_id, str) or not sub_id or not isinstance(payload, dict):
            raise ProtocolClose(4400, "Invalid message received")
        if (self.subscriptions and sub_id in self.subscriptions) or (self._operations and sub_id in self._operations):
            raise ProtocolClose(4409, f"Subscriber for {sub_id} already exists")
        query = payload.get("query")
        prepared = self.served.api.documents.get(query) if isinstance(query, str) else None
        op = prepared.operation(payload.get("operationName")) if prepared and prepared.document else None
        if op is not None and op.operation.value != "subscription":
            if self._operations is None:
                self._operations = {}
            self._operations[sub_id] = asyncio.ensure_future(self._execute(sub_id, payload))
            return
        errors = await self.start_subscription(sub_id, query, payload.get("variables"),
                                               payload.get("operationName"), None)
        if errors:
            self.send({"type": "error", "id": sub_id, "payload": errors})

    async def _execute(self, sub_id: str, payload: dict[str, Any]) -> None:
        assert self.auth is not None
        outcome = await self.served.api.execute(payload.get("query"), payload.get("variables"),
                                                payload.get("operationName"), self.scope(self.auth, self.auth_headers))
        if self._operations:
            self._operations.pop(sub_id, None)
        self.send({"type": "next", "id": sub_id, "payload": outcome.body})
        self.send({"type": "complete", "id": sub_id})

    def on_stop(self) -> None:
        operations, self._operations = self._operations, None
        for task in (operations or {}).values():
            task.cancel()

    def deliver(self, sub: Subscriber, data: bytes) -> None:
        self.send(b"".join((_NEXT_HEAD, sub.id_json(), _NEXT_PAYLOAD, data, b"}")))

    def deliver_error(self, sub_id: str, error_type: str, message: str) -> None:
        self.send({"id": sub_id, "type": "next", "payload": {"data": None, "errors": [
            {"errorType": error_type, "message": message}]}})
