"""The DynamoDB `Sync` operation: every item (a base-table scan), or only what changed since `lastSync` (the
delta table), page by page, with one `startedAt` for the whole sync.

A `lastSync` within `deltaSyncTableTTL` reads the change records written since then; anything older (or
none) scans the base table. Deleted items come back with `_deleted: true`; items and records whose `_ttl`
has passed are never returned, also where the store does not expire them by itself (the embedded one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gqlsync.datasources.dynamodb.expressions import Expressions, all_of
from gqlsync.datasources.dynamodb.marshal import decode_state, encode_state, plain_item
from gqlsync.errors import ResolverError
from gqlsync.sync import delta
from gqlsync.sync.config import TTL_ATTRIBUTE, DeltaSyncConfig

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: A delta Sync also returns changes stamped this long before `lastSync`: a write stamped just before a sync
#: started but committed after the sync's scan passed its item is never lost (clients ignore versions they
#: already have, so the overlap costs a few repeated items).
OVERLAP_MS = 10_000
UNSUPPORTED = {"basePartitionKey": "a Sync on one base partition (basePartitionKey/deltaIndexName) is not "
                                   "supported yet", "deltaIndexName": "deltaIndexName is not supported yet"}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _valid(state: dict[str, Any]) -> bool:
    return state.get("m") in ("base", "delta") and isinstance(state.get("s"), int)


def _limit(request: dict[str, Any]) -> int:
    limit = request.get("limit")
    if limit is None:
        return DEFAULT_LIMIT
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ResolverError(f"limit must be a positive integer, got {limit!r}", "MappingTemplate")
    return min(limit, MAX_LIMIT)


class SyncOperation:
    """`Sync` on one versioned table."""

    def __init__(self, table: str, config: DeltaSyncConfig, clock: Callable[[], int] = _now_ms) -> None:
        self.table = table
        self.config = config
        self.clock = clock

    async def run(self, client: Any, request: dict[str, Any]) -> dict[str, Any]:
        for key, reason in UNSUPPORTED.items():
            if request.get(key) is not None:
                raise ResolverError(reason, "MappingTemplate")
        limit = _limit(request)
        token = request.get("nextToken")
        if token:
            state = decode_state(str(token), self.table, _valid)
        else:
            started = self.clock()
            last_sync = request.get("lastSync")
            if last_sync is not None and (not isinstance(last_sync, int) or isinstance(last_sync, bool)):
                raise ResolverError(f"lastSync must be epoch milliseconds, got {last_sync!r}", "MappingTemplate")
            recent = last_sync is not None and started - last_sync <= self.config.delta_sync_table_ttl * 60_000
            state = {"t": self.table, "s": started, "m": "delta" if recent else "base", "l": last_sync, "w": 0,
                     "k": None}
        read = self._base if state["m"] == "base" else self._delta
        state["c"] = 0  # items read before filtering, on this page
        items, following = await read(client, request, limit, state)
        token_out = encode_state(following, self.table) if following else None
        return {"items": [plain_item(i) for i in items], "nextToken": token_out,
                "scannedCount": state["c"], "startedAt": state["s"]}  # startedAt: the same on every page

    def _filter(self, request: dict[str, Any], expr: Expressions, now_s: int, with_query: bool = False) -> str:
        """The resolver's filter, and: nothing whose TTL has passed. On change records, a `query` (Amplify
        sends one for a sync filtered on an @index key) is a filter too: they are keyed by time, not by it."""
        live = "(attribute_not_exists(#gqlsyncTtl) OR #gqlsyncTtl > :gqlsyncNow)"
        expr.add({"expression": live, "expressionNames": {"#gqlsyncTtl": TTL_ATTRIBUTE},
                  "expressionValues": {":gqlsyncNow": {"N": str(now_s)}}}, "filter")
        return all_of(expr.add(request.get("filter"), "filter"),
                      expr.add(request.get("query"), "query") if with_query else None, live)

    async def _base(self, client: Any, request: dict[str, Any], limit: int,
                    state: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        expr = Expressions()
        params: dict[str, Any] = {"TableName": self.table, "Limit": limit,
                                  "FilterExpression": self._filter(request, expr, self.clock() // 1000)}
        if state.get("k"):
            params["ExclusiveStartKey"] = state["k"]
        if request.get("query"):  # a sync of one @index key: a Query of the base table instead of a Scan
            params["KeyConditionExpression"] = expr.add(request["query"], "query")
            params["ScanIndexForward"] = bool(request.get("scanIndexForward", True))
            if request.get("index"):
                params["IndexName"] = str(request["index"])
            else:
                params["ConsistentRead"] = True
            out = await client.query(**expr.into(params))
        else:
            params["ConsistentRead"] = True
            out = await client.scan(**expr.into(params))
        last = out.get("LastEvaluatedKey")
        self._scanned(state, out)
        return list(out.get("Items", [])), ({**state, "k": last} if last else None)

    @staticmethod
    def _scanned(state: dict[str, Any], out: dict[str, Any]) -> None:
        state["c"] = int(state.get("c") or 0) + int(out.get("ScannedCount", 0))

    async def _delta(self, client: Any, request: dict[str, Any], limit: int,
                     state: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        windows = list(delta.windows(self.table, max(0, int(state["l"]) - OVERLAP_MS), int(state["s"])))
        found: list[dict[str, Any]] = []
        index, start_key = int(state.get("w", 0)), state.get("k")
        now_s = self.clock() // 1000
        while index < len(windows) and len(found) < limit:
            pk, lo, hi = windows[index]
            expr = Expressions()
            filter_text = self._filter(request, expr, now_s, with_query=True)
            window = expr.add({
                "expression": "#gqlsyncPk = :gqlsyncPk AND #gqlsyncSk BETWEEN :gqlsyncLo AND :gqlsyncHi",
                "expressionNames": {"#gqlsyncPk": delta.PK, "#gqlsyncSk": delta.SK},
                "expressionValues": {":gqlsyncPk": {"S": pk}, ":gqlsyncLo": {"S": lo}, ":gqlsyncHi": {"S": hi}}},
                "query")
            params: dict[str, Any] = {
                "TableName": self.config.delta_sync_table_name, "Limit": limit - len(found), "ConsistentRead": True,
                "KeyConditionExpression": window, "FilterExpression": filter_text}
            if start_key:
                params["ExclusiveStartKey"] = start_key
            out = await client.query(**expr.into(params))
            self._scanned(state, out)
            found.extend(delta.strip(r) for r in out.get("Items", []))
            start_key = out.get("LastEvaluatedKey")
            if not start_key:
                index += 1
        more = index < len(windows)
        return found, ({**state, "w": index, "k": start_key} if more else None)
