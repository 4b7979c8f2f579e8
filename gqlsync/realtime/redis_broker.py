"""Redis broker: a mutation on any gqlsync process reaches subscribers on every process.

Each process delivers its own events locally at once and appends them, tagged with its node id, to a Redis stream
(XADD, trimmed to about `MAX_STREAM` entries); every process reads the stream from the last entry it has seen
(XREAD BLOCK) and delivers what other nodes wrote. Reading from a position, rather than pub/sub, is what makes a
reconnect lossless: events written while a reader was away (Redis restarting, a network blip, the reader's own
backoff) are read when it is back, whichever of the writer and the reader reconnects first. While Redis is away,
appends wait in a bounded buffer (flushed in order when it is back) and the reader reconnects with backoff, so
delivery resumes without restarting gqlsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gqlsync.realtime.broker import Deliver

log = logging.getLogger("gqlsync.realtime.redis")

MAX_BUFFERED = 10_000
#: Entries the stream keeps (approximately): how far behind a reader may fall and still read everything.
MAX_STREAM = 10_000
#: Entries one XREAD returns at most.
READ_COUNT = 200
#: How long start() waits for Redis to answer before the server goes on without it (the reader keeps trying).
START_WAIT_SECONDS = 3.0


class RedisBroker:
    def __init__(self, url: str, channel: str = "gqlsync:events") -> None:
        self.url = url
        self.channel = channel
        self.node = uuid.uuid4().hex
        self._client: redis.Redis | None = None
        self._deliver: Deliver | None = None
        self._reader: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._pending: deque[str] = deque()
        self.connected = asyncio.Event()
        self.dropped = 0
        self._closing = False
        self._started_ms = 0

    def _redis(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5,
                                                health_check_interval=10)
        return self._client

    async def start(self, deliver: Deliver) -> None:
        """Start reading; returns once the reader knows where the stream ends (or Redis did not answer within
        START_WAIT_SECONDS), so a subscriber this node accepts after start() gets every event appended after it.
        Started while Redis is away, the reader begins at this moment by the clock (stream ids are Redis's
        milliseconds) once Redis is back: events other nodes appended meanwhile are read, not skipped."""
        self._deliver = deliver
        self._started_ms = int(time.time() * 1000)
        self._reader = asyncio.ensure_future(self._read_forever())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), START_WAIT_SECONDS)

    async def close(self) -> None:
        self._closing = True
        for task in (self._reader, self._flusher):
            if task is not None:
                await _cancel(task)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def publish(self, api_id: str, events: list[dict[str, Any]]) -> None:
        if self._deliver is not None:
            await self._deliver(api_id, events)
        message = json.dumps({"node": self.node, "api": api_id, "events": events}, separators=(",", ":"), default=str)
        if self._pending:
            self._buffer(message)
            return
        try:
            await self._append(message)
        except (RedisError, OSError) as exc:
            log.warning("Redis unavailable; buffering events for other processes", extra={"error": str(exc)})
            self._buffer(message)

    async def _append(self, message: str) -> None:
        await self._redis().xadd(self.channel, {"m": message}, maxlen=MAX_STREAM, approximate=True)

    def _buffer(self, message: str) -> None:
        if len(self._pending) >= MAX_BUFFERED:
            self._pending.popleft()
            self.dropped += 1
            log.error("Redis buffer full: the oldest event was not delivered to other processes",
                      extra={"dropped_total": self.dropped})
        self._pending.append(message)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        delay = 0.1
        while self._pending and not self._closing:
            try:
                await self._append(self._pending[0])
                self._pending.popleft()
                delay = 0.1
            except (RedisError, OSError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        if not self._pending:
            log.info("Redis is back; buffered events were published")

    async def _read_forever(self) -> None:
        delay = 0.1
        last: str | None = None  # the stream position read up to; fixed at the first connection
        missed_start = False  # the first connection failed: start at `_started_ms`, not at the end found later
        while not self._closing:
            try:
                client = self._redis()
                if last is None and not missed_start:
                    newest = await client.xrevrange(self.channel, count=1)
                    last = _text(newest[0][0]) if newest else "0-0"
                elif last is None:
                    last = f"{self._started_ms}-0"
                self.connected.set()
                delay = 0.1
                while not self._closing:
                    batch: Any = await client.xread({self.channel: last}, count=READ_COUNT, block=1000)
                    for _, entries in batch or ():
                        for entry_id, fields in entries:
                            last = _text(entry_id)
                            await self._on_message(fields.get(b"m"))  # the client does not decode replies
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError, RedisError) as exc:
                missed_start = last is None
                if self.connected.is_set():
                    log.warning("lost Redis; reconnecting", extra={"error": str(exc)})
                self.connected.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _on_message(self, data: Any) -> None:
        try:
            body = json.loads(data)
        except (TypeError, ValueError):
            log.warning("ignoring a malformed message on the events channel")
            return
        if body.get("node") == self.node or self._deliver is None:
            return
        try:
            # "app": what nodes before API ids sent, so a rolling upgrade loses no event
            await self._deliver(str(body.get("api") or body.get("app")), list(body.get("events") or []))
        except Exception:
            log.exception("delivering an event from Redis failed")


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait for it, cancelling again while it has not ended.

    redis-py can swallow a cancellation that lands while one of its internal timeouts fires (redis/redis-py#2551), so
    a single cancel() may leave the reader waiting for ever; the loop also ends on its own at `_closing`.
    """
    for _ in range(50):
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=0.2)
        if done:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
            return
    log.error("a Redis broker task did not end when cancelled; leaving it behind")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
