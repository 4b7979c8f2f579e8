"""The streams worker: keeps each `streams:` route's index equal to its table, from the table's DynamoDB stream.

Per route (a table feeding an index) it holds a lease in the checkpoint store, reads the stream's shards in order
(a child only once its parent is read to the end), and applies each batch as `_bulk`. Within a batch only a
document's last record is applied, and before applying, the batch's end is written down (`inflight`): after a
crash the first batch reads at least that far, so a replay applies each document's newest image and never an
older one over a newer. Positions are saved after each applied batch. When the cluster cannot be reached the
batch is retried with backoff, positions unchanged, until it comes back.

Backfill (the first start with no positions, a replaced stream, `gqlsync reindex`): the stream is read from the
current position into a buffer while the table is scanned into the index (parallel segments), then the buffer
(each document's last record) is applied and the stream followed from there — no write missed, none applied
out of order. A backfill also removes documents the table no longer has, unless other tables feed the index.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from gqlsync.app.model import StreamConfig
from gqlsync.errors import DataSourceError
from gqlsync.streams.checkpoints import CheckpointStore, LeaseLostError, StreamState
from gqlsync.streams.handler import DeadLetters, Outcome, document_id, handle
from gqlsync.streams.metrics import StreamMetrics
from gqlsync.streams.reader import Shard, StreamGoneError, StreamReader, TrimmedError, error_code, lambda_shape

log = logging.getLogger("gqlsync.streams")

#: A bulk request holds at most this many bytes of documents (clusters refuse bodies over 100 MB by default).
BULK_BYTES = 5 * 1024 * 1024
#: Documents buffered (each one's last record) before a catch-up applies what it has.
BUFFER_DOCS = 200_000


class SearchIndex:
    """The index side of a route: `_bulk`, searches and refreshes through the route's search data source."""

    def __init__(self, source: Any, index: str) -> None:
        self.source = source
        self.index = index

    async def bulk(self, body: list[dict[str, Any]], **params: Any) -> Any:
        text = "".join(json.dumps(line, separators=(",", ":"), default=str) + "\n" for line in body)
        return await self.source.request("POST", "/_bulk", text, query=params,
                                         headers={"content-type": "application/x-ndjson"})

    async def ids(self, page: int = 1000) -> Any:
        """Every document id in the index, in id order."""
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"size": page, "_source": False, "sort": [{"_id": "asc"}],
                                    "query": {"match_all": {}}}
            if after is not None:
                body["search_after"] = after
            try:
                answer = await self.source.request("POST", f"/{self.index}/_search", body)
            except DataSourceError as exc:
                if exc.error_type == "index_not_found_exception":
                    return
                raise
            hits = answer.get("hits", {}).get("hits", [])
            for hit in hits:
                yield str(hit["_id"])
            if len(hits) < page:
                return
            after = hits[-1]["sort"]


def unreachable(exc: BaseException) -> bool:
    """A failure worth waiting out (the cluster or DynamoDB is down or busy), not a bad record."""
    if isinstance(exc, DataSourceError):
        return True  # the whole bulk failed: cluster unreachable, 5xx, 429, auth; per-item failures never raise
    if isinstance(exc, (EndpointConnectionError, ConnectionError, asyncio.TimeoutError, OSError)):
        return True
    if isinstance(exc, ClientError):
        return error_code(exc) in ("ProvisionedThroughputExceededException", "LimitExceededException",
                                   "ThrottlingException", "InternalServerError", "ServiceUnavailable",
                                   "RequestLimitExceeded")
    return False


@dataclass(frozen=True)
class WorkerOptions:
    #: seconds between reads of an idle stream (AWS allows 5 GetRecords per second per shard)
    poll_seconds: float = 0.25
    lease_seconds: float = 15.0
    #: turn on a table's stream when it has none (`gqlsync dev`, `--create-tables`)
    enable_streams: bool = False
    scan_segments: int = 4
    #: how often the shard list is read again (new shards appear when one splits or closes)
    shard_refresh_seconds: float = 10.0
    max_backoff_seconds: float = 30.0


@dataclass
class Batch:
    """Records read in one round: each document's last one, and how far each shard got."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    read: int = 0
    last: dict[str, str] = field(default_factory=dict)
    finished: list[str] = field(default_factory=list)
    newest: float | None = None

    def add(self, shard: str, record: dict[str, Any]) -> None:
        ddb = record.get("dynamodb") or {}
        keys = ddb.get("Keys") or {}
        # a record without keys cannot collapse with another: it goes through alone (and is dead-lettered)
        doc = document_id(keys) if keys else f"\0{shard}:{ddb.get('SequenceNumber')}"
        self.records.pop(doc, None)  # re-inserted at the end: the batch keeps the order of last writes
        self.records[doc] = record
        self.read += 1
        if ddb.get("SequenceNumber"):
            self.last[shard] = str(ddb["SequenceNumber"])
        created = ddb.get("ApproximateCreationDateTime")
        if isinstance(created, (int, float)):
            self.newest = created if self.newest is None else max(self.newest, created)


class RouteWorker:
    """One route: its lease, its positions, its batches."""

    def __init__(self, route: StreamConfig, reader: StreamReader, index: SearchIndex, store: CheckpointStore,
                 dead_letters: DeadLetters, metrics: StreamMetrics, owner: str,
                 options: WorkerOptions | None = None, *, shared_index: bool = False) -> None:
        self.route = route
        self.reader = reader
        self.index = index
        self.store = store
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.owner = owner
        self.options = options or WorkerOptions()
        self.shared_index = shared_index
        self.key = route.key
        self._iterators: dict[str, str] = {}
        self._shards: list[Shard] = []
        self._shards_read_at = 0.0
        self._state = StreamState()
        self._saved_at = 0.0
        #: set once the route has applied everything it has read at least once (tests and `dev` wait on it)
        self.caught_up = asyncio.Event()
        #: what the route is doing ("following", "backfilling"); `status` adds what is going wrong, if anything
        self.phase = "starting"
        self.status = "starting"

    def _index_for(self, _table: str) -> str:
        return self.route.index_name

    # -- the loop
    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                state = await self.store.acquire(self.key, self.owner, self.options.lease_seconds)
                if state is None:
                    self.status = "standby (another worker holds the lease)"
                    await asyncio.sleep(self.options.lease_seconds / 3)
                    continue
                self._state = state
                self._saved_at = time.monotonic()
                await self._follow()
            except asyncio.CancelledError:
                raise
            except LeaseLostError as exc:
                log.warning("stream lease lost", extra={"route": self.key, "reason": str(exc)})
                self._iterators.clear()
            except StreamGoneError as exc:
                self.status = f"waiting: {exc}"
                self.metrics.failure(self.key, "stream")
                log.warning("stream unavailable", extra={"route": self.key, "reason": str(exc)})
                self._iterators.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.options.max_backoff_seconds)
            except Exception as exc:
                self.status = f"failing: {exc}"
                self.metrics.failure(self.key, "unreachable" if unreachable(exc) else "error")
                log.warning("streams worker retrying", extra={"route": self.key, "reason": repr(exc)},
                            exc_info=not unreachable(exc))
                self._iterators.clear()
                await asyncio.sleep(backoff * (1 + random.random() / 4))
                backoff = min(backoff * 2, self.options.max_backoff_seconds)
            else:
                backoff = 0.5

    async def close(self) -> None:
        try:
            await self.store.release(self.key, self.owner)
        except Exception as exc:  # the lease lapses by itself
            log.warning("could not release the stream lease", extra={"route": self.key, "reason": repr(exc)})

    async def _save(self) -> None:
        await self.store.save(self.key, self._state, self.owner, self.options.lease_seconds)
        self._saved_at = time.monotonic()

    def _adopt(self, arn: str) -> bool:
        """Start over on `arn` when the positions held belong to another stream (or to none); True if so."""
        state = self._state
        if state.stream == arn:
            return False
        if state.stream is not None:
            log.warning("the table's stream was replaced: its positions no longer apply",
                        extra={"route": self.key, "old": state.stream, "new": arn})
        self._state = StreamState(stream=arn, backfilled_at=state.backfilled_at,
                                  reindex_requested=state.reindex_requested, owner=state.owner,
                                  lease_until=state.lease_until)
        self._iterators.clear()
        return True

    async def backfill_once(self) -> int | None:
        """`gqlsync reindex` with no worker running this route: take the lease, scan the table into the index,
        leave the positions the stream goes on from, give the lease back. None when another worker holds it."""
        state = await self.store.acquire(self.key, self.owner, self.options.lease_seconds)
        if state is None:
            return None
        self._state = state
        try:
            arn = await self.reader.stream_arn(enable=self.options.enable_streams)
            return await self._backfill(arn, fresh=self._adopt(arn))
        finally:
            await self.close()

    async def _follow(self) -> None:
        arn = await self.reader.stream_arn(enable=self.options.enable_streams)
        if self._adopt(arn):
            if self.route.backfill or self._state.backfilled_at is not None:
                await self._backfill(arn, fresh=True)
            else:
                await self._save()
        elif self._state.backfilling:  # the last holder stopped in the middle of one
            await self._backfill(arn, fresh=not self._state.shards)
        state = self._state
        self.status = self.phase = "following"
        catch_up = bool(state.inflight) or not state.shards
        while True:
            if self._state.reindex_requested:
                await self._backfill(arn, fresh=False)
            batch = await self._read(arn, to_tip=catch_up)
            catch_up = False
            if batch.read or batch.finished:
                await self._apply_batch(batch)
            else:
                self.caught_up.set()
                if time.monotonic() - self._saved_at > self.options.lease_seconds / 3:
                    await self._save()  # renews the lease, and sees reindex requests
                await asyncio.sleep(self.options.poll_seconds)

    async def _apply_batch(self, batch: Batch) -> None:
        state = self._state
        if batch.records:
            state.inflight = dict(batch.last)
            await self._save()
            await self._apply(list(batch.records.values()))
        state.shards.update(batch.last)
        state.finished = sorted({*state.finished, *batch.finished})
        state.inflight = {}
        await self._save()
        if batch.newest is not None:
            self.metrics.lag(self.key, max(0.0, time.time() - batch.newest))
        if batch.read < self.route.batch_size:
            self.caught_up.set()

    # -- reading
    async def _current_shards(self, arn: str, force: bool = False) -> list[Shard]:
        now = time.monotonic()
        if force or not self._shards or now - self._shards_read_at > self.options.shard_refresh_seconds:
            self._shards = await self.reader.shards(arn)
            self._shards_read_at = now
        return self._shards

    def _readable(self, shards: list[Shard], batch: Batch) -> list[Shard]:
        """Shards not read to their end whose parent is (before, or in this batch: its records come first)."""
        done = {*self._state.finished, *batch.finished}
        present = {s.id for s in shards}
        return [s for s in shards if s.id not in done and (s.parent is None or s.parent in done
                                                            or s.parent not in present)]

    async def _iterator(self, arn: str, shard: str, position: str | None) -> str:
        it = self._iterators.get(shard)
        if it is None:
            try:
                it = await self.reader.iterator(arn, shard, position)
            except TrimmedError:
                log.warning("records were trimmed from the stream before they were applied: reindexing",
                            extra={"route": self.key, "shard": shard, "after": position})
                self._state.reindex_requested = time.time()
                it = await self.reader.iterator(arn, shard, None)
            self._iterators[shard] = it
        return it

    async def _read(self, arn: str, *, to_tip: bool, into: Batch | None = None) -> Batch:
        """One round over the readable shards (`to_tip`: each read until it has nothing more, up to the buffer
        limit)."""
        batch = into or Batch()
        closed_one = True
        while closed_one:  # a shard read to its end makes its children readable in the same round
            closed_one = False
            for shard in self._readable(await self._current_shards(arn), batch):
                if shard.id in batch.finished:
                    continue
                while True:
                    position = batch.last.get(shard.id) or self._state.shards.get(shard.id)
                    iterator = await self._iterator(arn, shard.id, position)
                    try:
                        records, following = await self.reader.records(iterator, self.route.batch_size)
                    except ClientError as exc:
                        if error_code(exc) == "ExpiredIteratorException":
                            self._iterators.pop(shard.id, None)
                            continue
                        raise
                    for record in records:
                        batch.add(shard.id, lambda_shape(record, arn))
                    if following is None:
                        self._iterators.pop(shard.id, None)
                        batch.finished.append(shard.id)
                        closed_one = True
                        await self._current_shards(arn, force=True)
                        break
                    self._iterators[shard.id] = following
                    if not to_tip or not records or len(batch.records) >= BUFFER_DOCS:
                        break
            if not to_tip:
                break
        return batch

    # -- applying
    async def _apply(self, records: list[dict[str, Any]]) -> Outcome:
        total = Outcome()
        for chunk in _chunks(records):
            backoff = 0.5
            while True:
                try:
                    outcome = await handle(chunk, self.index, self.dead_letters, index_for=self._index_for)
                    self.status = self.phase
                    break
                except Exception as exc:
                    if not unreachable(exc):
                        raise
                    self.status = f"index unreachable, retrying: {exc}"
                    self.metrics.failure(self.key, "index")
                    log.warning("index unreachable: the batch waits", extra={"route": self.key,
                                                                             "reason": str(exc)})
                    await asyncio.sleep(backoff * (1 + random.random() / 4))
                    backoff = min(backoff * 2, self.options.max_backoff_seconds)
                    if time.monotonic() - self._saved_at > self.options.lease_seconds / 3:
                        await self._save()
            if time.monotonic() - self._saved_at > self.options.lease_seconds / 3:
                await self._save()  # a long backfill keeps its lease
            self.metrics.outcome(self.key, outcome)
            total.indexed += outcome.indexed
            total.deleted += outcome.deleted
            total.superseded += outcome.superseded
            total.dead.extend(outcome.dead)
        return total

    # -- backfill
    async def _backfill(self, arn: str, *, fresh: bool) -> int:
        """Scan the table into the index while the stream is buffered, then apply the buffer; returns the number
        of items scanned."""
        started = time.time()
        self.status = self.phase = "backfilling"
        log.info("backfill started", extra={"route": self.key, "table": self.route.table,
                                            "index": self.route.index_name})
        if fresh:
            # From now on: open shards from their newest record; closed ones hold nothing the scan will not see.
            for shard in await self._current_shards(arn, force=True):
                if shard.end is not None:
                    self._state.finished = sorted({*self._state.finished, shard.id})
                else:
                    self._iterators[shard.id] = await self.reader.iterator(arn, shard.id, None, latest=True)
        self._state.backfilling = True
        await self._save()
        buffer = Batch()
        seen: set[str] = set()
        scan = asyncio.create_task(self._scan(arn, seen))
        try:
            while not scan.done():
                await self._read(arn, to_tip=False, into=buffer)
                await asyncio.wait([scan], timeout=self.options.poll_seconds)
            scanned = scan.result()
        finally:
            if not scan.done():
                scan.cancel()
        await self._read(arn, to_tip=True, into=buffer)
        removed = 0
        if not self.shared_index:
            gone = [doc async for doc in self.index.ids() if doc not in seen and doc not in buffer.records]
            removed = len(gone)
            for i in range(0, len(gone), 1000):
                await self._with_retry(self.index.bulk, [{"delete": {"_index": self.route.index_name, "_id": d}}
                                                         for d in gone[i:i + 1000]])
        state = self._state
        state.backfilled_at = started
        state.reindex_requested = None
        state.backfilling = False
        await self._apply_batch(buffer)
        self.metrics.backfilled(self.key, scanned)
        log.info("backfill done", extra={"route": self.key, "items": scanned, "removed": removed,
                                         "buffered": buffer.read, "seconds": round(time.time() - started, 3)})
        self.status = self.phase = "following"
        return scanned

    async def _with_retry(self, call: Callable[..., Any], *args: Any) -> Any:
        backoff = 0.5
        while True:
            try:
                return await call(*args)
            except Exception as exc:
                if not unreachable(exc):
                    raise
                self.metrics.failure(self.key, "index")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.options.max_backoff_seconds)

    async def _scan(self, arn: str, seen: set[str]) -> int:
        keys = await self.reader.key_names()
        segments = max(1, self.options.scan_segments)

        async def segment(n: int) -> int:
            count = 0
            start: dict[str, Any] | None = None
            while True:
                kwargs: dict[str, Any] = {"TableName": self.route.table, "Segment": n, "TotalSegments": segments,
                                          "ConsistentRead": True}
                if start:
                    kwargs["ExclusiveStartKey"] = start
                page = await self._with_retry(lambda kw=kwargs: self.reader.dynamodb.scan(**kw))
                records = []
                for item in page.get("Items", []):
                    key = {k: item[k] for k in keys if k in item}
                    seen.add(document_id(key))
                    records.append({"eventName": "INSERT", "eventSource": "aws:dynamodb", "eventSourceARN": arn,
                                    "dynamodb": {"Keys": key, "NewImage": item}})
                if records:
                    await self._apply(records)
                count += len(records)
                start = page.get("LastEvaluatedKey")
                if not start:
                    return count

        return sum(await asyncio.gather(*(segment(n) for n in range(segments))))


def _chunks(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = [[]]
    size = 0
    for record in records:
        ddb = record.get("dynamodb") or {}
        weight = int(ddb.get("SizeBytes") or 0) or len(json.dumps(ddb.get("NewImage"), default=str))
        if out[-1] and size + weight > BULK_BYTES:
            out.append([])
            size = 0
        out[-1].append(record)
        size += weight
    return [c for c in out if c]

