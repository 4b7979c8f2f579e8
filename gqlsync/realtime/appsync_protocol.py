"""AppSync's real-time protocol (subprotocol `graphql-ws`): connection_init/ack, ka, start/start_ack, data, stop."""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import Any

from gqlsync.auth import AuthFailure, RequestFacts
from gqlsync.realtime.connection import Connection
from gqlsync.realtime.registry import Subscriber


def _error(error_type: str, message: str, sub_id: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "error", "payload": {"errors": [{"errorType": error_type, "message": message}]}}
    if sub_id is not None:
        msg["id"] = sub_id
    return msg


_DATA_HEAD = b'{"type":"data","id":'
_DATA_PAYLOAD = b',"payload":'


class AppSyncConnection(Connection):
    """Speaks the protocol AWS AppSync serves on its realtime endpoint (and Amplify clients expect)."""

    __slots__ = ("initialized",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initialized = False

    def _refuse(self, message: str) -> dict[str, Any]:
        return {"type": "connection_error", "payload": {"errors": [{
            "errorType": "UnauthorizedException", "errorCode": 401, "message": message}]}}

    def on_open(self) -> None:
        self.run(self._authenticate_handshake())

    async def _authenticate_handshake(self) -> None:
        # AppSync checks the credentials the handshake carries (`header` query parameter or `header-`
        # subprotocol) before anything else: a bad or missing one closes the socket at once.
        # IAM: Amplify signs the handshake as POST <graphql>/connect with the body {}.
        try:
            self.auth = await self.authenticate(self.auth_headers,
                                                RequestFacts("POST", self.graphql_path + "/connect", "", b"{}"))
        except AuthFailure as exc:
            self.send(self._refuse(exc.message))
            self.close(1000, "Unauthorized")
            return
        if not self.initialized:
            self.start_timer(self.limits.init_timeout_seconds, self._init_timeout)

    def _init_timeout(self) -> None:
        self.send({"type": "connection_error", "payload": {"errors": [{
            "errorType": "ConnectionTimeout", "message": "No connection_init was received in time."}]}})
        self.close(1000, "connection_init timeout")

    def on_message(self, text: str) -> Coroutine[Any, Any, None] | None:
        if self.too_large(text):
            self.send(_error("MaxMessageSizeExceeded",
                             f"Messages are limited to {self.limits.max_message_bytes} bytes."))
            return None
        try:
            msg = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            self.send(_error("BadRequestException", "The message is not valid JSON (or is nested too deeply)."))
            return None
        if not isinstance(msg, dict):
            self.send(_error("BadRequestException", "A message must be a JSON object with a type."))
            return None
        kind = msg.get("type")
        if kind == "connection_init":
            if self.initialized:
                return None
            self.initialized = True
            self.cancel_timer()
            self.send({"type": "connection_ack", "payload": {"connectionTimeoutMs": self.limits.connection_timeout_ms}})
            self.send({"type": "ka"})
            if not self.socket.keep_alive(self.limits.keepalive_seconds):
                self.hub.keep_alive(self, self.limits.keepalive_seconds)
        elif kind == "start":
            return self._start(msg)
        elif kind == "stop":
            sub_id = msg.get("id")
            if not isinstance(sub_id, str):
                self.send(_error("BadRequestException", "stop needs the id of the subscription."))
                return None
            self.stop_subscription(sub_id)
            self.send({"type": "complete", "id": sub_id})
        elif kind == "ka":
            return None
        else:
            self.send(_error("UnsupportedOperation", f"Unknown message type {kind!r}.",
                             msg.get("id") if isinstance(msg.get("id"), str) else None))
        return None

    def _start(self, msg: dict[str, Any]) -> Coroutine[Any, Any, None] | None:
        sub_id = msg.get("id")
        if not isinstance(sub_id, str) or not sub_id:
            self.send(_error("BadRequestException", "start needs a string id."))
            return None
        if not self.initialized:
            self.send(_error("BadRequestException", "Send connection_init before start.", sub_id))
            return None
        payload = msg.get("payload")
        if not isinstance(payload, dict):
            self.send(_error("BadRequestException", "start needs a payload with data.", sub_id))
            return None
        data = payload.get("data")
        try:
            request = json.loads(data) if isinstance(data, str) else data
        except (json.JSONDecodeError, RecursionError):
            self.send(_error("BadRequestException", "payload.data is not a JSON string.", sub_id))
            return None
        if not isinstance(request, dict):
            self.send(_error("BadRequestException", "payload.data must hold {query, variables}.", sub_id))
            return None
        extensions = payload.get("extensions")
        auth = extensions.get("authorization") if isinstance(extensions, dict) else None
        if not isinstance(auth, dict) or not auth:
            # AppSync authorizes every subscription by the headers its start carries, never by the connection's.
            self.send(_error("UnauthorizedException", "start needs payload.extensions.authorization: the headers "
                                                      "that authorize this subscription.", sub_id))
            return None
        # IAM: each start is signed as POST <graphql> with payload.data as the body
        facts = RequestFacts("POST", self.graphql_path, "", data.encode()) if isinstance(data, str) else None
        return self._subscribe(sub_id, request, auth, facts)

    async def _subscribe(self, sub_id: str, request: dict[str, Any], auth: dict[str, Any],
                         facts: RequestFacts | None) -> None:
        errors = await self.start_subscription(sub_id, request.get("query"), request.get("variables"),
                                               request.get("operationName"), auth, facts)
        if errors:
            self.send({"type": "error", "id": sub_id, "payload": {"errors": errors}})
        else:
            self.send({"type": "start_ack", "id": sub_id})

    def deliver(self, sub: Subscriber, data: bytes) -> None:
        self.send(b"".join((_DATA_HEAD, sub.id_json(), _DATA_PAYLOAD, data, b"}")))

    def deliver_error(self, sub_id: str, error_type: str, message: str) -> None:
        self.send(_error(error_type, message, sub_id))
