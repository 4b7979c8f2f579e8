"""The hostile-input corpus, generated deterministically: seed attack patterns x mutations, for HTTP and websockets."""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tests.fuzz_corpus.wire import BINARY, CLOSE, CONT, PING, PONG, TEXT, appsync_header, chunked, frame, request_bytes

KEY = "da2-gqlsynclocaldevelopmentkey01"
SEED = 14


@dataclass(frozen=True)
class HttpCase:
    name: str
    data: bytes
    #: False: no valid credential was sent, so nothing may be served; None: unknowable (e.g. duplicate keys)
    authorized: bool | None = True


@dataclass(frozen=True)
class WsCase:
    name: str
    protocol: str  # "appsync" | "transport-ws"
    frames: tuple[bytes, ...]
    #: False: the handshake carries no valid credential (nothing may be acked); True otherwise
    authorized: bool = True
    #: the realtime `header` query parameter of the handshake (AppSync protocol)
    header: str | None = None


DOCUMENTS = [
    "{ listEvents(limit: 2) { items { id name } nextToken } }",
    'query G($id: ID!) { getEvent(id: $id) { id name comments { items { content } } } }',
    'mutation { createEvent(name: "n", when: "w", where: "x", description: "d") { id name } }',
    'mutation D($id: ID!) { deleteEvent(id: $id) { id } }',
    'mutation { commentOnEvent(eventId: "e", content: "c", createdAt: "t") { eventId content } }',
    'subscription { subscribeToEventComments(eventId: "e") { eventId content } }',
    "{ __schema { types { name fields { name } } } }",
    "{ __typename }",
    "query A { listEvents { nextToken } } query B { __typename }",
    "fragment F on Event { id ...F } { listEvents { items { ...F } } }",
    "{ listEvents { items { id } } } fragment U on Nope { x }",
    "{ a: listEvents { nextToken } a: getEvent(id: 1) { id } }",
    "{ listEvents(limit: -1) { nextToken } }",
    "{ listEvents(limit: 99999999999999999999) { nextToken } }",
    '{ listEvents(nextToken: "\\u0000\\ud800") { nextToken } }',
    '{ getEvent(id: "\' OR 1=1 --") { id } }',
    '{ getEvent(id: "#set($x = $util.error(\\"boom\\"))") { id } }',
    '{ getEvent(id: "${jndi:ldap://x}") { id } }',
    "{ listEvents @include(if: true) { nextToken } }",
    "{ listEvents @skip { nextToken } }",
    '{ listEvents @skip(if: "no") { nextToken } }',
    "{ listEvents @aws_api_key { nextToken } }",
    '{ listEvents @aws_cognito_user_pools(cognito_groups: 5) { nextToken } }',
    "query Q($v: Int = \"x\") { listEvents(limit: $v) { nextToken } }",
    "query Q($v: Int) { listEvents(limit: $w) { nextToken } }",
    "query Q($v: [[[Int]]]!) { __typename }",
    "{ listEvents { items { id(x: 1) } } }",
    "{ listEvents { items } }",
    "{ listEvents { items { nope } } }",
    "{",
    "}",
    "",
    "   ",
    "#",
    "{ listEvents " + "{ items " * 300 + "}" * 300 + " }",
    "{ " + " ".join(f"a{i}: __typename" for i in range(2000)) + " }",
    "{ listEvents(" + ", ".join(f"limit: {i}" for i in range(300)) + ") { nextToken } }",
    "{ " + "listEvents { nextToken } " * 200 + "}",
    "query " + "Q" * 5000 + " { __typename }",
    "{ __typename @" + "d" * 3000 + " }",
    "schema { query: Query } type X { a: Int }",
    "extend type Query { x: Int }",
    "directive @x on FIELD { __typename }",
    '"""docstring""" query { __typename }',
    "{ listEvents(limit: $undefined) { nextToken } }",
    "subscription { subscribeToEventComments(eventId: 5) { eventId } }",
    "subscription S { subscribeToEventComments(eventId: \"e\") { eventId } __typename }",
    "{ ...on Query { __typename } }",
    "{ ... @skip(if: false) { __typename } }",
    "\ufeff{ __typename }",
    "{ __typename }\x00",
    "{ \u202e__typename }",
]

VARIABLES: list[object] = [None, {}, {"id": "1"}, {"id": 1}, {"id": None}, {"id": [1]}, {"id": {"a": 1}},
                           {"id": True}, {"id": 1e308}, {"id": "x" * 10_000}, {"v": [[[1]]]}, [], "x", 5,
                           {"__proto__": {"admin": True}}, {"id": "\u0000"}]

OPERATION_NAMES: list[object] = [None, "A", "B", "Q", "", 5, ["A"], {"a": 1}, "x" * 1000]

ALPHABET = ['"', "'", "\\", "{", "}", "[", "]", "(", ")", "$", "@", "!", ":", "\x00", "\u0085", "\u2028", "\ud83d",
            "\U0001f600", "\x7f", "#", ".", "...", "\n", "\r", "\t", "\\u0000", "\\ud800"]


def mutations(rng: random.Random) -> list[Callable[[str], str]]:
    def truncate(s: str) -> str:
        return s[: rng.randrange(len(s) + 1)] if s else s

    def drop(s: str) -> str:
        if not s:
            return s
        i = rng.randrange(len(s))
        return s[:i] + s[i + 1:]

    def insert(s: str) -> str:
        i = rng.randrange(len(s) + 1)
        return s[:i] + rng.choice(ALPHABET) + s[i:]

    def duplicate(s: str) -> str:
        if not s:
            return s
        i = rng.randrange(len(s))
        j = rng.randrange(i, min(len(s), i + 40) + 1)
        return s[:j] + s[i:j] * rng.randint(2, 20) + s[j:]

    def swap_quotes(s: str) -> str:
        return s.replace('"', "'")

    def nest(s: str) -> str:
        n = rng.choice([10, 100, 600])
        return "{" * n + s + "}" * n

    return [lambda s: s, truncate, drop, insert, insert, duplicate, swap_quotes, nest, str.upper,
            lambda s: s * 3, lambda s: s + "\x00", lambda s: s.replace(" ", "\u00a0")]


def _post(body: bytes, headers: dict[str, str] | list[tuple[str, str]] | None = None, **kw: object) -> bytes:
    base: list[tuple[str, str]] = [("x-api-key", KEY), ("content-type", "application/json")]
    extra = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in extra}
    items = [h for h in base if h[0] not in names] + extra
    return request_bytes(body, headers=items, **kw)  # type: ignore[arg-type]


def http_cases() -> Iterator[HttpCase]:
    rng = random.Random(SEED)
    muts = mutations(rng)
    # documents x mutations, inside a well-formed envelope (the GraphQL layer sees them)
    for i, doc in enumerate(DOCUMENTS):
        for j, mutate in enumerate(muts):
            query = mutate(doc)
            envelope = {"query": query, "variables": rng.choice(VARIABLES), "operationName": rng.choice(
                OPERATION_NAMES)}
            body = json.dumps(envelope, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
            yield HttpCase(f"doc{i}-m{j}", _post(body))
    # raw bodies x mutations (the JSON layer sees them)
    bodies = ['{"query":"{ __typename }"}', '{"query":"{ listEvents { nextToken } }","variables":{}}',
              '[{"query":"{ __typename }"},{"query":"{ __typename }"}]', '{"query":null}', '{"query":["x"]}',
              '{"query":"{ __typename }","extensions":{"persistedQuery":{"sha256Hash":"x"}}}', "null", "true",
              '"{ __typename }"', "1e999", '{"query":"{ __typename }"' + "}" * 50, "{" * 2000, "[" * 2000]
    for i, body in enumerate(bodies):
        for j, mutate in enumerate(muts):
            yield HttpCase(f"body{i}-m{j}", _post(mutate(body).encode("utf-8", "surrogatepass")))
    # encodings and content types
    for i, ctype in enumerate(["application/json", "text/plain", "application/graphql", "multipart/form-data",
                               "application/x-www-form-urlencoded", "application/json; charset=utf-16", "", "*/*"]):
        for j, raw in enumerate([b'{"query":"{ __typename }"}', b"{ __typename }",
                                 '{"query":"{ __typename }"}'.encode("utf-16"), b"\xef\xbb\xbf{\"query\":\"{ __typename }\"}",
                                 b"query=%7B__typename%7D"]):
            yield HttpCase(f"ctype{i}-{j}", _post(raw, {"content-type": ctype}))
    # credentials: nothing may be served without the key
    q = b'{"query":"mutation { createEvent(name: \\"x\\", when: \\"w\\", where: \\"x\\", description: \\"d\\") { id } }"}'
    bad_keys = ["", "da2-", KEY.upper(), KEY[:-1], KEY + "\x00", "null", "undefined",
                "da2-gqlsynclocaldevelopmentkey02", KEY * 2, "' OR '1'='1", "*"]
    for i, key in enumerate(bad_keys):
        for j, doc in enumerate([q, b'{"query":"{ listEvents { nextToken } }"}', b'{"query":"{ __typename }"}']):
            yield HttpCase(f"badkey{i}-{j}", _post(doc, {"x-api-key": key}), authorized=False)
            yield HttpCase(f"badauth{i}-{j}", request_bytes(doc, headers={
                "authorization": key or "Bearer", "content-type": "application/json"}), authorized=False)
    for j, doc in enumerate([q, b"{", b""]):
        yield HttpCase(f"nokey-{j}", request_bytes(doc, headers={"content-type": "application/json"}),
                       authorized=False)
        yield HttpCase(f"dupkey-{j}", _post(doc, [("x-api-key", "wrong"), ("x-api-key", KEY)]), authorized=None)
        yield HttpCase(f"keycase-{j}", _post(doc, [("X-API-KEY", KEY)]), authorized=None)
    # framing: lengths, chunking, versions, methods, paths
    body = b'{"query":"{ __typename }"}'
    framings: list[tuple[str, bytes]] = [
        ("short-length", _post(body + b"GARBAGE", {"content-length": str(len(body))})),
        ("zero-length", _post(body, {"content-length": "0"})),
        ("chunked", _post(chunked(body, 3), {"transfer-encoding": "chunked"})),
        ("chunked-bad-size", _post(b"zz\r\n" + body + b"\r\n0\r\n\r\n", {"transfer-encoding": "chunked"})),
        ("chunked-ext", _post(b"%x;ext=1\r\n%s\r\n0\r\n\r\n" % (len(body), body), {"transfer-encoding": "chunked"})),
        ("chunked-trailer", _post(b"%x\r\n%s\r\n0\r\nx-t: 1\r\n\r\n" % (len(body), body),
                                  {"transfer-encoding": "chunked"})),
        ("te-gzip", _post(body, {"transfer-encoding": "gzip"})),
        ("te-and-cl", _post(chunked(body), [("transfer-encoding", "chunked"), ("content-length", "3")])),
        ("two-cl", _post(body, [("content-length", str(len(body))), ("content-length", "1")])),
        ("http10", _post(body, version="HTTP/1.0")),
        ("http10-no-host", request_bytes(body, headers={"x-api-key": KEY}, version="HTTP/1.0", host="")),
        ("http2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("http09", b"GET /graphql\r\n\r\n"),
        ("expect-100", _post(body, {"expect": "100-continue"})),
        ("expect-bad", _post(body, {"expect": "lots"})),
        ("keep-alive-close", _post(body, {"connection": "close"})),
        ("upgrade-ws-post", _post(body, {"upgrade": "websocket", "connection": "upgrade"})),
        ("upgrade-h2c", _post(body, {"upgrade": "h2c", "connection": "upgrade, http2-settings",
                                     "http2-settings": "AAMAAABkAAQAAP__"})),
        ("ws-get-no-key", request_bytes(None, method="GET", path="/graphql/realtime",
                                        headers={"upgrade": "websocket", "connection": "upgrade"})),
        ("get-graphql", request_bytes(None, method="GET", headers={"accept": "application/json"})),
        ("get-query-string", request_bytes(None, method="GET", path="/graphql?query=%7B__typename%7D")),
        ("head", request_bytes(None, method="HEAD")),
        ("options", request_bytes(None, method="OPTIONS", headers={"origin": "http://x",
                                                                   "access-control-request-method": "POST"})),
        ("put", _post(body, method="PUT")), ("delete", _post(body, method="DELETE")),
        ("connect", request_bytes(None, method="CONNECT", path="127.0.0.1:1")),
        ("trace", request_bytes(None, method="TRACE")), ("lower-method", _post(body, method="post")),
        ("path-dots", _post(body, path="/../graphql")), ("path-double", _post(body, path="//graphql")),
        ("path-encoded", _post(body, path="/%67raphql")), ("path-null", _post(body, path="/graphql%00")),
        ("path-absolute", _post(body, path="http://evil/graphql")), ("path-star", _post(body, path="*")),
        ("path-api", _post(body, path="/v1/apis/nope/graphql")), ("path-api-dots", _post(body, path="/v1/apis/../graphql")),
        ("path-static", request_bytes(None, method="GET", path="/_gqlsync/static/../../etc/passwd")),
        ("path-long", _post(body, path="/graphql/" + "a" * 60_000)),
        ("query-long", _post(body, path="/graphql?" + "a=1&" * 20_000)),
        ("header-long", _post(body, {"x-long": "v" * 70_000})),
        ("header-many", _post(body, [(f"x-{i}", "v") for i in range(3000)])),
        ("header-nul", _post(body, {"x-nul": "a\x00b"})),
        ("header-latin1", _post(body, {"x-l": "\xe9\xff"})),
        ("header-no-colon", _post(body).replace(b"\r\n\r\n", b"\r\nnocolon\r\n\r\n", 1)),
        ("header-space-name", _post(body, {"x bad": "v"})),
        ("header-folded", _post(body).replace(b"\r\n\r\n", b"\r\nx-f: a\r\n  folded\r\n\r\n", 1)),
        ("bare-lf", _post(body).replace(b"\r\n", b"\n")),
        ("bare-cr", _post(body).replace(b"\r\n", b"\r")),
        ("tls-hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64))),
        ("binary-junk", bytes(range(256)) + b"\r\n\r\n"), ("nul-line", b"\x00" * 100 + b"\r\n\r\n"),
        ("spaces", b"POST  /graphql  HTTP/1.1\r\n\r\n"), ("version-junk", _post(body, version="HTTP/1.x")),
        ("version-2", _post(body, version="HTTP/2")), ("host-many", _post(body, [("host", "a"), ("host", "b")])),
        ("host-empty", request_bytes(body, headers={"x-api-key": KEY}, host="")),
        ("host-evil", request_bytes(body, headers={"x-api-key": KEY}, host="evil.example\x00:1")),
        ("cl-negative", _post(body, {"content-length": "-5"})), ("cl-plus", _post(body, {"content-length": "+26"})),
        ("cl-hex", _post(body, {"content-length": "0x1a"})), ("cl-space", _post(body, {"content-length": " 26 "})),
        ("cl-huge", _post(b"", {"content-length": "9" * 40})),
    ]
    for name, data in framings:
        yield HttpCase(f"frame-{name}", data, authorized=None)
    # bodies over the limit, every way (the hostile servers run with maxBodyBytes = 64 KiB)
    big = b'{"query":"' + b"a" * (200 * 1024) + b'"}'
    yield HttpCase("big-cl", _post(big))
    yield HttpCase("big-chunked", _post(chunked(big, 1000), {"transfer-encoding": "chunked"}))
    yield HttpCase("big-http10", _post(big, version="HTTP/1.0", content_length=False), authorized=None)
    yield HttpCase("big-close", _post(big, {"connection": "close"}))
    yield HttpCase("big-unauth", _post(big, {"x-api-key": "nope"}), authorized=False)
    # pipelining is covered by test_hostile_input; here: a second request after a malformed one
    for i in range(20):
        yield HttpCase(f"pipelined-{i}", _post(body) + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))


def _ws_messages(rng: random.Random) -> list[str]:
    auth = {"host": "127.0.0.1", "x-api-key": KEY}
    sub = "subscription { subscribeToEventComments(eventId: \"e\") { eventId content } }"
    seeds: list[object] = [
        {"type": "connection_init"}, {"type": "connection_init", "payload": {"x-api-key": KEY}},
        {"type": "connection_init", "payload": "x"}, {"type": "ka"}, {"type": "ping"}, {"type": "pong"},
        {"type": "start", "id": "1", "payload": {"data": json.dumps({"query": sub}),
                                                  "extensions": {"authorization": auth}}},
        {"type": "start", "id": "1", "payload": {"data": json.dumps({"query": sub})}},
        {"type": "start", "id": "1", "payload": {"data": json.dumps({"query": sub}),
                                                  "extensions": {"authorization": {"x-api-key": "wrong"}}}},
        {"type": "start", "id": "1", "payload": {"data": {"query": sub}, "extensions": {"authorization": auth}}},
        {"type": "start", "id": "1", "payload": {"data": "{bad", "extensions": {"authorization": auth}}},
        {"type": "start", "id": 5, "payload": {}}, {"type": "start", "id": "", "payload": None},
        {"type": "start", "id": "q", "payload": {"data": json.dumps({"query": "{ listEvents { nextToken } }"}),
                                                  "extensions": {"authorization": auth}}},
        {"type": "start", "id": "m", "payload": {"data": json.dumps({"query": DOCUMENTS[2]}),
                                                  "extensions": {"authorization": auth}}},
        {"type": "stop", "id": "1"}, {"type": "stop"}, {"type": "stop", "id": ["x"]},
        {"type": "subscribe", "id": "1", "payload": {"query": sub}},
        {"type": "subscribe", "id": "2", "payload": {"query": "{ __typename }"}},
        {"type": "subscribe", "id": "3", "payload": {"query": DOCUMENTS[2]}},
        {"type": "subscribe", "id": "4", "payload": {"query": sub, "variables": [1]}},
        {"type": "subscribe", "id": "5", "payload": {"query": 5}}, {"type": "subscribe", "id": "6"},
        {"type": "complete", "id": "1"}, {"type": "complete", "id": 1}, {"type": "connection_terminate"},
        {"type": None}, {"type": 5}, {"type": ["start"]}, {}, [], "start", None, 1e400, {"type": "x" * 5000},
        {"type": "start", "id": "d", "payload": {"data": "[" * 900 + "]" * 900,
                                                  "extensions": {"authorization": auth}}},
    ]
    texts = [s if isinstance(s, str) and s.startswith("{") else json.dumps(s) for s in seeds]
    texts += ["", " ", "{", "[" * 5000, '{"type":"ka"' + "}" * 100, "\ud800", "\x00", "\ufeff{\"type\":\"ka\"}",
              "x" * 9000]
    muts = mutations(rng)
    out: list[str] = []
    for text in texts:
        for mutate in muts:
            out.append(mutate(text))
    return out


def _frames(text: str) -> bytes:
    return frame(TEXT, text.encode("utf-8", "surrogatepass"))


RAW_FRAMES: list[tuple[str, bytes]] = [
    ("binary", frame(BINARY, b'{"type":"ka"}')), ("binary-empty", frame(BINARY, b"")),
    ("bad-utf8", frame(TEXT, b"\xff\xfe\xfd")), ("overlong-utf8", frame(TEXT, b"\xc0\xaf")),
    ("surrogate-utf8", frame(TEXT, b"\xed\xa0\x80")), ("truncated-utf8", frame(TEXT, b'{"a":"\xe2\x82"}')),
    ("fragmented", frame(TEXT, b'{"type"', fin=False) + frame(CONT, b':"ka"}')),
    ("fragment-bad-utf8-split", frame(TEXT, b'{"a":"\xe2', fin=False) + frame(CONT, b'\x82\xac"}')),
    ("cont-without-start", frame(CONT, b"x")), ("interleaved-text", frame(TEXT, b"{", fin=False) + frame(TEXT, b"}")),
    ("ping", frame(PING, b"p")), ("pong", frame(PONG, b"p")), ("ping-fragmented", frame(PING, b"p", fin=False)),
    ("ping-125", frame(PING, b"p" * 125)), ("ping-126", frame(PING, b"p" * 126)),
    ("close-empty", frame(CLOSE, b"")), ("close-1000", frame(CLOSE, struct.pack("!H", 1000))),
    ("close-1byte", frame(CLOSE, b"\x03")), ("close-bad-code", frame(CLOSE, struct.pack("!H", 999))),
    ("close-1005", frame(CLOSE, struct.pack("!H", 1005))), ("close-bad-reason", frame(CLOSE, b"\x03\xe8\xff")),
    ("close-4000", frame(CLOSE, struct.pack("!H", 4000) + b"bye")),
    ("reserved-opcode-3", frame(0x3, b"x")), ("reserved-opcode-b", frame(0xB, b"x")),
    ("rsv1", frame(TEXT, b"{}", rsv=4)), ("rsv3", frame(TEXT, b"{}", rsv=1)), ("unmasked", frame(TEXT, b"{}", mask=False)),
    ("huge", frame(TEXT, b'"' + b"x" * (2 * 1024 * 1024) + b'"')),
    ("huge-binary", frame(BINARY, b"x" * (2 * 1024 * 1024))),
    ("huge-fragmented", frame(TEXT, b'"', fin=False) + b"".join(frame(CONT, b"x" * 65536, fin=False) for _ in range(24))),
    ("declared-2-63", b"\x81\xff" + struct.pack("!Q", 1 << 62) + b"\x00\x00\x00\x00"),
    ("many-tiny", b"".join(frame(TEXT, b'{"type":"ka"}') for _ in range(300))),
    ("many-fragments", frame(TEXT, b"{", fin=False) + b"".join(frame(CONT, b" ", fin=False) for _ in range(2000))
     + frame(CONT, b"}")),
]

HEADERS_PARAMS: list[tuple[str, bool]] = [
    (appsync_header({"host": "127.0.0.1", "x-api-key": KEY}), True),
    (appsync_header({"host": "127.0.0.1", "x-api-key": KEY}).rstrip("="), True),
    (appsync_header({"x-api-key": "wrong"}), False), (appsync_header({}), False), ("", False), ("%%%", False),
    ("e30=", False), ("W10=", False), (appsync_header({"x-api-key": [KEY]}), False),
    (appsync_header({"authorization": "Bearer x.y.z"}), False), ("A" * 7000, False),
]


def ws_cases() -> Iterator[WsCase]:
    rng = random.Random(SEED + 1)
    messages = _ws_messages(rng)
    good = HEADERS_PARAMS[0][0]
    for protocol in ("appsync", "transport-ws"):
        init = {"type": "connection_init", "payload": {"x-api-key": KEY}} if protocol == "transport-ws" else {
            "type": "connection_init"}
        for i, text in enumerate(messages):
            frames: tuple[bytes, ...] = (_frames(text),)
            if rng.random() < 0.7:
                frames = (_frames(json.dumps(init)), *frames)
            yield WsCase(f"{protocol}-msg{i}", protocol, frames, header=good)
        for name, raw in RAW_FRAMES:
            yield WsCase(f"{protocol}-{name}", protocol, (_frames(json.dumps(init)), raw), header=good)
    for i, (header, ok) in enumerate(HEADERS_PARAMS):
        for j, text in enumerate(['{"type":"connection_init"}', messages[6 * 12]]):
            yield WsCase(f"handshake{i}-{j}", "appsync", (_frames(text),), authorized=ok, header=header)
    for j, payload in enumerate([{}, {"x-api-key": "wrong"}, {"headers": {"x-api-key": "wrong"}}, "x", None]):
        init = json.dumps({"type": "connection_init", "payload": payload})
        sub = json.dumps({"type": "subscribe", "id": "1", "payload": {"query": "{ __typename }"}})
        yield WsCase(f"transport-badinit{j}", "transport-ws", (_frames(init), _frames(sub)), authorized=False)


def corpus_size() -> tuple[int, int]:
    return sum(1 for _ in http_cases()), sum(1 for _ in ws_cases())
