"""Reads one table's DynamoDB stream (DescribeStream, GetShardIterator, GetRecords) shard by shard, parents first.

The same calls serve AWS, DynamoDB Local and the embedded DynamoDB (moto). A record comes back in the shape a Lambda
event source mapping delivers (`eventSourceARN` added, `ApproximateCreationDateTime` in epoch seconds), so the
handler takes both alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError


class StreamGoneError(Exception):
    """The table has no stream (any more), or the stream or shard asked for no longer exists."""


class TrimmedError(Exception):
    """The position asked for is older than the stream keeps (24 hours on AWS): records were lost to the index."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class Shard:
    id: str
    parent: str | None
    start: str
    #: set once the shard is closed (it takes no more records)
    end: str | None


def lambda_shape(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda hands it over: JSON-ready, with the stream's ARN."""
    out = dict(record)
    ddb = dict(out.get("dynamodb") or {})
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, dt.datetime):
        ddb["ApproximateCreationDateTime"] = created.timestamp()
    out["dynamodb"] = ddb
    out["eventSourceARN"] = stream_arn
    return out


class StreamReader:
    """One table's stream through an aioboto3 `dynamodb` and `dynamodbstreams` client."""

    def __init__(self, dynamodb: Any, streams: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.streams = streams
        self.table = table

    async def describe_table(self) -> dict[str, Any]:
        return dict((await self.dynamodb.describe_table(TableName=self.table))["Table"])

    async def stream_arn(self, *, enable: bool = False) -> str:
        """The table's current stream; with `enable`, turns on NEW_AND_OLD_IMAGES for a table that has none."""
        table = await self.describe_table()
        spec = table.get("StreamSpecification") or {}
        if spec.get("StreamEnabled") and table.get("LatestStreamArn"):
            if spec.get("StreamViewType") in ("KEYS_ONLY", "OLD_IMAGE"):
                raise StreamGoneError(f"table {self.table}'s stream carries {spec['StreamViewType']}; the index needs "
                                 "the new images (NEW_AND_OLD_IMAGES or NEW_IMAGE)")
            return str(table["LatestStreamArn"])
        if not enable:
            raise StreamGoneError(f"table {self.table} has no stream: enable one with NEW_AND_OLD_IMAGES "
                             "(StreamSpecification)")
        answer = await self.dynamodb.update_table(TableName=self.table, StreamSpecification={
            "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        arn = answer["TableDescription"].get("LatestStreamArn")
        if not arn:
            arn = (await self.describe_table()).get("LatestStreamArn")
        if not arn:
            raise StreamGoneError(f"enabling table {self.table}'s stream gave no stream ARN")
        return str(arn)

    async def key_names(self) -> list[str]:
        return [k["AttributeName"] for k in (await self.describe_table())["KeySchema"]]

    async def shards(self, arn: str) -> list[Shard]:
        out: list[Shard] = []
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": arn}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            try:
                desc = (await self.streams.describe_stream(**kwargs))["StreamDescription"]
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    raise StreamGoneError(f"stream {arn} no longer exists") from None
                raise
            for s in desc.get("Shards", []):
                rng = s.get("SequenceNumberRange") or {}
                out.append(Shard(s["ShardId"], s.get("ParentShardId"), str(rng.get("StartingSequenceNumber", "0")),
                                 rng.get("EndingSequenceNumber")))
            start = desc.get("LastEvaluatedShardId")
            if not start:
                return out

    async def iterator(self, arn: str, shard: str, after: str | None, *, latest: bool = False) -> str:
        kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard}
        if after is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        else:
            kwargs["ShardIteratorType"] = "LATEST" if latest else "TRIM_HORIZON"
        try:
            return str((await self.streams.get_shard_iterator(**kwargs))["ShardIterator"])
        except ClientError as exc:
            code = error_code(exc)
            if code == "TrimmedDataAccessException":
                raise TrimmedError(f"shard {shard} of {arn} no longer holds records after {after}") from None
            if code == "ResourceNotFoundException":
                raise StreamGoneError(f"shard {shard} of {arn} no longer exists") from None
            raise

    async def records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """A page of records and the iterator for the next (None: the shard is closed and read to its end).
        Raises ExpiredIterator (a ClientError) for the caller to take a new iterator from its position."""
        try:
            page = await self.streams.get_records(ShardIterator=iterator, Limit=limit)
        except ClientError as exc:
            code = error_code(exc)
            if code == "TrimmedDataAccessException":
                raise TrimmedError(str(exc)) from None
            if code == "ResourceNotFoundException":
                raise StreamGoneError(str(exc)) from None
            raise
        return list(page.get("Records", [])), page.get("NextShardIterator")
