"""`$util.dynamodb`: converting plain values to and from DynamoDB's typed attribute values."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from gqlsync.runtimes.vtl.velocity import dumps, is_number


def _num(v: Any) -> Any:
    """AppSync writes N values as JSON numbers (`{"N": 12345}`); strings of digits pass through."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def to_attribute(value: Any) -> dict[str, Any]:
    """A plain value as a DynamoDB attribute value (strings S, numbers N, maps M, lists L...)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if is_number(value) or isinstance(value, Decimal):
        return {"N": _num(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        return {"B": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attribute(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        items = list(value)
        if items and all(isinstance(i, str) for i in items):
            return {"SS": items}
        if items and all(is_number(i) for i in items):
            return {"NS": [_num(i) for i in items]}
        return {"L": [to_attribute(v) for v in items]}
    raise TypeError(f"cannot convert {type(value).__name__} to a DynamoDB value")


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: to_attribute(v) for k, v in values.items()}


class DynamoDBUtil:
    """The `$util.dynamodb` family; every `toX` has a `toXJson` twin that returns the JSON text."""

    def toDynamoDB(self, v: Any) -> dict[str, Any]:  # noqa: N802 - AppSync names
        return to_attribute(v)

    def toDynamoDBJson(self, v: Any) -> str:  # noqa: N802
        return dumps(to_attribute(v))

    def toString(self, v: Any) -> dict[str, Any]:  # noqa: N802
        return {"S": v}

    def toStringJson(self, v: Any) -> str:  # noqa: N802
        return dumps({"S": v})

    def toStringSet(self, v: list[str]) -> dict[str, Any]:  # noqa: N802
        return {"SS": list(v)}

    def toStringSetJson(self, v: list[str]) -> str:  # noqa: N802
        return dumps(self.toStringSet(v))

    def toNumber(self, v: Any) -> dict[str, Any]:  # noqa: N802
        return {"N": _num(v)}

    def toNumberJson(self, v: Any) -> str:  # noqa: N802
        return dumps(self.toNumber(v))

    def toNumberSet(self, v: list[Any]) -> dict[str, Any]:  # noqa: N802
        return {"NS": [_num(x) for x in v]}

    def toNumberSetJson(self, v: list[Any]) -> str:  # noqa: N802
        return dumps(self.toNumberSet(v))

    def toBinary(self, v: str) -> dict[str, Any]:  # noqa: N802
        return {"B": v}

    def toBinaryJson(self, v: str) -> str:  # noqa: N802
        return dumps({"B": v})

    def toBinarySet(self, v: list[str]) -> dict[str, Any]:  # noqa: N802
        return {"BS": list(v)}

    def toBinarySetJson(self, v: list[str]) -> str:  # noqa: N802
        return dumps({"BS": list(v)})

    def toBoolean(self, v: Any) -> dict[str, Any]:  # noqa: N802
        return {"BOOL": bool(v)}

    def toBooleanJson(self, v: Any) -> str:  # noqa: N802
        return dumps({"BOOL": bool(v)})

    def toNull(self) -> dict[str, Any]:  # noqa: N802
        return {"NULL": True}

    def toNullJson(self) -> str:  # noqa: N802
        return dumps({"NULL": True})

    def toList(self, v: list[Any]) -> dict[str, Any]:  # noqa: N802
        return {"L": [to_attribute(x) for x in v]}

    def toListJson(self, v: list[Any]) -> str:  # noqa: N802
        return dumps(self.toList(v))

    def toMap(self, v: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"M": to_item(v)}

    def toMapJson(self, v: dict[str, Any]) -> str:  # noqa: N802
        return dumps(self.toMap(v))

    def toMapValues(self, v: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return to_item(v)

    def toMapValuesJson(self, v: dict[str, Any]) -> str:  # noqa: N802
        return dumps(to_item(v))

    def toS3Object(self, key: str, bucket: str, region: str, version: str | None = None) -> dict[str, Any]:  # noqa: N802
        s3: dict[str, Any] = {"key": key, "bucket": bucket, "region": region}
        if version is not None:
            s3["version"] = version
        return {"S": dumps({"s3": s3})}

    def toS3ObjectJson(self, key: str, bucket: str, region: str, version: str | None = None) -> str:  # noqa: N802
        return dumps(self.toS3Object(key, bucket, region, version))

    def fromS3ObjectJson(self, text: str) -> dict[str, Any]:  # noqa: N802
        import json

        obj = json.loads(text)
        return dict(obj.get("s3", obj))
