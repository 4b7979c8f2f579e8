"""AppSync's real-time protocol (subprotocol `graphql-ws`): connection_init/ack, ka, start/start_ack, data, stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from gqlsync.auth import AuthFailure, RequestFacts
from gqlsync.realtime.connection import Connection


def _error(error_type: str, message: str, sub_id: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "error", "payload": {"errors": [{"errorType": error_type, "message": message}]}}
    if sub_id is not None:
        msg["id"] = sub_id
    return msg


class AppSyncConnection(Connection):
    """Speaks the protocol AWS AppSync serves on its realtime endpoint (and Amplify clients expect)."""

    def _refuse(self, message: str) -> dict[str, Any]:
        return {"type": "connection_error", "payload": {"errors": [{
            "errorType": "UnauthorizedException", "errorCode": 401, "message": message}]}}

    async def run(self) -> None:
        # AppSync checks the credentials the handshake carries (`header` query parameter or `header-`
        # subprotocol) before anything else: a bad or missing one closes the socket at once.
        # IAM: Amplify signs the handshake as POST <graphql>/connect with the body {}.
        try:
            self.auth = await self.authenticate(self.auth_headers,
                                                RequestFacts("POST", self.graphql_path + "/connect", "", b"{}"))
        except AuthFailure as exc:
            self.send(self._refuse(exc.message))
            await self._close_after_flush(1000, "Unauthorized")
            return
        initialized = False
        while True:
            timeout = None if initialized else self.limits.init_timeout_seconds
            try:
                text = await asyncio.wait_for(self.socket.receive_text(), timeout)
            except TimeoutError:
                self.send({"type": "connection_error", "payload": {"errors": [{
                    "errorType": "ConnectionTimeout", "message": "No connection_init was received in time."}]}})
                await self._close_after_flush(1000, "connection_init timeout")
                return
            if len(text.encode("utf-8", errors="replace")) > self.limits.max_message_bytes:
                self.send(_error("MaxMessageSizeExceeded",
                                 f"Messages are limited to {self.limits.max_message_bytes} bytes."))
                continue
            try:
                msg = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                self.send(_error("BadRequestException", "The message is not valid JSON (or is nested too deeply)."))
                continue
            if not isinstance(msg, dict):
                self.send(_error("BadRequestException", "A message must be a JSON object with a type."))
                continue
            kind = msg.get("type")
            if kind == "connection_init":
                if initialized:
                    continue
                initialized = True
                self.send({"type": "connection_ack",
                           "payload": {"connectionTimeoutMs": self.limits.connection_timeout_ms}})
                self.send({"type": "ka"})
                self.hub.keep_alive(self, self.limits.keepalive_seconds)
            elif kind == "start":
                await self._start(msg, initialized)
            elif kind == "stop":
                sub_id = msg.get("id")
                if not isinstance(sub_id, str):
                    self.send(_error("BadRequestException", "stop needs the id of the subscription."))
                    continue
                self.stop_subscription(sub_id)
                self.send({"type": "complete", "id": sub_id})
            elif kind == "ka":
                continue
            else:
                self.send(_error("UnsupportedOperation", f"Unknown message type {kind!r}.",
                                 msg.get("id") if isinstance(msg.get("id"), str) else None))

    async def _start(self, msg: dict[str, Any], initialized: bool) -> None:
        sub_id = msg.get("id")
        if not isinstance(sub_id, str) or not sub_id:
            self.send(_error("BadRequestException", "start needs a string id."))
            return
        if not initialized:
            self.send(_error("BadRequestException", "Send connection_init before start.", sub_id))
            return
        payload = msg.get("payload")
        if not isinstance(payload, dict):
            self.send(_error("BadRequestException", "start needs a payload with data.", sub_id))
            return
        data = payload.get("data")
        try:
            request = json.loads(data) if isinstance(data, str) else data
        except (json.JSONDecodeError, RecursionError):
            self.send(_error("BadRequestException", "payload.data is not a JSON string.", sub_id))
            return
        if not isinstance(request, dict):
            self.send(_error("BadRequestException", "payload.data must hold {query, variables}.", sub_id))
            return
        extensions = payload.get("extensions")
        auth = extensions.get("authorization") if isinstance(extensions, dict) else None
        if not isinstance(auth, dict) or not auth:
            # AppSync authorizes every subscription by the headers its start carries, never by the connection's.
            self.send(_error("UnauthorizedException", "start needs payload.extensions.authorization: the headers "
                                                      "that authorize this subscription.", sub_id))
            return
        # IAM: each start is signed as POST <graphql> with payload.data as the body
        facts = RequestFacts("POST", self.graphql_path, "", data.encode()) if isinstance(data, str) else None
        errors = await self.start_subscription(sub_id, request.get("query"), request.get("variables"),
                                               request.get("operationName"), auth, facts)
        if errors:
            self.send({"type": "error", "id": sub_id, "payload": {"errors": errors}})
        else:
            self.send({"type": "start_ack", "id": sub_id})

    async def _close_after_flush(self, code: int, reason: str) -> None:
        for _ in range(50):
            if self._queue.empty():
                break
            await asyncio.sleep(0.01)
        with contextlib.suppress(Exception):
            await self.socket.close(code, reason)

    def deliver(self, sub_id: str, data_json: str) -> None:
        self.send(f'{{"type":"data","id":{json.dumps(sub_id)},"payload":{data_json}}}')

    def deliver_error(self, sub_id: str, error_type: str, message: str) -> None:
        self.send(_error(error_type, message, sub_id))
