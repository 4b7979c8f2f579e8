"""JSON responses, fast (orjson) and in AppSync's error shape."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import Response


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    try:
        content = orjson.dumps(body)
    except TypeError:  # e.g. integers beyond 64 bits
        content = json.dumps(body, ensure_ascii=False, default=str).encode()
    return Response(content, status_code=status, headers=headers, media_type="application/json")


def error_body(message: str, error_type: str) -> dict[str, Any]:
    """AppSync's body for a request refused as a whole (no field resolved)."""
    return {"errors": [{"errorType": error_type, "message": message}]}


def error_response(message: str, error_type: str, status: int, request_id: str,
                   extra_headers: dict[str, str] | None = None) -> Response:
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error_type, **(extra_headers or {})}
    return json_response(error_body(message, error_type), status, headers)
