"""An in-process DynamoDB (moto) on loopback whose data survives restarts through a write-ahead journal.

Every successful write request (PutItem, UpdateItem, CreateTable, ...) is appended to
`journal.jsonl` before its response is returned, under a lock that also orders the writes, so
replaying the journal into a fresh moto rebuilds the same tables, items and streams. At start and
at a clean stop the journal is compacted into one CreateTable per table plus its items.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import Client

log = logging.getLogger("gqlsync.embedded.dynamodb")

_PREFIX = "DynamoDB_20120810."
WRITE_TARGETS = frozenset(_PREFIX + t for t in (
    "CreateTable", "DeleteTable", "UpdateTable", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
    "TransactWriteItems", "UpdateTimeToLive", "ExecuteStatement", "BatchExecuteStatement",
    "ExecuteTransaction", "TagResource", "UntagResource"))


_GET_RECORDS = "DynamoDBStreams_20120810.GetRecords"
#: moto keeps every shard iterator it hands out (each GetRecords makes one): beyond this many per region the oldest
#: are dropped, as AWS lets an iterator expire (after 15 minutes there), so a dev server that polls its streams
#: for days does not grow without bound.
MAX_SHARD_ITERATORS = 10_000


def _bound_shard_iterators() -> None:
    from moto.backends import get_backend

    for regions in get_backend("dynamodbstreams").values():
        for backend in regions.values():
            iterators = backend.shard_iterators
            excess = len(iterators) - MAX_SHARD_ITERATORS
            if excess > 0:
                for key in list(iterators)[:excess]:
                    iterators.pop(key, None)


def _auth_header(region: str) -> str:
    return (f"AWS4-HMAC-SHA256 Credential=local/20240101/{region}/dynamodb/aws4_request, "
            "SignedHeaders=host;x-amz-target, Signature=0")


def _region_of(environ: dict[str, Any]) -> str:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        return auth.split("Credential=")[1].split("/")[2]
    except IndexError:
        return "us-east-1"


class _JournalingApp:
    """WSGI middleware: orders and journals successful DynamoDB writes."""

    def __init__(self, app: Callable[..., Any], journal: Path) -> None:
        self.app = app
        self.journal_path = journal
        self.lock = threading.Lock()
        self._file = journal.open("a", encoding="utf-8")

    def close(self) -> None:
        with self.lock:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def reopen(self) -> None:
        self._file = self.journal_path.open("a", encoding="utf-8")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == _GET_RECORDS:
            try:
                return self.app(environ, start_response)
            finally:
                _bound_shard_iterators()
        if target not in WRITE_TARGETS:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        import io

        environ["wsgi.input"] = io.BytesIO(body)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        with self.lock:
            chunks = list(self.app(environ, capture))
            if captured.get("status", "").startswith("200"):
                record = {"target": target[len(_PREFIX):], "region": _region_of(environ),
                          "body": body.decode("utf-8")}
                self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
                self._file.flush()
        start_response(captured["status"], captured["headers"])
        return chunks


class EmbeddedDynamoDB:
    """moto's DynamoDB (+ Streams) served on 127.0.0.1 from a daemon thread, state kept in `data_dir`."""

    def __init__(self, data_dir: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._journal: _JournalingApp | None = None
        self._inner: Any = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        from moto.backends import get_backend
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        # A fresh process-wide moto state: replay below rebuilds it from disk.
        for name in ("dynamodb", "dynamodbstreams"):
            get_backend(name).reset()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        journal = self.data_dir / "journal.jsonl"
        self._inner = DomainDispatcherApplication(create_backend_app)
        replayed = self._replay(journal)
        self._compact(journal)
        self._journal = _JournalingApp(self._inner, journal)
        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any) -> None:
                pass

        self._server = make_server(self.host, self.port, self._journal, threaded=True,
                                   request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="gqlsync-dynamodb", daemon=True)
        self._thread.start()
        log.info("embedded DynamoDB serving", extra={"endpoint": self.endpoint, "data_dir": str(self.data_dir),
                                                     "replayed_writes": replayed})
        return self.endpoint

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        assert self._journal is not None
        self._journal.close()
        self._compact(self._journal.journal_path)
        self._server = None

    # -- replay and compaction (direct WSGI calls, not journaled)
    def _call(self, target: str, payload: Any, region: str = "us-east-1") -> tuple[int, Any]:
        client = Client(self._inner)
        resp = client.post("/", data=payload if isinstance(payload, str) else json.dumps(payload), headers={
            "Host": f"dynamodb.{region}.amazonaws.com", "X-Amz-Target": _PREFIX + target,
            "Content-Type": "application/x-amz-json-1.0", "Authorization": _auth_header(region)})
        text = resp.get_data(as_text=True)
        return resp.status_code, (json.loads(text) if text else None)

    def _replay(self, journal: Path) -> int:
        if not journal.exists():
            return 0
        count = 0
        with journal.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("skipping a torn journal line (crash while writing)", extra={"line": n})
                    continue
                status, body = self._call(rec["target"], rec["body"], rec.get("region", "us-east-1"))
                if status != 200:
                    log.warning("journal write did not replay", extra={"line": n, "status": status, "body": body})
                count += 1
        return count

    def _compact(self, journal: Path) -> None:
        """Rewrite the journal as the current state: CreateTable + TTL + items per table, per region."""
        records: list[dict[str, Any]] = []
        regions = {"us-east-1"}
        if journal.exists():
            with journal.open(encoding="utf-8") as f:
                for line in f:
                    try:
                        regions.add(json.loads(line).get("region", "us-east-1"))
                    except json.JSONDecodeError:
                        continue
        for region in sorted(regions):
            _, listed = self._call("ListTables", {}, region)
            for table in (listed or {}).get("TableNames", []):
                records.extend(self._table_records(table, region))
        tmp = journal.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, journal)

    def _table_records(self, table: str, region: str) -> list[dict[str, Any]]:
        _, desc = self._call("DescribeTable", {"TableName": table}, region)
        t = desc["Table"]
        create: dict[str, Any] = {"TableName": table, "AttributeDefinitions": t["AttributeDefinitions"],
                                  "KeySchema": t["KeySchema"], "BillingMode": "PAY_PER_REQUEST"}
        if t.get("GlobalSecondaryIndexes"):
            create["GlobalSecondaryIndexes"] = [
                {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
                for g in t["GlobalSecondaryIndexes"]]
        if t.get("LocalSecondaryIndexes"):
            create["LocalSecondaryIndexes"] = [
                {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
                for g in t["LocalSecondaryIndexes"]]
        if t.get("StreamSpecification", {}).get("StreamEnabled"):
            create["StreamSpecification"] = t["StreamSpecification"]
        records = [{"target": "CreateTable", "region": region, "body": json.dumps(create)}]
        _, ttl = self._call("DescribeTimeToLive", {"TableName": table}, region)
        ttl_desc = (ttl or {}).get("TimeToLiveDescription", {})
        if ttl_desc.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            records.append({"target": "UpdateTimeToLive", "region": region, "body": json.dumps({
                "TableName": table,
                "TimeToLiveSpecification": {"Enabled": True, "AttributeName": ttl_desc["AttributeName"]}})})
        start_key = None
        while True:
            scan: dict[str, Any] = {"TableName": table}
            if start_key:
                scan["ExclusiveStartKey"] = start_key
            _, page = self._call("Scan", scan, region)
            items = page.get("Items", [])
            for i in range(0, len(items), 25):
                batch = {"RequestItems": {table: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]}}
                records.append({"target": "BatchWriteItem", "region": region, "body": json.dumps(batch)})
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return records
