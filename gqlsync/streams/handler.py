"""A DynamoDB Streams event as one `_bulk` call: index, document id and deletes as Amplify's @searchable function
makes them, per-item failures retried, a record that keeps failing kept in a dead-letter store with its reason.

- Index: the table's name, lower-cased, up to its first '-' (Amplify's tables are `Model-apiId-env`, so its
  searchX resolvers read `/model/_search`); a route may name another.
- Document id: the key's values in the order of their names, joined by '|' (one `id` key: the id itself).
- INSERT/MODIFY index the new image, REMOVE deletes; on a versioned table (an image with `_version`) a MODIFY with
  `_deleted: true` deletes too, and every action carries `version_type: external` with the `_version`, so an
  older image never overwrites a newer one (the cluster answers 409, which counts as done).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gqlsync.app.model import amplify_index
from gqlsync.datasources.dynamodb.marshal import plain, plain_item

#: Statuses worth trying again (the cluster is busy or failing), as OpenSearch's bulk items report them.
RETRYABLE = frozenset({429, 500, 502, 503, 504})


def table_of(arn: str) -> str:
    """`arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL` -> NAME."""
    try:
        return arn.split(":", 5)[5].split("/")[1]
    except IndexError:
        raise ValueError(f"not a DynamoDB stream ARN: {arn!r}") from None


def document_id(keys: dict[str, Any]) -> str:
    return "|".join(str(plain(keys[name])) for name in sorted(keys))


@dataclass(frozen=True)
class Action:
    """One bulk action and the stream record it comes from."""

    op: str  # "index" | "delete"
    index: str
    id: str
    record: dict[str, Any]
    source: dict[str, Any] | None = None
    version: int | None = None

    def lines(self) -> list[dict[str, Any]]:
        meta: dict[str, Any] = {"_index": self.index, "_id": self.id}
        if self.version is not None:
            meta.update(version=self.version, version_type="external")
        head = {self.op: meta}
        return [head] if self.source is None else [head, self.source]


@dataclass
class Rejected:
    """A record that cannot be indexed, and why."""

    record: dict[str, Any]
    reason: str


def action_for(record: dict[str, Any], index_for: Callable[[str], str] = amplify_index) -> Action | Rejected:
    """The bulk action a stream record asks for."""
    if record.get("eventSource", "aws:dynamodb") != "aws:dynamodb":
        return Rejected(record, f"not a DynamoDB Streams record (eventSource {record.get('eventSource')!r})")
    ddb = record.get("dynamodb") or {}
    event = str(record.get("eventName", "")).upper()
    if event not in ("INSERT", "MODIFY", "REMOVE"):
        return Rejected(record, f"unknown eventName {record.get('eventName')!r}")
    keys = ddb.get("Keys")
    if not keys:
        return Rejected(record, "the record has no Keys")
    try:
        index = index_for(table_of(str(record.get("eventSourceARN", ""))))
    except ValueError as exc:
        return Rejected(record, str(exc))
    image_name = "OldImage" if event == "REMOVE" else "NewImage"
    image = plain_item(ddb.get(image_name))
    if image is None and event != "REMOVE":
        return Rejected(record, f"the record has no {image_name} (the stream must carry new images)")
    version = image.get("_version") if image else None
    versioned = isinstance(version, int) and not isinstance(version, bool)
    doc_id = document_id(keys)
    if event == "REMOVE" or (versioned and image and image.get("_deleted") is True):
        return Action("delete", index, doc_id, record, version=version if versioned else None)
    assert image is not None
    source = {k: v for k, v in image.items() if not (versioned and k in ("_version", "_ttl"))}
    return Action("index", index, doc_id, record, source, version if versioned else None)


class DeadLetters(Protocol):
    """Where records that keep failing go, with the reason."""

    def put(self, record: dict[str, Any], reason: str) -> None: ...


@dataclass
class FileDeadLetters:
    """Dead letters as JSON lines in a file (one per record: the record and the reason)."""

    path: Path

    def put(self, record: dict[str, Any], reason: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"reason": reason, "record": record}, separators=(",", ":")) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


class BulkClient(Protocol):
    async def bulk(self, body: list[dict[str, Any]], **params: Any) -> Any: ...


@dataclass
class Outcome:
    indexed: int = 0
    deleted: int = 0
    #: older than what the index holds (a 409 on an external version): nothing to do
    superseded: int = 0
    dead: list[Rejected] = field(default_factory=list)


async def handle(records: Iterable[dict[str, Any]], client: BulkClient, dead_letters: DeadLetters, *,
                 index_for: Callable[[str], str] = amplify_index, attempts: int = 5,
                 backoff_seconds: float = 0.2) -> Outcome:
    """Apply the records with one `_bulk` (more only to retry what failed retryably); raises what the client
    raises when the cluster cannot be reached, so the caller (the worker) keeps its checkpoint and tries again."""
    outcome = Outcome()
    pending: list[Action] = []
    for record in records:
        found = action_for(record, index_for)
        if isinstance(found, Rejected):
            dead_letters.put(found.record, found.reason)
            outcome.dead.append(found)
        else:
            pending.append(found)
    for attempt in range(attempts):
        if not pending:
            break
        body = [line for action in pending for line in action.lines()]
        answer = await client.bulk(body=body)
        items = answer.get("items") or []
        retry: list[Action] = []
        for action, item in zip(pending, items, strict=True):
            (_, result), = item.items()
            status = int(result.get("status", 500))
            if status < 300 or (action.op == "delete" and status == 404):
                if action.op == "delete":
                    outcome.deleted += 1
                else:
                    outcome.indexed += 1
            elif status == 409 and action.version is not None:
                outcome.superseded += 1
            elif status in RETRYABLE and attempt + 1 < attempts:
                retry.append(action)
            else:
                error = result.get("error")
                reason = (f"{error.get('type')}: {error.get('reason')}" if isinstance(error, dict) else
                          f"HTTP {status}: {error}")
                dead_letters.put(action.record, reason)
                outcome.dead.append(Rejected(action.record, reason))
        pending = retry
        if pending:
            await asyncio.sleep(backoff_seconds * (2 ** attempt))
    return outcome
