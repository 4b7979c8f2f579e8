"""Every input answered: hostile HTTP requests and websocket frames on a real socket get an answer, never a reset."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fuzz_corpus.server import LIMIT, Target, hostile_target
from tests.fuzz_corpus.wire import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    RawSocket,
    Reply,
    appsync_header,
    chunked,
    exchange,
    frame,
    read_reply,
    request_bytes,
    ws_connect,
)
from tests.helpers import EVENT_KEY

pytestmark = pytest.mark.integration

AUTH = {"x-api-key": EVENT_KEY, "content-type": "application/json"}
LIST = b'{"query":"{ listEvents(limit: 1) { items { id } } }"}'
SUB = "subscription S($e: String!) { subscribeToEventComments(eventId: $e) { eventId content } }"


@pytest.fixture(scope="module")
async def target(dynamodb_endpoint: str) -> AsyncIterator[Target]:
    async with hostile_target(dynamodb_endpoint) as t:
        yield t


def post(body: bytes | None, headers: dict[str, str] | None = None, **kw: Any) -> bytes:
    return request_bytes(body, headers={**AUTH, **(headers or {})}, **kw)


def assert_appsync_error(reply: Reply, status: int, error_type: str | None = None) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.body[:300])
    body = reply.json()
    assert isinstance(body["errors"], list) and body["errors"], body
    err = body["errors"][0]
    assert isinstance(err["message"], str) and err["errorType"], err
    if error_type:
        assert err["errorType"] == error_type, err
    return body


async def still_serving(t: Target) -> None:
    [reply] = await exchange(t.port, post(LIST))
    assert reply.status == 200 and reply.json()["data"]["listEvents"] is not None, reply.body


# -- HTTP bodies over maxBodyBytes


@pytest.mark.parametrize("size", [LIMIT + 1, 4 * LIMIT, 256 * LIMIT], ids=["just-over", "4x", "256x"])
async def test_body_over_the_limit_with_content_length_is_413_and_read_by_the_client(target: Target,
                                                                                      size: int) -> None:
    body = b'{"query":"' + b"a" * size + b'"}'
    [reply] = await exchange(target.port, post(body), must_send_all=True)
    assert_appsync_error(reply, 413, "PayloadTooLargeException")
    assert reply.headers["x-amzn-errortype"] == "PayloadTooLargeException"
    await still_serving(target)


@pytest.mark.parametrize("size", [LIMIT + 1, 4 * LIMIT, 256 * LIMIT], ids=["just-over", "4x", "256x"])
async def test_chunked_body_over_the_limit_is_413(target: Target, size: int) -> None:
    body = b'{"query":"' + b"a" * size + b'"}'
    [reply] = await exchange(target.port, post(chunked(body, 8192), {"transfer-encoding": "chunked"}),
                             must_send_all=True)
    assert_appsync_error(reply, 413, "PayloadTooLargeException")
    await still_serving(target)


async def test_body_without_length_on_http_1_0_over_the_limit_is_413(target: Target) -> None:
    body = b'{"query":"' + b"a" * (2 * LIMIT) + b'"}'
    [reply] = await exchange(target.port, post(body, version="HTTP/1.0", content_length=False), must_send_all=True)
    assert reply.status in (400, 411, 413), reply
    assert_appsync_error(reply, reply.status)


async def test_declared_length_over_the_limit_is_answered_before_the_body_is_sent(target: Target) -> None:
    """The client waits for the answer before sending its (huge) body: it gets the 413 at once, not a hang."""
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(post(None, {"content-length": str(1 << 40)}))
    await writer.drain()
    from tests.fuzz_corpus.wire import read_reply

    reply = await read_reply(reader)
    assert_appsync_error(reply, 413, "PayloadTooLargeException")
    writer.close()


async def test_body_just_under_the_limit_is_served(target: Target) -> None:
    padding = b" " * (LIMIT - len(LIST) - 1)
    [reply] = await exchange(target.port, post(LIST + padding))
    assert reply.status == 200 and reply.json()["data"]["listEvents"] is not None


@pytest.mark.parametrize("length", ["abc", "-1", "99999999999999999999999999", "1, 2", ""])
async def test_invalid_content_length_is_a_4xx(target: Target, length: str) -> None:
    [reply] = await exchange(target.port, post(LIST, {"content-length": length}))
    assert 400 <= reply.status < 500, reply


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"query": 5}', b"[" * 5000 + b"]" * 5000,
                                  b'{"query":"{ listEvents { items { id } } }", "variables": [1]}',
                                  b'{"query":"{ listEvents { items { id } } }", "operationName": {}}'])
async def test_malformed_bodies_are_400(target: Target, body: bytes) -> None:
    [reply] = await exchange(target.port, post(body))
    assert_appsync_error(reply, 400)


# -- odd requests and headers


async def test_upgrade_header_on_a_plain_post_is_answered(target: Target) -> None:
    for upgrade in ("websocket", "h2c", "foo/1"):
        [reply] = await exchange(target.port, post(LIST, {"upgrade": upgrade, "connection": "Upgrade"}))
        assert reply.status < 500, (upgrade, reply)
        if reply.status == 200:
            assert reply.json()["data"]["listEvents"] is not None


async def test_a_head_that_never_completes_is_answered_408(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client trickling its headers (slowloris), or opening a connection and sending nothing, does not hold the
    connection for ever: once the head has taken HEAD_TIMEOUT_SECONDS it is answered 408 and closed."""
    from gqlsync.http import listener

    monkeypatch.setattr(listener, "HEAD_TIMEOUT_SECONDS", 0.5)
    for sent in (b"", b"POST /graphql HTTP/1.1\r\nhost: x\r\nx-api-key: "):
        reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
        try:
            writer.write(sent)
            await writer.drain()
            reply = await read_reply(reader)
            assert reply.status == 408 and reply.json()["errors"][0]["errorType"] == "RequestTimeoutException"
            assert await asyncio.wait_for(reader.read(), 5) == b""  # and closed
        finally:
            writer.close()
    # a whole head in time is served as usual, also on a connection that stays open for a second request
    [first, second] = await exchange(target.port, post(LIST) + post(LIST), replies=2)
    assert first.status == second.status == 200


async def test_http_1_0_is_answered_and_closed(target: Target) -> None:
    [reply] = await exchange(target.port, post(LIST, version="HTTP/1.0"))
    assert reply.status == 200 and reply.json()["data"]["listEvents"] is not None


async def test_pipelined_requests_are_answered_in_order(target: Target) -> None:
    queries = [b'{"query":"{ getEvent(id: \\"%d\\") { id } }"}' % i for i in range(5)]
    bad = post(b"{oops")
    data = b"".join(post(q) for q in queries) + bad + post(LIST)
    replies = await exchange(target.port, data, replies=7)
    assert [r.status for r in replies] == [200] * 5 + [400, 200]
    assert all(r.json()["data"] == {"getEvent": None} for r in replies[:5])


@pytest.mark.parametrize("count", [100, 1000])
async def test_many_headers_are_answered(target: Target, count: int) -> None:
    headers = [(f"x-h-{i}", "v" * 20) for i in range(count)] + list(AUTH.items())
    [reply] = await exchange(target.port, request_bytes(LIST, headers=headers))
    assert reply.status < 500, reply
    if reply.status != 200:
        assert_appsync_error(reply, reply.status)


@pytest.mark.parametrize("size", [16 * 1024, 100 * 1024, 1024 * 1024])
async def test_a_huge_header_is_answered(target: Target, size: int) -> None:
    [reply] = await exchange(target.port, post(LIST, {"x-huge": "v" * size}))
    assert reply.status < 500, reply
    if reply.status != 200:
        assert 400 <= reply.status < 500


@pytest.mark.parametrize("line", [b"GARBAGE\r\n\r\n", b"POST /graphql HTTP/9.9\r\nHost: x\r\n\r\n",
                                  b"POST /graphql HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                                  b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: "
                                  b"chunked\r\n\r\n0\r\n\r\n",
                                  b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40])
async def test_garbage_requests_are_a_4xx(target: Target, line: bytes) -> None:
    [reply] = await exchange(target.port, line)
    assert 400 <= reply.status < 500, reply


async def test_a_huge_url_is_answered(target: Target) -> None:
    [reply] = await exchange(target.port, post(LIST, path="/graphql?" + "a" * 200_000))
    assert reply.status < 500, reply


# -- validation first, for every operation type


@pytest.mark.parametrize("query", [
    "subscription { subscribeToEventComments(eventId: 5, nope: 1) { eventId } }",
    "subscription { subscribeToEventComments { eventId } }",
    "subscription { nothingHere }",
    "subscription S { subscribeToEventComments(eventId: \"1\") { eventId } } subscription S { x }",
    "{ listEvents @include { items { id } } }",
    "{ listEvents @skip(if: \"yes\") { items { id } } }",
    "{ listEvents @include(if: true, unless: false) { items { id } } }",
    "{ listEvents @aws_subscribe(mutations: [\"x\"]) { items { id } } }",
    "{ listEvents @deprecated { items { id } } }",
    "{ listEvents @nope { items { id } } }",
    "{ listEvents @include(if: true) @include(if: false) { items { id } } }",
    "query Q($a: Boolean) { listEvents @include(if: $a, if: $a) { items { id } } }",
    "query @skip(if: true) { listEvents { items { id } } }",
    "mutation { deleteEvent(id: 1, x: 2) { id } }",
    "mutation M { createEvent { id } }",
])
async def test_invalid_documents_are_validation_errors(target: Target, query: str) -> None:
    [reply] = await exchange(target.port, post(json.dumps({"query": query}).encode()))
    assert reply.status in (200, 400), reply
    errors = reply.json()["errors"]
    assert errors[0]["errorType"] == "ValidationError", errors


async def test_a_valid_subscription_over_http_is_refused_in_appsync_shape(target: Target) -> None:
    body = json.dumps({"query": SUB, "variables": {"e": "1"}}).encode()
    [reply] = await exchange(target.port, post(body))
    assert reply.status < 500
    assert reply.json()["errors"][0]["errorType"] == "UnsupportedOperation"


@pytest.mark.parametrize("depth", [200, 2000, 6000])
async def test_deeply_nested_documents_are_errors_not_500(target: Target, depth: int) -> None:
    for query in ("{ listEvents " + "{ items " * depth + "}" * depth + " }",
                  "query Q($v: String = " + "[" * depth + "]" * depth + ") { listEvents { nextToken } }",
                  "{ listEvents(limit: " + "[" * depth + "1" + "]" * depth + ") { nextToken } }"):
        [reply] = await exchange(target.port, post(json.dumps({"query": query}).encode()))
        assert reply.status in (200, 400), (depth, reply.status, reply.body[:200])
        assert reply.json()["errors"][0]["errorType"], reply.body[:200]
    await still_serving(target)


@pytest.mark.parametrize("variables", [{"e": 5}, {"e": None}, {"e": ["x"]}, {"e": {"a": 1}}, {}, {"e": "x" * 100}])
async def test_wrong_variables_are_errors(target: Target, variables: dict[str, Any]) -> None:
    query = "query G($e: ID!) { getEvent(id: $e) { id } }"
    [reply] = await exchange(target.port, post(json.dumps({"query": query, "variables": variables}).encode()))
    assert reply.status in (200, 400)
    body = reply.json()
    if variables.get("e") in (5, "x" * 100):
        assert body["data"] == {"getEvent": None}  # ints coerce to ID; not found
    else:
        assert body["errors"][0]["errorType"], body


# -- websocket handshakes


def realtime_query(headers: dict[str, str] | None = None) -> str:
    return f"header={appsync_header(headers or {'host': '127.0.0.1', 'x-api-key': EVENT_KEY})}&payload=e30="


async def appsync(t: Target) -> RawSocket:
    sock = await ws_connect(t.port, query=realtime_query())
    await sock.send_text({"type": "connection_init"})
    ack = await sock.recv_json()
    assert ack["type"] == "connection_ack", ack
    return sock


async def transport_ws(t: Target) -> RawSocket:
    sock = await ws_connect(t.port, subprotocols="graphql-transport-ws")
    await sock.send_text({"type": "connection_init", "payload": {"x-api-key": EVENT_KEY}})
    ack = await sock.recv_json()
    assert ack["type"] == "connection_ack", ack
    return sock


@pytest.mark.parametrize("size", [8 * 1024, 64 * 1024, 1024 * 1024])
async def test_a_huge_header_query_parameter_is_answered(target: Target, size: int) -> None:
    sock = await ws_connect(target.port, query="header=" + "A" * size + "&payload=e30=", expect_upgrade=False)
    if sock.handshake.status == 101:
        messages, _closing = await sock.until_close()
        assert messages and messages[0]["type"] == "connection_error", messages
    else:
        assert 400 <= sock.handshake.status < 500, sock.handshake
    await sock.close()


@pytest.mark.parametrize("header", ["%%%", "bm90IGpzb24", appsync_header({"x-api-key": "da2-wrong"}),
                                    "W10=", appsync_header({"x-api-key": ["a"]})])
async def test_a_bad_header_query_parameter_is_a_connection_error(target: Target, header: str) -> None:
    sock = await ws_connect(target.port, query=f"header={header}&payload=e30=")
    messages, _closing = await sock.until_close()
    assert messages[0]["type"] == "connection_error", messages
    assert messages[0]["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
    await sock.close()


@pytest.mark.parametrize("count", [150, 1000])
async def test_a_handshake_with_many_headers_is_answered(target: Target, count: int) -> None:
    extra = [(f"x-h-{i}", "v") for i in range(count)]
    sock = await ws_connect(target.port, query=realtime_query(), extra=extra, expect_upgrade=False)
    assert sock.handshake.status == 101 or 400 <= sock.handshake.status < 500, sock.handshake
    await sock.close()


@pytest.mark.parametrize("subprotocols", [None, "nope", "graphql-ws, header-%%%", "," * 5000])
async def test_odd_subprotocols_are_answered(target: Target, subprotocols: str | None) -> None:
    sock = await ws_connect(target.port, query=realtime_query(), subprotocols=subprotocols, expect_upgrade=False)
    if sock.handshake.status == 101:
        _messages, closing = await sock.until_close()
        assert closing.close_code is not None
    else:
        assert 400 <= sock.handshake.status < 500, sock.handshake
    await sock.close()


# -- websocket frames


@pytest.mark.parametrize("protocol", ["appsync", "transport-ws"])
async def test_a_binary_frame_is_closed_with_1003(target: Target, protocol: str) -> None:
    sock = await (appsync if protocol == "appsync" else transport_ws)(target)
    await sock.send(frame(BINARY, b'{"type":"ka"}'))
    _, closing = await sock.until_close()
    assert closing.close_code == 1003
    await sock.close()


@pytest.mark.parametrize("protocol", ["appsync", "transport-ws"])
async def test_a_text_frame_that_is_not_utf8_is_closed_with_1007(target: Target, protocol: str) -> None:
    sock = await (appsync if protocol == "appsync" else transport_ws)(target)
    await sock.send(frame(TEXT, b'{"type":"\xff\xfe"}'))
    _, closing = await sock.until_close()
    assert closing.close_code == 1007
    await sock.close()


async def test_a_fragmented_message_is_reassembled(target: Target) -> None:
    sock = await ws_connect(target.port, query=realtime_query())
    text = json.dumps({"type": "connection_init"}).encode()
    await sock.send(frame(TEXT, text[:3], fin=False) + frame(PING, b"hi") + frame(CONT, text[3:8], fin=False)
                    + frame(CONT, text[8:]))
    pong = await sock.recv()
    assert (pong.opcode, pong.payload) == (PONG, b"hi")
    assert (await sock.recv_json())["type"] == "connection_ack"
    await sock.close()


@pytest.mark.parametrize("protocol", ["appsync", "transport-ws"])
async def test_a_huge_frame_is_closed_with_1009(target: Target, protocol: str) -> None:
    sock = await (appsync if protocol == "appsync" else transport_ws)(target)
    await sock.send(frame(TEXT, b'{"type":"' + b"x" * (4 * 1024 * 1024) + b'"}'))
    _, closing = await sock.until_close()
    assert closing.close_code == 1009
    await sock.close()


async def test_a_huge_fragmented_message_is_closed_with_1009(target: Target) -> None:
    sock = await appsync(target)
    piece = b"x" * (256 * 1024)
    await sock.send(frame(TEXT, b'{"type":"', fin=False) + b"".join(frame(CONT, piece, fin=False) for _ in range(16)))
    _, closing = await sock.until_close()
    assert closing.close_code == 1009
    await sock.close()


@pytest.mark.parametrize("depth", [1000, 4000])
async def test_deeply_nested_json_is_an_error_message_on_appsync(target: Target, depth: int) -> None:
    sock = await appsync(target)
    await sock.send_text("[" * depth + "]" * depth)
    msg = await sock.recv_json()
    assert msg["type"] == "error" and msg["payload"]["errors"][0]["errorType"] == "BadRequestException", msg
    nested = '{"type":"start","id":"1","payload":{"data":' + json.dumps("[" * depth + "]" * depth) + "}}"
    await sock.send_text(nested)
    msg = await sock.recv_json()
    assert msg["type"] == "error", msg
    await sock.send_text({"type": "start", "id": "2", "payload": {
        "data": json.dumps({"query": SUB, "variables": {"e": "1"}}),
        "extensions": {"authorization": {"host": "127.0.0.1", "x-api-key": EVENT_KEY}}}})
    assert (await sock.recv_json())["type"] == "start_ack"
    await sock.close()


async def test_deeply_nested_json_is_a_4400_on_transport_ws(target: Target) -> None:
    sock = await transport_ws(target)
    await sock.send_text('{"type":"ping","payload":' + "[" * 4000 + "]" * 4000 + "}")
    _, closing = await sock.until_close()
    assert closing.close_code == 4400
    await sock.close()


@pytest.mark.parametrize("protocol", ["appsync", "transport-ws"])
async def test_a_deeply_nested_subscription_document_is_an_error(target: Target, protocol: str) -> None:
    depth = 600
    query = "subscription { subscribeToEventComments(eventId: \"1\") " + "{ eventId " * depth + "}" * depth + " }"
    if protocol == "appsync":
        sock = await appsync(target)
        await sock.send_text({"type": "start", "id": "1", "payload": {
            "data": json.dumps({"query": query}),
            "extensions": {"authorization": {"host": "127.0.0.1", "x-api-key": EVENT_KEY}}}})
    else:
        sock = await transport_ws(target)
        await sock.send_text({"type": "subscribe", "id": "1", "payload": {"query": query}})
    msg = await sock.recv_json()
    assert msg["type"] == "error" and msg["id"] == "1", msg
    await sock.close()


@pytest.mark.parametrize("bad", [frame(0x3, b"x"), frame(TEXT, b"{}", rsv=4), frame(TEXT, b"{}", mask=False),
                                 frame(PING, b"x" * 200), frame(CLOSE, b"\x03"), frame(TEXT, b"{}", fin=False)
                                 + frame(TEXT, b"{}")],
                         ids=["reserved-opcode", "rsv-bits", "unmasked", "long-ping", "bad-close", "interleaved"])
async def test_protocol_violations_are_closed_with_1002(target: Target, bad: bytes) -> None:
    sock = await appsync(target)
    await sock.send(bad)
    _, closing = await sock.until_close()
    assert closing.close_code == 1002, closing
    await sock.close()


async def test_a_client_close_frame_is_answered_with_one(target: Target) -> None:
    sock = await appsync(target)
    await sock.send(frame(CLOSE, struct.pack("!H", 1000)))
    _, closing = await sock.until_close()
    assert closing.close_code == 1000
    await sock.close()


async def test_the_server_still_serves_subscriptions_after_all_this(target: Target) -> None:
    sock = await appsync(target)
    await sock.send_text({"type": "start", "id": "s", "payload": {
        "data": json.dumps({"query": SUB, "variables": {"e": "after"}}),
        "extensions": {"authorization": {"host": "127.0.0.1", "x-api-key": EVENT_KEY}}}})
    assert (await sock.recv_json())["type"] == "start_ack"
    comment = json.dumps({"query": 'mutation { commentOnEvent(eventId: "after", content: "hi", createdAt: "x") '
                                   "{ eventId commentId content createdAt } }"}).encode()
    [reply] = await exchange(target.port, post(comment))
    assert reply.status == 200 and reply.json()["data"]["commentOnEvent"]["content"] == "hi", reply.body
    data = await sock.recv_json()
    assert data["type"] == "data" and data["payload"]["data"]["subscribeToEventComments"] == {
        "eventId": "after", "content": "hi"}
    await sock.close()
