"""`util.dynamodb`: plain values to and from DynamoDB's typed attribute values, as Python objects."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from gqlsync.util.jsontext import to_json
from gqlsync.util.values import is_number


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


def s3_object(key: str, bucket: str, region: str, version: str | None = None) -> dict[str, Any]:
    """An S3 object reference as AppSync stores it: an S value holding `{"s3": {...}}` as JSON text."""
    s3: dict[str, Any] = {"key": key, "bucket": bucket, "region": region}
    if version is not None:
        s3["version"] = version
    return {"S": to_json({"s3": s3})}


def from_s3_object(text: str) -> dict[str, Any]:
    """The {key, bucket, region[, version]} of an S3 object reference's JSON text."""
    obj = json.loads(text)
    return dict(obj.get("s3", obj))


class DynamoDBUtil:
    """The `util.dynamodb` family returning attribute values as objects (VTL adds the `...Json` twins)."""

    def toDynamoDB(self, v: Any) -> dict[str, Any]:  # noqa: N802 - AppSync names
        return to_attribute(v)

    def toString(self, v: Any) -> dict[str, Any]:  # noqa: N802
        return {"S": v}

    def toStringSet(self, v: list[str]) -> dict[str, Any]:  # noqa: N802
        return {"SS": list(v)}

    def toNumber(self, v: Any) -> dict[str, Any]:  # noqa: N802
        return {"N": _num(v)}

    def toNumberSet(self, v: list[Any]) -> dict[str, Any]:  # noqa: N802
        return {"NS": [_num(x) for x in v]}

    def toBinary(self, v: str) -> dict[str, Any]:  # noqa: N802
        return {"B": v}

    def toBinarySet(self, v: list[str]) -> dict[str, Any]:  # noqa: N802
        return {"BS": list(v)}

    def toBoolean(self, v: Any) -> dict[str, Any]:  # noqa: N802
        return {"BOOL": bool(v)}

    def toNull(self) -> dict[str, Any]:  # noqa: N802
        return {"NULL": True}

    def toList(self, v: list[Any]) -> dict[str, Any]:  # noqa: N802
        return {"L": [to_attribute(x) for x in v]}

    def toMap(self, v: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"M": to_item(v)}

    def toMapValues(self, v: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return to_item(v)

    def toS3Object(self, key: str, bucket: str, region: str, version: str | None = None) -> dict[str, Any]:  # noqa: N802
        return s3_object(key, bucket, region, version)

    def fromS3ObjectJson(self, text: str) -> dict[str, Any]:  # noqa: N802
        return from_s3_object(text)
