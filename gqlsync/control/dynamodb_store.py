"""The control store in one DynamoDB table (pynamodb models), for several gqlsync nodes sharing their APIs.

One table, `pk`/`sk`: `API`/<id> (name, created), `NAME`/<name> (keeps names unique), `V#<id>`/<number> (the
version's record and its files, zlib-compressed, split over `C#<id>#<n>`/<i> items past 350 KB), `ROUTING`/<id>
(what the API serves, with the revision every change is conditioned on). pynamodb is synchronous: each call runs
on a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError
from pynamodb.models import Model

from gqlsync.control.bundle import Bundle
from gqlsync.control.store import ApiRecord, Routing, StoreConflictError, VersionRecord, check_api_name, new_api_id

CHUNK = 350 * 1024


def _item_model(table: str, host: str | None, region: str) -> type[Model]:
    local = bool(host) and not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"))

    class Item(Model):
        class Meta:
            table_name = table
            billing_mode = "PAY_PER_REQUEST"

        pk = UnicodeAttribute(hash_key=True)
        sk = UnicodeAttribute(range_key=True)
        name = UnicodeAttribute(null=True)
        api_id = UnicodeAttribute(null=True)
        created_at = NumberAttribute(null=True)
        checksum = UnicodeAttribute(null=True)
        author = UnicodeAttribute(null=True)
        message = UnicodeAttribute(null=True)
        size = NumberAttribute(null=True)
        chunks = NumberAttribute(null=True)
        files = BinaryAttribute(null=True, legacy_encoding=False)
        revision = NumberAttribute(null=True)
        state = UnicodeAttribute(null=True)

    Item.Meta.host = host  # type: ignore[attr-defined]
    Item.Meta.region = region  # type: ignore[attr-defined]
    if local:  # DynamoDB Local takes any credentials (as gqlsync's other local clients do)
        Item.Meta.aws_access_key_id = "local"  # type: ignore[attr-defined]
        Item.Meta.aws_secret_access_key = "local"  # type: ignore[attr-defined]
    return Item


def _conflict(exc: PutError) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


class DynamoDBStore:
    """`ControlStore` on a DynamoDB table (created on first use if missing)."""

    def __init__(self, table: str = "gqlsync-control", *, endpoint: str | None = None,
                 region: str = "us-east-1") -> None:
        self.table = table
        self.Item: Any = _item_model(table, endpoint, region)
        self._ready = False

    async def _call(self, fn: Any, *args: Any) -> Any:
        if not self._ready:
            await asyncio.to_thread(self._ensure)
        return await asyncio.to_thread(fn, *args)

    def _ensure(self) -> None:
        if not self.Item.exists():
            self.Item.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
        self._ready = True

    # -- APIs
    def _create(self, name: str) -> ApiRecord:
        record = ApiRecord(new_api_id(), name, time.time())
        try:
            self.Item(pk="NAME", sk=name, api_id=record.id).save(condition=self.Item.pk.does_not_exist())
        except PutError as exc:
            if _conflict(exc):
                raise StoreConflictError(f"an API named {name!r} exists already") from None
            raise
        self.Item(pk="API", sk=record.id, name=name, created_at=record.created_at).save()
        return record

    async def create_api(self, name: str) -> ApiRecord:
        record: ApiRecord = await self._call(self._create, check_api_name(name))
        return record

    def _apis(self) -> list[ApiRecord]:
        out = [ApiRecord(i.sk, i.name or "", float(i.created_at or 0)) for i in self.Item.query("API")]
        return sorted(out, key=lambda a: a.created_at)

    async def apis(self) -> list[ApiRecord]:
        records: list[ApiRecord] = await self._call(self._apis)
        return records

    def _api(self, key: str) -> ApiRecord | None:
        try:
            item = self.Item.get("API", key)
        except self.Item.DoesNotExist:
            try:
                key = str(self.Item.get("NAME", key).api_id)
                item = self.Item.get("API", key)
            except self.Item.DoesNotExist:
                return None
        return ApiRecord(item.sk, item.name or "", float(item.created_at or 0))

    async def api(self, id_or_name: str) -> ApiRecord | None:
        record: ApiRecord | None = await self._call(self._api, id_or_name)
        return record

    # -- versions
    def _add(self, api_id: str, bundle: Bundle, author: str, message: str) -> VersionRecord:
        blob = bundle.pack()
        parts = [blob[i:i + CHUNK] for i in range(0, len(blob), CHUNK)] or [b""]
        for _ in range(20):
            last = next(iter(self.Item.query(f"V#{api_id}", scan_index_forward=False, limit=1)), None)
            number = int(last.sk) + 1 if last is not None else 1
            record = VersionRecord(api_id, number, bundle.checksum, author, message, time.time(), bundle.size)
            for i, part in enumerate(parts[1:], 1):  # the chunks first: a record never points at missing files
                self.Item(pk=f"C#{api_id}#{number}", sk=f"{i:05d}", files=part).save()
            try:
                self.Item(pk=f"V#{api_id}", sk=f"{number:010d}", checksum=record.checksum, author=author,
                          message=message, created_at=record.created_at, size=record.size, chunks=len(parts),
                          files=parts[0]).save(condition=self.Item.pk.does_not_exist())
            except PutError as exc:
                if _conflict(exc):
                    continue  # another deploy took this number: the next one
                raise
            return record
        raise StoreConflictError(f"could not number a new version of {api_id}: too many deploys at once")

    async def add_version(self, api_id: str, bundle: Bundle, author: str, message: str) -> VersionRecord:
        record: VersionRecord = await self._call(self._add, api_id, bundle, author, message)
        return record

    def _versions(self, api_id: str) -> list[VersionRecord]:
        return [VersionRecord(api_id, int(i.sk), i.checksum or "", i.author or "", i.message or "",
                              float(i.created_at or 0), int(i.size or 0))
                for i in self.Item.query(f"V#{api_id}", attributes_to_get=[
                    "pk", "sk", "checksum", "author", "message", "created_at", "size"])]

    async def versions(self, api_id: str) -> list[VersionRecord]:
        records: list[VersionRecord] = await self._call(self._versions, api_id)
        return records

    def _bundle(self, api_id: str, number: int) -> Bundle:
        try:
            item = self.Item.get(f"V#{api_id}", f"{number:010d}", consistent_read=True)
        except self.Item.DoesNotExist:
            raise KeyError(f"API {api_id} has no version {number}") from None
        blob = bytes(item.files or b"")
        if int(item.chunks or 1) > 1:
            rest = sorted(self.Item.query(f"C#{api_id}#{number}", consistent_read=True), key=lambda c: c.sk)
            blob += b"".join(bytes(c.files or b"") for c in rest)
        return Bundle.unpack(blob)

    async def bundle(self, api_id: str, number: int) -> Bundle:
        found: Bundle = await self._call(self._bundle, api_id, number)
        return found

    # -- routing
    def _routing(self, api_id: str) -> Routing:
        try:
            item = self.Item.get("ROUTING", api_id, consistent_read=True)
        except self.Item.DoesNotExist:
            return Routing(api_id)
        return Routing.from_json(json.loads(item.state or "{}"))

    async def routing(self, api_id: str) -> Routing:
        found: Routing = await self._call(self._routing, api_id)
        return found

    def _routings(self) -> dict[str, Routing]:
        return {i.sk: Routing.from_json(json.loads(i.state or "{}"))
                for i in self.Item.query("ROUTING", consistent_read=True)}

    async def routings(self) -> dict[str, Routing]:
        found: dict[str, Routing] = await self._call(self._routings)
        return found

    def _set(self, routing: Routing, expected: int) -> bool:
        condition = (self.Item.pk.does_not_exist() if expected == 0 else self.Item.revision == expected)
        try:
            self.Item(pk="ROUTING", sk=routing.api_id, revision=routing.revision,
                      state=json.dumps(routing.to_json())).save(condition=condition)
        except PutError as exc:
            if _conflict(exc):
                return False
            raise
        return True

    async def set_routing(self, routing: Routing, expected_revision: int) -> bool:
        ok: bool = await self._call(self._set, routing, expected_revision)
        return ok

    async def close(self) -> None:
        return None
