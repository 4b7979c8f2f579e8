"""`$util` as templates see it: gqlsync.util's core with Java's toString, `qr`/`quiet` and the `...Json` twins."""

from __future__ import annotations

from typing import Any

from gqlsync.runtimes.context import ResolverContext
from gqlsync.runtimes.vtl.velocity import dumps, java_str
from gqlsync.util import dynamodb as core_dynamodb
from gqlsync.util import transform as core_transform
from gqlsync.util.core import UtilCore
from gqlsync.util.families import ListUtil

__all__ = ["DynamoDBUtil", "TransformUtil", "Util"]


class DynamoDBUtil(core_dynamodb.DynamoDBUtil):
    """`$util.dynamodb`: the core's objects, and a `toXJson` twin of every `toX` returning the JSON text."""

    def toDynamoDBJson(self, v: Any) -> str:  # noqa: N802 - AppSync names
        return dumps(self.toDynamoDB(v))

    def toStringJson(self, v: Any) -> str:  # noqa: N802
        return dumps(self.toString(v))

    def toStringSetJson(self, v: list[str]) -> str:  # noqa: N802
        return dumps(self.toStringSet(v))

    def toNumberJson(self, v: Any) -> str:  # noqa: N802
        return dumps(self.toNumber(v))

    def toNumberSetJson(self, v: list[Any]) -> str:  # noqa: N802
        return dumps(self.toNumberSet(v))

    def toBinaryJson(self, v: str) -> str:  # noqa: N802
        return dumps(self.toBinary(v))

    def toBinarySetJson(self, v: list[str]) -> str:  # noqa: N802
        return dumps(self.toBinarySet(v))

    def toBooleanJson(self, v: Any) -> str:  # noqa: N802
        return dumps(self.toBoolean(v))

    def toNullJson(self) -> str:  # noqa: N802
        return dumps(self.toNull())

    def toListJson(self, v: list[Any]) -> str:  # noqa: N802
        return dumps(self.toList(v))

    def toMapJson(self, v: dict[str, Any]) -> str:  # noqa: N802
        return dumps(self.toMap(v))

    def toMapValuesJson(self, v: dict[str, Any]) -> str:  # noqa: N802
        return dumps(self.toMapValues(v))

    def toS3ObjectJson(self, key: str, bucket: str, region: str, version: str | None = None) -> str:  # noqa: N802
        return dumps(self.toS3Object(key, bucket, region, version))


class TransformUtil:
    """`$util.transform`: VTL's expressions are JSON text to paste into a template (subscription filters stay maps)."""

    def toDynamoDBFilterExpression(self, spec: Any) -> str | None:  # noqa: N802 - AppSync names
        doc = core_transform.dynamodb_expression(spec)
        return None if doc is None else dumps(doc)

    def toDynamoDBConditionExpression(self, spec: Any) -> str | None:  # noqa: N802
        return self.toDynamoDBFilterExpression(spec)

    def toElasticsearchQueryDSL(self, spec: Any) -> str:  # noqa: N802
        return dumps(core_transform.TransformUtil().toElasticsearchQueryDSL(spec))

    def toSubscriptionFilter(self, spec: Any, ignored_fields: Any = None, rules: Any = None) -> dict[str, Any]:  # noqa: N802
        return core_transform.subscription_filter(spec, ignored_fields, rules)


class Util(UtilCore):
    """`$util` for one resolver invocation: arguments become text as Java's toString() renders them."""

    dynamodb = DynamoDBUtil()
    transform = TransformUtil()

    def __init__(self, ctx: ResolverContext) -> None:
        super().__init__(ctx, java_str)

    # -- silencing
    def qr(self, *args: Any) -> str:
        return ""

    def quiet(self, *args: Any) -> str:
        return ""

    def toJson(self, v: Any) -> str:  # noqa: N802
        return dumps(v)


# `$util.list` sorts non-numbers by their Java string; set after the class, like the core's families.
setattr(Util, "list", ListUtil(java_str))  # noqa: B010
