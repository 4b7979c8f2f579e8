"""How uvicorn listens for gqlsync: wire limits and answers for every request, however malformed, before the app.

uvicorn's own protocols leave a few inputs unanswered or answered with a reset; the subclasses here close those
gaps, and `uvicorn_options` is what `gqlsync dev/serve` (and the tests' live servers) run uvicorn with:

- a request head (request line + headers) larger than MAX_HEAD_BYTES is a 431, not unbounded buffering, and one
  that has not arrived in full HEAD_TIMEOUT_SECONDS after the connection opened or the request began is a 408
  (a client trickling its headers never holds a connection for ever);
- a malformed request is a 400 in AppSync's error shape (`MalformedHttpRequestException`), not plain text;
- `Upgrade: websocket` is honoured on GET only; on a POST it is an ordinary request;
- a websocket handshake the websockets library refuses (request line or header too long, too many headers, not
  an HTTP request) is answered (414/431/400) instead of left hanging;
- every close lingers: the server sends FIN after its answer and discards what the client still sends for up to
  LINGER_SECONDS, so a client sending a body the server will not read gets the answer, not a TCP reset;
- websocket messages above `ws_max_size` are closed with 1009 by the websockets library;
- gqlsync's realtime endpoint (/graphql/realtime, /v1/apis/{api}/graphql/realtime) is served natively: after the
  handshake the socket is handed to a bare protocol (gqlsync/realtime/wire.py) with no ASGI scope, task or queue per
  connection; every other websocket route (and a handshake that needs the app, e.g. proxy headers to honour, or a
  server not yet started) goes through the ASGI app as before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.exceptions import HeaderLineTooLong, RequestLineTooLong, TooManyHeaders
from websockets.http11 import Request, Response

from gqlsync.http.responses import error_body
from gqlsync.realtime.endpoint import graphql_path, negotiate
from gqlsync.realtime.wire import PingSweep, WebSocketWire
from gqlsync.server import GqlsyncServer, ServerSettings

MAX_HEAD_BYTES = 64 * 1024  # request line + headers of one request
HEAD_TIMEOUT_SECONDS = 10.0  # how long a request head may take to arrive in full (a new connection's first included)
LINGER_SECONDS = 2.0  # how long a closing connection keeps reading (and discarding) before it really closes
LINGER_BYTES = 64 * 1024 * 1024  # ... and how much it discards at most
HOLD_BYTES = 64 * 1024  # writes of one loop turn are joined up to this much (LingeringTransport)
_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Payload Too Large", 414: "URI Too Long",
            431: "Request Header Fields Too Large"}


def _discarded(transport: object, data: bytes) -> bool:
    """Whether `data` arrived on a lingering close and was thrown away (the answer is already sent)."""
    if isinstance(transport, LingeringTransport) and transport.lingering:
        transport.discard(data)
        return True
    return False


def error_answer(status: int, error_type: str, message: str) -> bytes:
    """A complete HTTP/1.1 response in AppSync's error shape that closes the connection."""
    body = json.dumps(error_body(message, error_type)).encode()
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Bad Request')}\r\ncontent-type: application/json\r\n"
            f"x-amzn-ErrorType: {error_type}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("latin-1") + body


class _Turn:
    """The transports of one event loop that wrote during this turn: flushed together when it ends, by one callback
    (a fan-out or a ping round writes to thousands of sockets in one turn; a callback each was a handle each, and
    the garbage collections those allocations set off)."""

    __slots__ = ("due", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.due: list[LingeringTransport] = []

    def add(self, transport: LingeringTransport) -> None:
        if not self.due:
            self.loop.call_soon(self.flush)
        self.due.append(transport)

    def flush(self) -> None:
        due, self.due = self.due, []
        for transport in due:
            transport.flush()


_T = TypeVar("_T")


def _of_loop(table: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _T],
             make: Callable[[asyncio.AbstractEventLoop], _T]) -> _T:
    """The running loop's entry of `table`, made on first use (kept weakly: a loop that is gone takes it along)."""
    loop = asyncio.get_running_loop()
    value = table.get(loop)
    if value is None:
        value = table[loop] = make(loop)
    return value


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turn] = weakref.WeakKeyDictionary()


class LingeringTransport:
    """A transport whose close() half-closes (FIN after the pending answer), keeps reading and closes later.

    Writes made in one turn of the event loop go out as one: uvicorn writes a response's head and its body
    separately, and each write to a socket is a system call (on loopback, the receiver's TCP work too); held until
    the turn ends, they are one send, with the same bytes in the same order.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.lingering = False
        self.discarded = 0
        self._timer: asyncio.TimerHandle | None = None
        self._held: bytes | bytearray | None = None
        self._turn = _of_loop(_turns, _Turn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.lingering or not data:
            return
        held = self._held
        if held is None:  # the first write of this turn: kept as it is (a copy only of what the caller may reuse)
            held = self._held = data if type(data) is bytes else bytes(data)
            self._turn.add(self)
        else:
            if type(held) is bytes:
                held = self._held = bytearray(held)
            held += data
        if len(held) >= HOLD_BYTES:  # a large answer goes now, under the transport's flow control
            self.flush()

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Send what this turn wrote (also called before anything that must come after it)."""
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def close(self) -> None:
        if self.lingering:
            return
        self.flush()
        self.lingering = True
        t = self._transport
        if t.is_closing():
            return
        try:
            if not t.can_write_eof():  # TLS: no half-close
                t.close()
                return
            t.write_eof()
            t.resume_reading()
        except Exception:
            t.close()
            return
        self._timer = asyncio.get_running_loop().call_later(LINGER_SECONDS, t.close)

    def discard(self, data: bytes) -> None:
        """Bytes that arrived while lingering."""
        self.discarded += len(data)
        if self.discarded > LINGER_BYTES:
            self._transport.close()

    def lost(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head, AppSync-shaped 4xx answers, lingering closes."""

    _head_bytes = 0
    _refusal: tuple[int, str, str] | None = None
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(LingeringTransport(transport))  # type: ignore[arg-type]
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        if isinstance(self.transport, LingeringTransport):
            self.transport.lost()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._head_arrived()
        self._head_timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT_SECONDS, self._head_too_slow)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served (the head arrived): its own timeouts apply
        if not self.transport.is_closing():
            self.transport.write(error_answer(408, "RequestTimeoutException", "The request head did not arrive "
                                              f"within {HEAD_TIMEOUT_SECONDS:g} s."))
        self.transport.close()

    def on_headers_complete(self) -> None:
        self._head_arrived()
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if _discarded(self.transport, data):
            return
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        if self._head_timer is None:  # a keep-alive connection's next request: its head gets the same time
            self._await_head()
        super().on_message_begin()

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refusal = (431, "RequestHeaderFieldsTooLarge",
                             f"The request line and headers exceed the {MAX_HEAD_BYTES} bytes allowed.")
            raise ValueError(self._refusal[2])  # httptools turns it into an HttpParserError: send_400_response

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _should_upgrade(self) -> bool:
        # a websocket handshake is a GET (RFC 6455 4.1); an Upgrade header on anything else is ignored
        return bool(self.scope and self.scope.get("method") == "GET") and super()._should_upgrade()

    def _unsupported_upgrade_warning(self) -> None:
        pass  # e.g. `Upgrade: h2c`, or websocket on a POST: the request is served as plain HTTP/1.1

    def send_400_response(self, msg: str) -> None:
        status, error_type, message = self._refusal or (400, "MalformedHttpRequestException",
                                                        "The HTTP request is malformed.")
        self._refusal = None
        if not self.transport.is_closing():
            self.transport.write(error_answer(status, error_type, message))
        self.transport.close()


def _gqlsync_server(app: Any) -> GqlsyncServer | None:
    """The GqlsyncServer behind uvicorn's loaded app (through its middleware wrappers), if it is gqlsync's."""
    for _ in range(16):
        state = getattr(app, "state", None)
        server = getattr(state, "gqlsync", None) if state is not None else None
        if isinstance(server, GqlsyncServer):
            return server
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


#: per event loop, the ping round of each interval
_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, PingSweep]] = weakref.WeakKeyDictionary()


def _sweep(config: Any) -> PingSweep | None:
    """One protocol-ping round for all native websockets of a loop (uvicorn's ws_ping_interval, which gqlsync sets to
    the `ka` interval)."""
    interval = config.ws_ping_interval
    if not interval or interval <= 0:
        return None
    rounds = _of_loop(_sweeps, lambda _loop: {})
    sweep = rounds.get(float(interval))
    if sweep is None:
        sweep = rounds[float(interval)] = PingSweep(float(interval))
    return sweep


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets protocol that answers a handshake the websockets library refuses (in AppSync's error
    shape), and lingers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        accept = self.conn.accept

        def accept_or_refuse(request: Request) -> Response:
            response = accept(request)
            if response.status_code == 101:
                return response
            message = bytes(response.body or b"").decode("utf-8", "replace").strip() or "Not a websocket handshake."
            body = json.dumps(error_body(message, "BadRequestException")).encode()
            headers = Headers([(k, v) for k, v in response.headers.raw_items()
                               if k.lower() not in ("content-type", "content-length")])
            headers["Content-Type"] = "application/json"
            headers["Content-Length"] = str(len(body))
            headers["x-amzn-ErrorType"] = "BadRequestException"
            return dataclasses.replace(response, headers=headers, body=body)

        self.conn.accept = accept_or_refuse  # type: ignore[method-assign]

    def data_received(self, data: bytes) -> None:
        if _discarded(self.transport, data):
            return
        super().data_received(data)
        exc = self.conn.handshake_exc
        if exc is not None and not self.handshake_initiated and not self.close_sent:
            self.close_sent = True
            self.conn.data_to_send()  # the library's own (plain text) refusal, replaced by an AppSync-shaped one
            if isinstance(exc, RequestLineTooLong):
                answer = error_answer(414, "RequestUriTooLong", "The websocket handshake's request line is too long.")
            elif isinstance(exc, (HeaderLineTooLong, TooManyHeaders)):
                answer = error_answer(431, "RequestHeaderFieldsTooLarge",
                                      "The websocket handshake's headers are too large or too many.")
            else:
                answer = error_answer(400, "MalformedHttpRequestException", "The websocket handshake is malformed.")
            self.transport.write(answer)
            self.transport.close()

    def handle_connect(self, event: Request) -> None:
        if not self._serve_natively(event):
            super().handle_connect(event)

    def _realtime_route(self, path: str) -> tuple[GqlsyncServer, str | None] | None:
        server = _gqlsync_server(self.app)
        if server is None or not server.started or self.root_path:
            return None
        if path == "/graphql/realtime":
            return server, None
        parts = path.split("/")
        if len(parts) == 6 and parts[:3] == ["", "v1", "apis"] and parts[3] and parts[4:] == ["graphql", "realtime"]:
            from urllib.parse import unquote

            return server, unquote(parts[3])
        return None

    def _serve_natively(self, request: Request) -> bool:
        """Accept a realtime handshake here and hand the socket to a WebSocketWire; False: the ASGI app serves it."""
        raw_path, _, query = request.path.partition("?")
        route = self._realtime_route(raw_path)
        if route is None or ("x-forwarded-for" in request.headers and self.config.proxy_headers):
            return False
        server, key = route
        self.request = request
        self.response = response = self.conn.accept(request)
        self.handshake_initiated = True
        self.handshake_complete = True
        if response.status_code != 101:
            self.close_sent = True
            self.conn.send_response(response)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
            return True
        offered = [t.strip() for h in request.headers.get_all("Sec-WebSocket-Protocol") for t in h.split(",")]
        api_id = server.resolve(key)
        chosen = negotiate(offered, request.headers.get, query) if api_id is not None else None
        if chosen is None:  # what the ASGI route's close before accepting is: a 403
            self.close_sent = True
            self.conn.send_response(self.conn.reject(403, ""))
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
            return True
        assert api_id is not None
        protocol, cls, headers = chosen
        del response.headers["Date"]
        response.headers.update([(k.decode("latin-1").lower(), v.decode("latin-1"))
                                 for k, v in self.default_headers])
        response.headers["Sec-WebSocket-Protocol"] = protocol
        self.conn.send_response(response)
        self.transport.write(b"".join(self.conn.data_to_send()))
        leftover = bytes(self.conn.reader.buffer)
        server.hub.accepted += 1
        self.connections.discard(self)
        wire = WebSocketWire(self.transport, self.config.ws_max_size, self.connections, _sweep(self.config))
        client = self.client[0] if self.client else None
        conn = cls(wire, server.apis, api_id, server.hub, server.settings.realtime, request.headers.get("host"),
                   client, handshake_headers=headers, graphql_path=graphql_path(raw_path))
        wire.start(conn, leftover)
        return True

    def send_receive_event_to_app(self) -> None:
        # a text message that is not UTF-8 is the client's fault: a 1007 close, without uvicorn's error-level traceback
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                self.conn.send_close(1007, "Invalid UTF-8 in a text message")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(self.transport, LingeringTransport):
            self.transport.lost()
        super().connection_lost(exc)


def uvicorn_options(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn.run/Config keyword arguments for serving gqlsync."""
    return {
        "http": GuardedHttpProtocol,
        "ws": GuardedWebSocketProtocol,
        # a frame (or fragmented message) this large is a 1009 close; between the realtime message limit and this,
        # the protocols answer with their own error (AppSync: MaxMessageSizeExceeded; graphql-transport-ws: 4400)
        "ws_max_size": max(4 * settings.realtime.max_message_bytes, 1024 * 1024),
        # No permessage-deflate: it compressed every event once per subscriber (a quarter of fan-out CPU in
        # profiles) and kept a zlib context per idle connection; subscription payloads are small JSON.
        "ws_per_message_deflate": False,
        # Realtime sockets are checked for a vanished peer once per `ka` interval: a protocol ping each round (a
        # socket that has not answered the last round's ping by the next one is closed). Natively served sockets
        # get their `ka` in the same write as the ping, so an idle AppSync socket costs one send and one read per
        # interval; uvicorn's own 20 s default would add three more rounds a minute.
        "ws_ping_interval": settings.realtime.keepalive_seconds,
    }
