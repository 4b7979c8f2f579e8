"""One index's storage: a SQLite database (FTS5 + plain tables) written in one transaction per request.

Tables (per index database):
- `docs(rid, id, source, version, seq_no)`: the documents; `rid` is Lucene's doc id (insertion
  order; an update is a delete plus an insert, as in Lucene, so it gets a new one).
- `kw(field, v, doc)` and `num(field, v, doc)`: one row per distinct value of a keyword field, or
  of a numeric, date (epoch millis) or boolean (0/1) field, clustered on (field, value) for
  term/range/prefix lookups, with a (doc, field) index for sort keys and deletes.
- `t<field>`: an FTS5 table per text field, rowid = doc, holding the analyzed tokens; its
  `fts5vocab` tables give per-term postings (`t<field>_i`: term, doc, offset) and document
  frequencies (`t<field>_r`), from which query.py computes Lucene's BM25 exactly.
- `present(field, doc, len, norm)`: text fields present in a doc (even empty), with token count
  and Lucene's encoded length; `stats(field, docs, tokens)`: per-field collection statistics.
- `meta`: name, uuid, mapping, settings, sequence counter; `fields(id, path, type)`: field ids.

Every write is visible to the next read (no refresh cycle), so `refresh` is a no-op that is
correct. The database runs in WAL mode with synchronous=NORMAL: a committed write survives the
process (a crash loses nothing); only an OS crash may lose the last transactions.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gqlsync.embedded.search.analysis import GAP, TOKENIZER, tokenize
from gqlsync.embedded.search.errors import SearchError
from gqlsync.embedded.search.mapping import Field, Mapping
from gqlsync.embedded.search.scoring import norm_length

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fields(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, type TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs(rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, source BLOB NOT NULL,
                                version INTEGER NOT NULL, seq_no INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kw(field INTEGER NOT NULL, v TEXT NOT NULL, doc INTEGER NOT NULL,
                              PRIMARY KEY(field, v, doc)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kw_doc ON kw(doc, field);
CREATE TABLE IF NOT EXISTS num(field INTEGER NOT NULL, v NOT NULL, doc INTEGER NOT NULL,
                               PRIMARY KEY(field, v, doc)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS num_doc ON num(doc, field);
CREATE TABLE IF NOT EXISTS present(field INTEGER NOT NULL, doc INTEGER NOT NULL, len INTEGER NOT NULL,
                                   norm INTEGER NOT NULL, PRIMARY KEY(field, doc)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS present_doc ON present(doc);
CREATE TABLE IF NOT EXISTS stats(field INTEGER PRIMARY KEY, docs INTEGER NOT NULL, tokens INTEGER NOT NULL);
"""
PRIMARY_TERM = 1
SHARDS = {"total": 2, "successful": 1, "failed": 0}  # one primary, its replica unassigned: a single node


@dataclass
class DocState:
    rid: int
    version: int
    seq_no: int
    source: bytes  # the document's JSON


@dataclass
class WriteResult:
    """One write's outcome, rendered as the index/delete/update APIs and bulk items answer."""

    index: str
    id: str
    result: str
    status: int
    version: int | None = None
    seq_no: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"_index": self.index, "_id": self.id}
        if self.version is not None:
            out["_version"] = self.version
        out["result"] = self.result
        out["_shards"] = dict(SHARDS) if self.result != "noop" else {"total": 0, "successful": 0, "failed": 0}
        if self.seq_no is not None:
            out["_seq_no"] = self.seq_no
            out["_primary_term"] = PRIMARY_TERM
        out.update(self.extra)
        return out


def version_conflict(index: str, doc_id: str, reason: str) -> SearchError:
    return SearchError(409, "version_conflict_engine_exception", f"[{doc_id}]: version conflict, {reason}",
                       index=index, shard="0")


class IndexStore:
    """One index: its mapping in memory and its SQLite database, behind one lock."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path
        self.lock = threading.RLock()
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        self.name: str = meta["name"]
        self.uuid: str = meta["uuid"]
        self.created: int = int(meta["created"])
        self.settings: dict[str, Any] = orjson.loads(meta["settings"])
        self.mapping = Mapping(orjson.loads(meta["mapping"]))
        self.seq_no = int(meta.get("seq_no", "-1"))
        self.fids: dict[str, int] = dict(conn.execute("SELECT path, id FROM fields").fetchall())
        self.next_rid = (conn.execute("SELECT max(rid) FROM docs").fetchone()[0] or 0) + 1
        self._mapping_dirty = False
        self._pending: _Pending | None = None
        self._sync_fields()

    # -- lifecycle
    @staticmethod
    def connect(path: Path | None) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, isolation_level=None)
        if path:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        from gqlsync.embedded.search.query import register_functions

        register_functions(conn)
        return conn

    @classmethod
    def create(cls, path: Path | None, name: str, uuid: str, mapping: Mapping,
               settings: dict[str, Any]) -> IndexStore:
        conn = cls.connect(path)
        conn.executescript(_SCHEMA)
        meta = {"name": name, "uuid": uuid, "created": str(int(time.time() * 1000)),
                "settings": orjson.dumps(settings).decode(), "mapping": orjson.dumps(mapping.to_json()).decode(),
                "seq_no": "-1"}
        conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", list(meta.items()))
        return cls(conn, path)

    @classmethod
    def open(cls, path: Path) -> IndexStore:
        return cls(cls.connect(path), path)

    def close(self) -> None:
        with self.lock:
            if self.path:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.close()

    # -- fields
    def _sync_fields(self) -> None:
        """Give every mapped field an id; create the FTS5 tables of new text fields."""
        for f in self.mapping.iter_fields():
            if f.path in self.fids:
                f.fid = self.fids[f.path]
                continue
            cur = self.conn.execute("INSERT INTO fields(path, type) VALUES (?, ?)", (f.path, f.type))
            fid = cur.lastrowid
            assert fid is not None
            self.fids[f.path] = f.fid = fid
            if f.type == "text":
                self.conn.execute(f'CREATE VIRTUAL TABLE t{fid} USING fts5(body, tokenize="{TOKENIZER}")')
                self.conn.execute(f"CREATE VIRTUAL TABLE t{fid}_i USING fts5vocab(t{fid}, 'instance')")
                self.conn.execute(f"CREATE VIRTUAL TABLE t{fid}_r USING fts5vocab(t{fid}, 'row')")

    def fid(self, f: Field) -> int:
        return self.fids[f.path]

    def field_stats(self, fid: int) -> tuple[int, int]:
        row = self.conn.execute("SELECT docs, tokens FROM stats WHERE field = ?", (fid,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    # -- transactions
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self._pending = _Pending()
            try:
                yield
                self._flush()
                if self._mapping_dirty:
                    self._set_meta("mapping", orjson.dumps(self.mapping.to_json()).decode())
                self._set_meta("seq_no", str(self.seq_no))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                self._reload()
                raise
            finally:
                self._pending = None
                self._mapping_dirty = False

    def _reload(self) -> None:
        meta = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        self.mapping = Mapping(orjson.loads(meta["mapping"]))
        self.settings = orjson.loads(meta["settings"])
        self.seq_no = int(meta.get("seq_no", "-1"))
        self.fids = dict(self.conn.execute("SELECT path, id FROM fields").fetchall())
        self._sync_fields()
        self.next_rid = (self.conn.execute("SELECT max(rid) FROM docs").fetchone()[0] or 0) + 1

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                          "excluded.value", (key, value))

    def save_settings(self) -> None:
        with self.lock:
            self._set_meta("settings", orjson.dumps(self.settings).decode())

    def put_mapping(self, body: dict[str, Any]) -> None:
        with self.transaction():
            self.mapping.merge(body)
            self._sync_fields()
            self._mapping_dirty = True

    # -- documents (call inside transaction())
    def prefetch(self, doc_ids: list[str]) -> None:
        """Look up which of a bulk's ids exist, in a few queries instead of one per document."""
        p = self._pending
        assert p is not None
        wanted = [i for i in dict.fromkeys(doc_ids) if i not in p.ids]
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            for d in chunk:
                p.known[d] = None
            for row in self.conn.execute(f"SELECT id, rid, version, seq_no, source FROM docs WHERE id IN "
                                         f"({', '.join('?' * len(chunk))})", chunk):
                p.known[row[0]] = DocState(*row[1:])

    def current(self, doc_id: str) -> DocState | None:
        pending = self._pending
        if pending is not None:
            if doc_id in pending.ids:
                self._flush()
            elif doc_id in pending.known:
                return pending.known.pop(doc_id)
        row = self.conn.execute("SELECT rid, version, seq_no, source FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return DocState(*row) if row else None

    def index(self, doc_id: str, source: dict[str, Any], *, op_type: str = "index", if_seq_no: int | None = None,
              if_primary_term: int | None = None, raw: bytes | None = None, version: int | None = None,
              version_type: str | None = None) -> WriteResult:
        """Index (create or replace) a document; `raw` is its JSON as received, stored as the _source.

        `version` with `version_type` external (or external_gt / external_gte) is OpenSearch's external
        versioning, which Amplify's DynamoDB-to-OpenSearch function uses for Delta Sync tables.
        """
        values, grew = self.mapping.document_values(source)
        if grew:
            self._sync_fields()
            self._mapping_dirty = True
        existing = self.current(doc_id)
        if op_type == "create" and existing is not None:
            raise version_conflict(self.name, doc_id,
                                   f"document already exists (current version [{existing.version}])")
        self._check_seq(doc_id, existing, if_seq_no, if_primary_term)
        new_version = self._check_external(doc_id, existing, version, version_type)
        if existing is not None:
            self._delete_rows(existing.rid)
        rid = self.next_rid
        self.next_rid += 1
        self.seq_no += 1
        version = new_version if new_version is not None else existing.version + 1 if existing else 1
        self._add(rid, doc_id, raw if raw is not None else orjson.dumps(source), version, values)
        return WriteResult(self.name, doc_id, "updated" if existing else "created", 200 if existing else 201,
                           version, self.seq_no)

    def delete(self, doc_id: str, *, if_seq_no: int | None = None, if_primary_term: int | None = None,
               version: int | None = None, version_type: str | None = None) -> WriteResult:
        """Delete a document (no tombstone is kept: a later external version may recreate it)."""
        existing = self.current(doc_id)
        self._check_seq(doc_id, existing, if_seq_no, if_primary_term)
        new_version = self._check_external(doc_id, existing, version, version_type)
        self.seq_no += 1
        if existing is None:
            return WriteResult(self.name, doc_id, "not_found", 404, new_version or 1, self.seq_no)
        self._delete_rows(existing.rid)
        return WriteResult(self.name, doc_id, "deleted", 200, new_version or existing.version + 1, self.seq_no)

    def _check_external(self, doc_id: str, existing: DocState | None, version: int | None,
                        version_type: str | None) -> int | None:
        if version is None and version_type in (None, "internal"):
            return None
        kind = version_type or "internal"
        if kind == "internal":
            raise SearchError(400, "action_request_validation_exception",
                              "Validation Failed: 1: internal versioning can not be used for optimistic concurrency "
                              "control. Please use `if_seq_no` and `if_primary_term` instead;")
        if kind not in ("external", "external_gt", "external_gte"):
            raise SearchError(400, "illegal_argument_exception", f"No version type match [{kind}]")
        if version is None or version < 0:
            raise SearchError(400, "action_request_validation_exception",
                              f"Validation Failed: 1: illegal version value [{version}] for version type [{kind}];")
        if existing is not None:
            stale = existing.version > version if kind == "external_gte" else existing.version >= version
            if stale:
                relation = "higher than" if kind == "external_gte" else "higher or equal to"
                raise version_conflict(self.name, doc_id, f"current version [{existing.version}] is {relation} "
                                                          f"the one provided [{version}]")
        return version

    def _check_seq(self, doc_id: str, existing: DocState | None, if_seq_no: int | None,
                   if_primary_term: int | None) -> None:
        if if_seq_no is None and if_primary_term is None:
            return
        if existing is None:
            raise version_conflict(self.name, doc_id, f"required seqNo [{if_seq_no}], primary term "
                                                      f"[{if_primary_term}] but no document was found")
        if existing.seq_no != if_seq_no or if_primary_term != PRIMARY_TERM:
            raise version_conflict(self.name, doc_id, f"required seqNo [{if_seq_no}], primary term "
                                                      f"[{if_primary_term}]. current document has seqNo "
                                                      f"[{existing.seq_no}] and primary term [{PRIMARY_TERM}]")

    def _add(self, rid: int, doc_id: str, source: bytes, version: int, values: list[tuple[Field, Any]]) -> None:
        p = self._pending
        assert p is not None, "writes run inside transaction()"
        p.ids.add(doc_id)
        p.docs.append((rid, doc_id, source, version, self.seq_no))
        texts: dict[int, list[str]] = {}
        seen: set[tuple[int, Any]] = set()
        counts: dict[int, int] = {}
        kw_rows, num_rows = p.kw, p.num
        for f, v in values:
            fid = f.fid
            t = f.type
            if t == "text":
                texts.setdefault(fid, []).append(v)
                continue
            key = (fid, v)
            if key in seen:  # a value repeated in an array is indexed once
                continue
            seen.add(key)
            (kw_rows if t == "keyword" else num_rows).append((fid, v, rid))
            counts[fid] = counts.get(fid, 0) + 1
        stats = p.stats
        for fid, n in counts.items():
            s = stats[fid]
            s[0] += 1
            s[1] += n
        for fid, texts_of_field in texts.items():
            if len(texts_of_field) == 1:
                tokens = tokenize(texts_of_field[0])
                body = " ".join(tokens)
                length = len(tokens)
            else:
                parts = [tokenize(t) for t in texts_of_field]
                body = f" {GAP} ".join(" ".join(toks) for toks in parts)
                length = sum(len(toks) for toks in parts)
            p.fts[fid].append((rid, body))
            p.present.append((fid, rid, length, norm_length(length)))
            if length:
                s = stats[fid]
                s[0] += 1
                s[1] += length

    def _delete_rows(self, rid: int) -> None:
        p = self._pending
        assert p is not None
        conn = self.conn
        stats = p.stats
        for table in ("kw", "num"):
            for fid, n in conn.execute(f"SELECT field, count(*) FROM {table} WHERE doc = ? GROUP BY field", (rid,)):
                s = stats[fid]
                s[0] -= 1
                s[1] -= n
            conn.execute(f"DELETE FROM {table} WHERE doc = ?", (rid,))
        for fid, length in conn.execute("SELECT field, len FROM present WHERE doc = ?", (rid,)).fetchall():
            conn.execute(f"DELETE FROM t{fid} WHERE rowid = ?", (rid,))
            if length:
                s = stats[fid]
                s[0] -= 1
                s[1] -= length
        conn.execute("DELETE FROM present WHERE doc = ?", (rid,))
        conn.execute("DELETE FROM docs WHERE rid = ?", (rid,))

    def _flush(self) -> None:
        p = self._pending
        if p is None:
            return
        conn = self.conn
        if p.docs:
            conn.executemany("INSERT INTO docs(rid, id, source, version, seq_no) VALUES (?, ?, ?, ?, ?)", p.docs)
        if p.kw:
            conn.executemany("INSERT INTO kw(field, v, doc) VALUES (?, ?, ?)", p.kw)
        if p.num:
            conn.executemany("INSERT INTO num(field, v, doc) VALUES (?, ?, ?)", p.num)
        if p.present:
            conn.executemany("INSERT INTO present(field, doc, len, norm) VALUES (?, ?, ?, ?)", p.present)
        for fid, rows in p.fts.items():
            conn.executemany(f"INSERT INTO t{fid}(rowid, body) VALUES (?, ?)", rows)
        if p.stats:
            conn.executemany("INSERT INTO stats(field, docs, tokens) VALUES (?, ?, ?) ON CONFLICT(field) DO UPDATE "
                             "SET docs = docs + excluded.docs, tokens = tokens + excluded.tokens",
                             [(fid, s[0], s[1]) for fid, s in p.stats.items()])
        fresh = _Pending()
        fresh.known = p.known
        self._pending = fresh

    # -- reads
    def get(self, doc_id: str) -> DocState | None:
        with self.lock:
            row = self.conn.execute("SELECT rid, version, seq_no, source FROM docs WHERE id = ?",
                                    (doc_id,)).fetchone()
        return DocState(*row) if row else None

    def doc_count(self) -> int:
        with self.lock:
            return int(self.conn.execute("SELECT count(*) FROM docs").fetchone()[0])

    def size_bytes(self) -> int:
        if not self.path:
            return 0
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.exists())


class _Pending:
    """Rows of one transaction not yet inserted (written with executemany at flush)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.docs: list[tuple[int, str, bytes, int, int]] = []
        self.kw: list[tuple[int, Any, int]] = []
        self.num: list[tuple[int, Any, int]] = []
        self.present: list[tuple[int, int, int, int]] = []
        self.fts: dict[int, list[tuple[int, str]]] = defaultdict(list)
        self.stats: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self.known: dict[str, DocState | None] = {}  # prefetched state of ids not written yet
