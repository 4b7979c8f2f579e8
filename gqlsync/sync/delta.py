"""Change records in the delta table: one per versioned write, keyed by table and time so a Sync can read a window.

`ds_pk` is `<base table>:<UTC date>` and `ds_sk` is `<UTC time with ms>:<item key>:<version>`, the shape of
AppSync's `AmplifyDataStore` tables (one delta table may serve every model: each base table has its own
partitions). A record carries the whole new image of the item, so a delta Sync needs no second read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from gqlsync.sync.config import TTL_ATTRIBUTE

PK = "ds_pk"
SK = "ds_sk"


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def time_key(ms: int) -> str:
    """The time part of a sort key: fixed width, so string order is time order within a day."""
    return _at(ms).strftime("%H:%M:%S.") + f"{ms % 1000:03d}"


def partition(table: str, ms: int) -> str:
    return f"{table}:{_at(ms).strftime('%Y-%m-%d')}"


def key_text(key: dict[str, Any]) -> str:
    """The item's key as text (attributes in name order), unique per item."""
    return json.dumps({k: key[k] for k in sorted(key)}, separators=(",", ":"), sort_keys=True)


def record(table: str, image: dict[str, Any], key: dict[str, Any], changed_at: int, version: int,
           ttl_minutes: int) -> dict[str, Any]:
    """The change record (wire form) written in the same transaction as the base write."""
    return {**image, PK: {"S": partition(table, changed_at)},
            SK: {"S": f"{time_key(changed_at)}:{key_text(key)}:{version}"},
            TTL_ATTRIBUTE: {"N": str(changed_at // 1000 + ttl_minutes * 60)}}


def windows(table: str, since: int, until: int) -> Iterator[tuple[str, str, str]]:
    """(partition, lowest sort key, highest sort key) of each day from `since` to `until` (epoch ms)."""
    day = _at(since).date()
    last = _at(until).date()
    while day <= last:
        lo = time_key(since) if day == _at(since).date() else "00:00:00.000"
        hi = time_key(until) if day == last else "23:59:59.999"
        yield f"{table}:{day.isoformat()}", lo, hi + "\uffff"
        day += timedelta(days=1)


def strip(record_item: dict[str, Any]) -> dict[str, Any]:
    """The item image a record carries, without the delta table's own attributes."""
    return {k: v for k, v in record_item.items() if k not in (PK, SK, TTL_ATTRIBUTE)}
