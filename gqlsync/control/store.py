"""The control store: APIs, their immutable numbered versions, and what each serves (routing), behind one interface.

`SQLiteStore` keeps it in one file (one node, the embedded default); `DynamoDBStore` (control/dynamodb_store.py)
in a table several nodes share. Routing changes are compare-and-set on a revision, so two nodes deploying at once
cannot both win, and a node learns of a change by seeing the revision move.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from gqlsync.control.bundle import Bundle

API_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class StoreConflictError(Exception):
    """The thing exists already, or changed meanwhile."""


def check_api_name(name: str) -> str:
    if not API_NAME.match(name):
        raise ValueError(f"API name {name!r}: letters, digits, '-' and '_', at most 64")
    return name


def new_api_id() -> str:
    """AppSync-like: 26 lower-case letters and digits."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(26))


@dataclass(frozen=True)
class ApiRecord:
    id: str
    name: str
    created_at: float


@dataclass(frozen=True)
class VersionRecord:
    api_id: str
    number: int
    checksum: str
    author: str
    message: str
    created_at: float
    size: int


@dataclass(frozen=True)
class Canary:
    """A version taking a share of an API's requests until promoted or rolled back."""

    version: int
    #: percent of requests (0-100)
    weight: float
    started_at: float
    #: roll back by itself when the canary's error rate over `window_seconds` exceeds this (0-1), once it has
    #: served at least `min_requests` in the window
    max_error_rate: float = 0.05
    window_seconds: float = 60.0
    min_requests: int = 20


@dataclass(frozen=True)
class StoredApiKey:
    """An API key made through the admin API (beside those a version's manifest lists); every version takes it."""

    id: str
    description: str = ""
    #: epoch seconds; None: never
    expires: float | None = None
    created_at: float = 0.0


@dataclass(frozen=True)
class Routing:
    """What an API serves now, and its API keys; `revision` moves with every change."""

    api_id: str
    revision: int = 0
    current: int | None = None
    canary: Canary | None = None
    api_keys: tuple[StoredApiKey, ...] = ()
    #: the last event, for `versions` and the admin API ("deployed 3", "rolled back to 2: ...")
    status: str = ""
    updated_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Routing:
        canary = data.get("canary")
        keys = tuple(StoredApiKey(**k) for k in data.get("api_keys") or ())
        return cls(**{**data, "canary": Canary(**canary) if canary else None, "api_keys": keys})

    def next(self, **changes: Any) -> Routing:
        return replace(self, revision=self.revision + 1, updated_at=time.time(), **changes)


class ControlStore(Protocol):
    async def create_api(self, name: str) -> ApiRecord: ...

    async def apis(self) -> list[ApiRecord]: ...

    async def api(self, id_or_name: str) -> ApiRecord | None: ...

    async def add_version(self, api_id: str, bundle: Bundle, author: str, message: str) -> VersionRecord:
        """Store `bundle` as the API's next number (never reused, never changed)."""
        ...

    async def versions(self, api_id: str) -> list[VersionRecord]: ...

    async def bundle(self, api_id: str, number: int) -> Bundle: ...

    async def routing(self, api_id: str) -> Routing: ...

    async def routings(self) -> dict[str, Routing]:
        """Every API's routing (what a node polls)."""
        ...

    async def set_routing(self, routing: Routing, expected_revision: int) -> bool:
        """Store `routing` if the stored one still has `expected_revision`; False when another change won."""
        ...

    async def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS apis (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS versions (api_id TEXT NOT NULL, number INTEGER NOT NULL, checksum TEXT NOT NULL,
  author TEXT NOT NULL, message TEXT NOT NULL, created_at REAL NOT NULL, size INTEGER NOT NULL, files BLOB NOT NULL,
  PRIMARY KEY (api_id, number));
CREATE TABLE IF NOT EXISTS routing (api_id TEXT PRIMARY KEY, revision INTEGER NOT NULL, state TEXT NOT NULL);
"""


class SQLiteStore:
    """The control store in one SQLite file (WAL; every change one transaction)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def _run(self, fn: Any, *args: Any) -> Any:
        with self._lock:
            return fn(*args)

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(self._run, fn, *args)

    # -- APIs
    def _create(self, name: str) -> ApiRecord:
        record = ApiRecord(new_api_id(), name, time.time())
        try:
            self._db.execute("INSERT INTO apis VALUES (?, ?, ?)", (record.id, record.name, record.created_at))
        except sqlite3.IntegrityError:
            raise StoreConflictError(f"an API named {name!r} exists already") from None
        return record

    async def create_api(self, name: str) -> ApiRecord:
        record: ApiRecord = await self._call(self._create, check_api_name(name))
        return record

    async def apis(self) -> list[ApiRecord]:
        rows = await self._call(lambda: self._db.execute(
            "SELECT id, name, created_at FROM apis ORDER BY created_at").fetchall())
        return [ApiRecord(*r) for r in rows]

    async def api(self, id_or_name: str) -> ApiRecord | None:
        row = await self._call(lambda: self._db.execute(
            "SELECT id, name, created_at FROM apis WHERE id = ? OR name = ?", (id_or_name, id_or_name)).fetchone())
        return ApiRecord(*row) if row else None

    # -- versions
    def _add(self, api_id: str, bundle: Bundle, author: str, message: str) -> VersionRecord:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            (last,) = self._db.execute("SELECT COALESCE(MAX(number), 0) FROM versions WHERE api_id = ?",
                                       (api_id,)).fetchone()
            record = VersionRecord(api_id, int(last) + 1, bundle.checksum, author, message, time.time(), bundle.size)
            self._db.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (*asdict(record).values(), bundle.pack()))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return record

    async def add_version(self, api_id: str, bundle: Bundle, author: str, message: str) -> VersionRecord:
        record: VersionRecord = await self._call(self._add, api_id, bundle, author, message)
        return record

    async def versions(self, api_id: str) -> list[VersionRecord]:
        rows = await self._call(lambda: self._db.execute(
            "SELECT api_id, number, checksum, author, message, created_at, size FROM versions WHERE api_id = ? "
            "ORDER BY number", (api_id,)).fetchall())
        return [VersionRecord(*r) for r in rows]

    async def bundle(self, api_id: str, number: int) -> Bundle:
        row = await self._call(lambda: self._db.execute(
            "SELECT files FROM versions WHERE api_id = ? AND number = ?", (api_id, number)).fetchone())
        if row is None:
            raise KeyError(f"API {api_id} has no version {number}")
        return Bundle.unpack(row[0])

    # -- routing
    async def routing(self, api_id: str) -> Routing:
        row = await self._call(lambda: self._db.execute(
            "SELECT state FROM routing WHERE api_id = ?", (api_id,)).fetchone())
        return Routing.from_json(json.loads(row[0])) if row else Routing(api_id)

    async def routings(self) -> dict[str, Routing]:
        rows = await self._call(lambda: self._db.execute("SELECT api_id, state FROM routing").fetchall())
        return {api_id: Routing.from_json(json.loads(state)) for api_id, state in rows}

    def _set(self, routing: Routing, expected: int) -> bool:
        state = json.dumps(routing.to_json())
        if expected == 0:
            cur = self._db.execute("INSERT OR IGNORE INTO routing VALUES (?, ?, ?)",
                                   (routing.api_id, routing.revision, state))
        else:
            cur = self._db.execute("UPDATE routing SET revision = ?, state = ? WHERE api_id = ? AND revision = ?",
                                   (routing.revision, state, routing.api_id, expected))
        return cur.rowcount == 1

    async def set_routing(self, routing: Routing, expected_revision: int) -> bool:
        ok: bool = await self._call(self._set, routing, expected_revision)
        return ok

    async def close(self) -> None:
        await self._call(self._db.close)
