"""Fuzzing a live server: hypothesis strategies and a generated corpus of hostile inputs over HTTP and the socket.

Every input must be answered: never a 5xx, never a reset or a TCP drop without a close frame, never a hang
(no byte for wire.HANG seconds); every answer GraphQL-shaped; nothing served without a valid credential; and
the server serves correct answers afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_corpus.corpus import KEY, HttpCase, WsCase, http_cases, ws_cases
from tests.fuzz_corpus.server import Target, hostile_target
from tests.fuzz_corpus.wire import (
    CLOSE,
    TEXT,
    Hang,
    Reply,
    Reset,
    appsync_header,
    exchange,
    frame,
    request_bytes,
    ws_connect,
)

pytestmark = pytest.mark.integration

T = TypeVar("T")
CLOSE_CODES = {None, 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1012, 4400, 4401, 4403, 4404, 4408, 4409, 4429}
PARALLEL = 16
FUZZ = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


SERVER_ERRORS = _Errors()  # what uvicorn and gqlsync log as errors while fuzzed (an exception in the app, ...)


@pytest.fixture(scope="module")
async def target(dynamodb_endpoint: str) -> AsyncIterator[Target]:
    async with hostile_target(dynamodb_endpoint) as t:
        loggers = [logging.getLogger(name) for name in ("uvicorn.error", "gqlsync")]  # after uvicorn's dictConfig
        for logger in loggers:
            logger.addHandler(SERVER_ERRORS)
        try:
            yield t
        finally:
            for logger in loggers:
                logger.removeHandler(SERVER_ERRORS)


# -- oracles


def check_http(reply: Reply, method: str = "POST", authorized: bool | None = True) -> dict[str, Any] | None:
    """The answer is no 5xx, GraphQL-shaped, and serves nothing to an unauthorized caller; its JSON body."""
    assert reply.status < 500, (reply.status, reply.body[:300])
    if method in ("HEAD", "OPTIONS") or reply.status in (101, 204, 304):
        return None
    assert reply.headers.get("content-type", "").startswith("application/json"), (reply.status, reply.body[:300])
    body = json.loads(reply.body)
    assert isinstance(body, dict) and ("data" in body or "errors" in body), body
    for err in body.get("errors") or ():
        assert isinstance(err.get("message"), str) and isinstance(err.get("errorType"), str), err
    if reply.status != 200:
        assert body.get("errors"), body
    if authorized is False:
        assert reply.status >= 400 and not body.get("data"), (reply.status, body)
    return body


async def send_http(t: Target, data: bytes, method: str = "POST", authorized: bool | None = True,
                    name: str = "") -> dict[str, Any] | None:
    try:
        [reply] = await exchange(t.port, data)
    except (Reset, Hang) as exc:
        raise AssertionError(f"{name}: {type(exc).__name__} {exc}") from None
    try:
        return check_http(reply, method, authorized)
    except AssertionError as exc:
        raise AssertionError(f"{name}: {exc}") from None


SENTINEL = {"appsync": ({"type": "stop", "id": "__sentinel__"}, {"type": "complete", "id": "__sentinel__"}),
            "transport-ws": ({"type": "ping", "payload": {"s": 1}}, {"type": "pong", "payload": {"s": 1}})}


def _sent_close(case: WsCase, code: int | None) -> bool:
    """The client's own close frame carried this code (the server echoes it)."""
    return any(d[0] & 0x0F == CLOSE and len(d) >= 8 and _unmask(d)[:2] == (code or 0).to_bytes(2, "big")
               for d in case.frames)


def _unmask(data: bytes) -> bytes:
    n = data[1] & 0x7F
    key, payload = data[2:6], data[6:6 + n]
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def check_ws_message(msg: Any, protocol: str) -> None:
    assert isinstance(msg, dict) and isinstance(msg.get("type"), str), msg
    if msg["type"] in ("error", "connection_error"):
        errors = msg["payload"] if protocol == "transport-ws" and msg["type"] == "error" else msg["payload"]["errors"]
        assert isinstance(errors, list) and errors, msg
        for err in errors:
            assert isinstance(err.get("message"), str), msg
            if protocol == "appsync":
                assert isinstance(err.get("errorType"), str), msg


async def send_ws(t: Target, case: WsCase) -> list[dict[str, Any]]:
    """Send the case's frames then a sentinel; every message until the sentinel's answer or a close frame."""
    query = f"header={case.header}&payload=e30=" if case.header is not None else None
    subprotocol = "graphql-ws" if case.protocol == "appsync" else "graphql-transport-ws"
    try:
        sock = await ws_connect(t.port, query=query, subprotocols=subprotocol, expect_upgrade=False)
        if sock.handshake.status != 101:
            assert 400 <= sock.handshake.status < 500, (case.name, sock.handshake)
            await sock.close()
            return []
        ask, answer = SENTINEL[case.protocol]
        for data in (*case.frames, frame(TEXT, json.dumps(ask).encode())):
            try:
                await sock.send(data)
            except Reset:
                break  # the server closed already: its close frame is read below
        messages: list[dict[str, Any]] = []
        while True:
            f = await sock.recv()
            if f.opcode == CLOSE:
                assert f.close_code in CLOSE_CODES or _sent_close(case, f.close_code), (
                    case.name, f.close_code, f.payload)
                break
            if f.opcode == TEXT:
                msg = f.json()
                check_ws_message(msg, case.protocol)
                if msg == answer:
                    break
                messages.append(msg)
        await sock.close()
    except (Reset, Hang) as exc:
        raise AssertionError(f"{case.name}: {type(exc).__name__} {exc} (no close frame)") from None
    if not case.authorized:
        acked = [m for m in messages if m["type"] in ("connection_ack", "start_ack", "data", "next")]
        assert not acked, (case.name, acked)
    return messages


async def gather_limited(items: list[T], run: Callable[[T], Awaitable[Any]]) -> None:
    gate = asyncio.Semaphore(PARALLEL)
    failures: list[str] = []

    async def one(item: T) -> None:
        async with gate:
            try:
                await run(item)
            except AssertionError as exc:
                failures.append(str(exc)[:400])

    await asyncio.gather(*(one(i) for i in items))
    assert not failures, f"{len(failures)} of {len(items)} failed:\n" + "\n".join(failures[:20])


def in_thread(t: Target, loop: asyncio.AbstractEventLoop) -> Callable[[Awaitable[T]], T]:
    """Hypothesis drives its examples synchronously (in a worker thread); each runs on the server's loop."""
    def run(coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)  # type: ignore[arg-type]
    return run


# -- the corpus


def test_the_corpus_has_at_least_2000_hostile_inputs() -> None:
    assert sum(1 for _ in http_cases()) + sum(1 for _ in ws_cases()) >= 2000


async def test_http_corpus(target: Target) -> None:
    cases = list(http_cases())

    async def run(case: HttpCase) -> None:
        method = case.data.split(b" ", 1)[0].decode("latin-1")
        await send_http(target, case.data, method, case.authorized, case.name)

    await gather_limited(cases, run)


async def test_websocket_corpus(target: Target) -> None:
    await gather_limited(list(ws_cases()), lambda case: send_ws(target, case))


# -- hypothesis strategies

NAMES = st.sampled_from(["listEvents", "getEvent", "createEvent", "deleteEvent", "commentOnEvent", "items", "id",
                         "name", "comments", "content", "nextToken", "__typename", "__schema", "types", "x",
                         "subscribeToEventComments", "eventId"])
LITERALS = st.recursive(
    st.one_of(st.integers(-2**70, 2**70).map(str), st.text(max_size=10).map(json.dumps), st.sampled_from(
        ["true", "false", "null", "$v", "$id", "ENUM", "1.5e3", '"""block"""'])),
    lambda inner: st.one_of(st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
                            st.dictionaries(NAMES, inner, max_size=3).map(
                                lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}")),
    max_leaves=8)
ARGS = st.dictionaries(NAMES, LITERALS, max_size=3).map(
    lambda d: "(" + ", ".join(f"{k}: {v}" for k, v in d.items()) + ")" if d else "")
DIRECTIVES = st.lists(st.tuples(st.sampled_from(["include", "skip", "deprecated", "aws_subscribe", "aws_api_key",
                                                 "nope"]), ARGS), max_size=2).map(
    lambda ds: "".join(f" @{n}{a}" for n, a in ds))
SELECTIONS = st.recursive(
    st.tuples(NAMES, ARGS, DIRECTIVES).map(lambda f: "".join(f)),
    lambda inner: st.tuples(NAMES, ARGS, DIRECTIVES, st.lists(inner, min_size=1, max_size=4)).map(
        lambda f: f"{f[0]}{f[1]}{f[2]} {{ {' '.join(f[3])} }}"),
    max_leaves=12)
DOCUMENTS = st.one_of(
    st.tuples(st.sampled_from(["", "query", "mutation", "subscription", "query Q($v: Int, $id: ID!)",
                               "fragment F on Event", "query Q($v: [Int!]! = 5)"]),
              st.lists(SELECTIONS, min_size=1, max_size=3)).map(lambda d: f"{d[0]} {{ {' '.join(d[1])} }}"),
    st.text(max_size=200),
)
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                              st.text(max_size=20)),
                    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4)),
                    max_leaves=15)


async def _post(t: Target, body: bytes, headers: dict[str, str] | None = None,
                authorized: bool | None = True) -> dict[str, Any] | None:
    h = {"x-api-key": KEY, "content-type": "application/json", **(headers or {})}
    return await send_http(t, request_bytes(body, headers=h), "POST", authorized, body[:200].decode("latin-1"))


async def test_random_documents(target: Target) -> None:
    run = in_thread(target, asyncio.get_running_loop())

    @FUZZ
    @given(DOCUMENTS, st.one_of(st.none(), st.dictionaries(st.sampled_from(["v", "id"]), JSON, max_size=2)))
    def check(document: str, variables: dict[str, Any] | None) -> None:
        body = run(_post(target, json.dumps({"query": document, "variables": variables}).encode()))
        assert body is not None
        if body.get("data") is None:
            assert body.get("errors"), body

    await asyncio.to_thread(check)


async def test_variables_of_wrong_types(target: Target) -> None:
    run = in_thread(target, asyncio.get_running_loop())
    query = "query L($limit: Int, $token: String) { listEvents(limit: $limit, nextToken: $token) { nextToken } }"

    @FUZZ
    @given(st.dictionaries(st.sampled_from(["limit", "token", "other"]), JSON, max_size=3))
    def check(variables: dict[str, Any]) -> None:
        body = run(_post(target, json.dumps({"query": query, "variables": variables}).encode()))
        assert body is not None
        limit = variables.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or abs(limit) >= 2**31):
            assert body.get("errors") and body.get("data") is None, (variables, body)

    await asyncio.to_thread(check)


HEADER_NAMES = st.one_of(st.sampled_from(["x-api-key", "authorization", "content-type", "content-length", "host",
                                          "transfer-encoding", "connection", "upgrade", "expect", "x-amz-date",
                                          "x-amz-security-token", "x-gqlsync-client-id", "cookie", "origin"]),
                         st.text(string.ascii_letters + string.digits + "-_!#$%&'*+.^`|~", min_size=1, max_size=30))
HEADER_VALUES = st.one_of(st.just(KEY), st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                                              blacklist_characters="\x7f"), max_size=60))


async def test_random_headers(target: Target) -> None:
    run = in_thread(target, asyncio.get_running_loop())
    body = b'{"query":"{ listEvents(limit: 1) { nextToken } }"}'

    @FUZZ
    @given(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8))
    def check(headers: list[tuple[str, str]]) -> None:
        framing = {"content-length", "transfer-encoding", "expect", "connection", "upgrade"}
        headers = [(k, v) for k, v in headers if k.lower() not in framing]  # framing has its own cases
        keys = [v for k, v in headers if k.lower() == "x-api-key"]
        others = any(k.lower() == "authorization" for k, _ in headers)
        authorized: bool | None = None if others or len(keys) > 1 else (keys == [KEY])
        if not keys:
            authorized = False if not others else None
        data = request_bytes(body, headers=[("content-type", "application/json"), *headers])
        run(send_http(target, data, "POST", authorized, repr(headers)[:200]))

    await asyncio.to_thread(check)


AUTHORIZATIONS = st.one_of(st.just({"host": "127.0.0.1", "x-api-key": KEY}),
                           st.dictionaries(st.text(max_size=10), JSON, max_size=3))
START_PAYLOADS = st.fixed_dictionaries(
    {"data": st.one_of(DOCUMENTS.map(lambda d: json.dumps({"query": d})), JSON)},
    optional={"extensions": st.fixed_dictionaries({"authorization": AUTHORIZATIONS})})
MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(["start", "stop", "ka", "connection_init", "subscribe", "complete", "ping", "data",
                              "error", "x"])},
    optional={"id": st.one_of(st.text(max_size=5), JSON), "payload": st.one_of(JSON, START_PAYLOADS),
              "query": DOCUMENTS})


async def test_random_websocket_messages(target: Target) -> None:
    run = in_thread(target, asyncio.get_running_loop())
    header = appsync_header({"host": "127.0.0.1", "x-api-key": KEY})

    @FUZZ
    @given(st.sampled_from(["appsync", "transport-ws"]), st.lists(MESSAGES, min_size=1, max_size=4))
    def check(protocol: str, messages: list[dict[str, Any]]) -> None:
        init = {"type": "connection_init", "payload": {"x-api-key": KEY}} if protocol == "transport-ws" else {
            "type": "connection_init"}
        frames = tuple(frame(TEXT, json.dumps(m).encode()) for m in [init, *messages])
        case = WsCase("hypothesis", protocol, frames, header=header)
        received = run(send_ws(target, case))
        for m in received:  # a start is only acked when its own authorization carries the key
            if m["type"] == "start_ack":
                starts = [s for s in messages if s.get("type") == "start" and s.get("id") == m["id"]]
                assert any(json.dumps(s).count(KEY) for s in starts), (m, messages)

    await asyncio.to_thread(check)


# -- and afterwards


async def test_the_server_serves_correct_answers_afterwards(target: Target) -> None:
    created = await _post(target, b'{"query":"mutation { createEvent(name: \\"after\\", when: \\"w\\", where: \\"x\\", '
                                  b'description: \\"d\\") { id name } }"}')
    assert created is not None and created["data"]["createEvent"]["name"] == "after", created
    event_id = created["data"]["createEvent"]["id"]
    got = await _post(target, json.dumps({"query": "query G($id: ID!) { getEvent(id: $id) { id name } }",
                                          "variables": {"id": event_id}}).encode())
    assert got == {"data": {"getEvent": {"id": event_id, "name": "after"}}}, got
    sock = await ws_connect(target.port, query=f"header={appsync_header({'host': '127.0.0.1', 'x-api-key': KEY})}")
    await sock.send_text({"type": "connection_init"})
    assert (await sock.recv_json())["type"] == "connection_ack"
    sub = "subscription S($e: String!) { subscribeToEventComments(eventId: $e) { eventId content } }"
    await sock.send_text({"type": "start", "id": "s", "payload": {
        "data": json.dumps({"query": sub, "variables": {"e": event_id}}),
        "extensions": {"authorization": {"host": "127.0.0.1", "x-api-key": KEY}}}})
    assert (await sock.recv_json())["type"] == "start_ack"
    comment = json.dumps({"query": "mutation C($e: ID!) { commentOnEvent(eventId: $e, content: \"hi\", "
                                   "createdAt: \"t\") { eventId commentId content createdAt } }",
                          "variables": {"e": event_id}}).encode()
    assert (await _post(target, comment) or {}).get("data"), "the comment was not created"
    data = await sock.recv_json()
    assert data["payload"]["data"]["subscribeToEventComments"] == {"eventId": event_id, "content": "hi"}, data
    await sock.close()
    logged = [f"{r.name}: {r.getMessage()[:200]} {r.exc_info[1]!r}" if r.exc_info else r.getMessage()[:200]
              for r in SERVER_ERRORS.records]
    assert not logged, "the server logged errors while fuzzed:\n" + "\n".join(logged[:10])
