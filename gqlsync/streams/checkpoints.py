"""Where a stream's progress is kept: per-shard sequence numbers, the batch being applied, a lease, reindex requests.

One `StreamState` per route (a table feeding an index), in a JSON file (one node: `gqlsync dev`, a single worker)
or in a DynamoDB table (workers on several nodes share it). Whoever holds a route's lease is the only one
applying its stream; a lease lapses when its holder stops renewing it, at once when the holder was a process on
this host that has died (a SIGKILLed worker's successor does not wait out the lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

HOST = socket.gethostname()


def new_owner() -> str:
    """A lease holder's name: host, pid and a nonce (a pid is reused; the nonce is not)."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(owner: str) -> bool:
    """The owner was a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class StreamState:
    """How far a route has applied its table's stream."""

    #: the stream the positions below belong to (a table's stream is replaced when it is disabled and enabled,
    #: or when the embedded DynamoDB rebuilds its state at start)
    stream: str | None = None
    #: shard id -> sequence number of the last record applied
    shards: dict[str, str] = field(default_factory=dict)
    #: closed shards read to their end (their children may be read)
    finished: list[str] = field(default_factory=list)
    #: shard id -> last sequence number of the batch being applied; on restart the first batch reads at least this
    #: far before it writes, so a replay never puts an older image over a newer one
    inflight: dict[str, str] = field(default_factory=dict)
    #: when the table was last scanned into the index (epoch seconds; None: never)
    backfilled_at: float | None = None
    #: a reindex asked for (by `gqlsync reindex` while a worker holds the lease); the worker clears it when done
    reindex_requested: float | None = None
    #: a backfill began and has not finished: whoever holds the lease next starts it again
    backfilling: bool = False
    owner: str | None = None
    lease_until: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def leased_by_other(self, owner: str, now: float) -> bool:
        return (self.owner is not None and self.owner != owner and self.lease_until > now
                and not _dead_here(self.owner))


class LeaseLostError(Exception):
    """Another worker holds the route now: this one stops applying it."""


class CheckpointStore(Protocol):
    async def load(self, key: str) -> StreamState | None: ...

    async def acquire(self, key: str, owner: str, seconds: float) -> StreamState | None:
        """The route's state with its lease now held by `owner` (a fresh state if none), or None when another
        live owner holds it."""
        ...

    async def save(self, key: str, state: StreamState, owner: str, seconds: float) -> None:
        """Store `state` and renew the lease; raises LeaseLostError when `owner` no longer holds it."""
        ...

    async def release(self, key: str, owner: str) -> None: ...

    async def request_reindex(self, key: str) -> StreamState:
        """Ask the lease holder to reindex; returns the state as it stood."""
        ...


class FileCheckpoints:
    """All routes' states in one JSON file, each change an atomic replace under an exclusive file lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else {}
                before = json.dumps(data, sort_keys=True)
                yield data
                if json.dumps(data, sort_keys=True) != before:
                    tmp = self.path.with_name(self.path.name + ".tmp")
                    with tmp.open("w", encoding="utf-8") as f:
                        json.dump(data, f, indent=1, sort_keys=True)
                        f.flush()
                        os.fsync(f.fileno())
                    os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self, key: str) -> StreamState | None:
        with self._locked() as data:
            return StreamState.from_json(data[key]) if key in data else None

    def _acquire(self, key: str, owner: str, seconds: float) -> StreamState | None:
        now = time.time()
        with self._locked() as data:
            state = StreamState.from_json(data[key]) if key in data else StreamState()
            if state.leased_by_other(owner, now):
                return None
            state.owner, state.lease_until = owner, now + seconds
            data[key] = state.to_json()
            return state

    def _save(self, key: str, state: StreamState, owner: str, seconds: float) -> None:
        now = time.time()
        with self._locked() as data:
            stored = StreamState.from_json(data[key]) if key in data else None
            if stored is not None and stored.owner != owner:
                raise LeaseLostError(f"{key} is leased by {stored.owner}")
            if stored is not None and stored.reindex_requested and not state.reindex_requested \
                    and (state.backfilled_at or 0) < stored.reindex_requested:
                state.reindex_requested = stored.reindex_requested  # asked for while this batch ran
            state.owner, state.lease_until = owner, now + seconds
            data[key] = state.to_json()

    def _release(self, key: str, owner: str) -> None:
        with self._locked() as data:
            if key in data and data[key].get("owner") == owner:
                data[key]["owner"], data[key]["lease_until"] = None, 0.0

    def _request(self, key: str) -> StreamState:
        with self._locked() as data:
            state = StreamState.from_json(data[key]) if key in data else StreamState()
            state.reindex_requested = time.time()
            data[key] = state.to_json()
            return state

    async def load(self, key: str) -> StreamState | None:
        return await asyncio.to_thread(self._load, key)

    async def acquire(self, key: str, owner: str, seconds: float) -> StreamState | None:
        return await asyncio.to_thread(self._acquire, key, owner, seconds)

    async def save(self, key: str, state: StreamState, owner: str, seconds: float) -> None:
        await asyncio.to_thread(self._save, key, state, owner, seconds)

    async def release(self, key: str, owner: str) -> None:
        await asyncio.to_thread(self._release, key, owner)

    async def request_reindex(self, key: str) -> StreamState:
        return await asyncio.to_thread(self._request, key)


class DynamoDBCheckpoints:
    """States as items of a DynamoDB table (`route` hash key, the state as JSON), the lease taken and kept with
    conditional writes, so workers on several nodes can share the routes."""

    def __init__(self, client: Any, table: str = "gqlsync-stream-checkpoints") -> None:
        self.client = client
        self.table = table
        self._ready = False

    async def ensure_table(self) -> None:
        if self._ready:
            return
        try:
            await self.client.create_table(
                TableName=self.table, KeySchema=[{"AttributeName": "route", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "route", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST")
            await self.client.get_waiter("table_exists").wait(TableName=self.table,
                                                              WaiterConfig={"Delay": 0.5, "MaxAttempts": 120})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
        self._ready = True

    async def load(self, key: str) -> StreamState | None:
        await self.ensure_table()
        item = (await self.client.get_item(TableName=self.table, Key={"route": {"S": key}},
                                           ConsistentRead=True)).get("Item")
        return StreamState.from_json(json.loads(item["state"]["S"])) if item else None

    async def _put(self, key: str, state: StreamState, condition: str, values: dict[str, Any]) -> bool:
        extra: dict[str, Any] = {"ExpressionAttributeValues": values} if values else {}
        try:
            await self.client.put_item(
                TableName=self.table, ConditionExpression=condition, ExpressionAttributeNames={"#o": "owner"},
                Item={"route": {"S": key}, "state": {"S": json.dumps(state.to_json())},
                      "owner": {"S": state.owner or "-"}, "until": {"N": repr(state.lease_until)}}, **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def acquire(self, key: str, owner: str, seconds: float) -> StreamState | None:
        await self.ensure_table()
        for _ in range(5):
            now = time.time()
            current = await self.load(key)
            state = current or StreamState()
            if state.leased_by_other(owner, now):
                return None
            previous = state.owner or "-"
            state.owner, state.lease_until = owner, now + seconds
            condition = ("attribute_not_exists(#o)" if current is None else "#o = :previous")
            values = {} if current is None else {":previous": {"S": previous}}
            if await self._put(key, state, condition, values):
                return state
        return None

    async def save(self, key: str, state: StreamState, owner: str, seconds: float) -> None:
        await self.ensure_table()
        stored = await self.load(key)
        if stored is not None and stored.owner != owner:
            raise LeaseLostError(f"{key} is leased by {stored.owner}")
        if stored is not None and stored.reindex_requested and not state.reindex_requested \
                and (state.backfilled_at or 0) < stored.reindex_requested:
            state.reindex_requested = stored.reindex_requested
        state.owner, state.lease_until = owner, time.time() + seconds
        if not await self._put(key, state, "#o = :me", {":me": {"S": owner}}):
            raise LeaseLostError(f"{key} was taken over")

    async def release(self, key: str, owner: str) -> None:
        stored = await self.load(key)
        if stored is not None and stored.owner == owner:
            stored.owner, stored.lease_until = None, 0.0
            await self._put(key, stored, "#o = :me", {":me": {"S": owner}})

    async def request_reindex(self, key: str) -> StreamState:
        for _ in range(10):
            current = await self.load(key)
            state = current or StreamState()
            state.reindex_requested = time.time()
            if current is None:
                ok = await self._put(key, state, "attribute_not_exists(#o)", {})
            else:
                ok = await self._put(key, state, "#o = :o", {":o": {"S": current.owner or "-"}})
            if ok:
                return state
        raise RuntimeError(f"could not record the reindex request for {key}: the state kept changing")
