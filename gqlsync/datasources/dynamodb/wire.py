"""A lean DynamoDB data-plane client: JSON over pooled keep-alive connections, SigV4-signed, retried.

DynamoDB's API is JSON over HTTP, and AppSync's request documents are already in its wire format,
so gqlsync skips botocore's model-driven request pipeline on the hot path (profiling showed it was
half of a getEvent's CPU) while keeping botocore's credential chain (environment, profiles, SSO,
instance and container roles, with refresh). Service errors are raised as botocore `ClientError`s
and unreachable endpoints as `EndpointConnectionError`, so callers handle one set of exceptions.
Control-plane calls (creating tables) stay on aioboto3.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
import zlib
from typing import Any

import orjson
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from gqlsync.datasources.dynamodb.connections import ConnectionPool
from gqlsync.sigv4 import Credentials, sign

_TARGET_PREFIX = "DynamoDB_20120810."
_RETRYABLE_CODES = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException",
                              "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
                              "LimitExceededException", "TransactionInProgressException"})
_SNAKE = re.compile(r"_([a-z])")


class CredentialSource:
    """Static credentials, or botocore's (aiobotocore's) chain with its refresh logic."""

    def __init__(self, static: Credentials | None = None) -> None:
        self._static = static
        self._resolved: Any = None
        self._lock = asyncio.Lock()

    async def get(self) -> Credentials:
        if self._static is not None:
            return self._static
        if self._resolved is None:
            async with self._lock:
                if self._resolved is None:
                    from aiobotocore.session import get_session

                    self._resolved = await get_session().get_credentials()
                    if self._resolved is None:
                        raise NoCredentialsError()
        frozen = await self._resolved.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)


class DynamoDBWireClient:
    """`await client.call("GetItem", params)`; also `client.get_item(**params)` in botocore's spelling."""

    def __init__(self, endpoint: str, region: str, credentials: CredentialSource, *, max_attempts: int = 3,
                 connect_timeout: float = 2.0, read_timeout: float = 10.0, max_connections: int = 100) -> None:
        self.endpoint = endpoint.rstrip("/") + "/"
        self.region = region
        self.credentials = credentials
        self.max_attempts = max(1, max_attempts)
        self._new_pool = functools.partial(ConnectionPool, self.endpoint, max_connections=max_connections,
                                           connect_timeout=connect_timeout, read_timeout=read_timeout)
        self._pool: ConnectionPool | None = None

    def _http(self) -> ConnectionPool:
        if self._pool is None:  # made on first use (and again after close)
            self._pool = self._new_pool()
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        operation = _SNAKE.sub(lambda m: m.group(1).upper(), name)
        operation = operation[:1].upper() + operation[1:]

        async def call(**params: Any) -> dict[str, Any]:
            return await self.call(operation, params)

        return call

    async def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = orjson.dumps(params)
        attempt = 0
        while True:
            attempt += 1
            creds = await self.credentials.get()
            headers = sign("POST", self.endpoint, {"content-type": "application/x-amz-json-1.0",
                                                   "x-amz-target": _TARGET_PREFIX + operation},
                           body, creds, self.region, "dynamodb")
            try:
                status, response_headers, raw = await self._http().post(headers, body)
            except (TimeoutError, OSError) as exc:  # ConnectionError is an OSError
                if attempt < self.max_attempts:
                    await self._backoff(attempt)
                    continue
                raise EndpointConnectionError(endpoint_url=self.endpoint, error=exc) from None
            crc = response_headers.get(b"x-amz-crc32")
            if crc is not None and crc.isdigit() and int(crc) != zlib.crc32(raw) & 0xFFFFFFFF:
                if attempt < self.max_attempts:
                    await self._backoff(attempt)
                    continue
                raise ClientError({"Error": {"Code": "CRC32CheckFailed", "Message": "response checksum mismatch"},
                                   "ResponseMetadata": {"HTTPStatusCode": status}}, operation)
            data: dict[str, Any] = orjson.loads(raw) if raw else {}
            if status < 300:
                return data
            code = str(data.get("__type", "")).rsplit("#", 1)[-1] or f"HTTP{status}"
            if (status >= 500 or code in _RETRYABLE_CODES) and attempt < self.max_attempts:
                await self._backoff(attempt)
                continue
            message = data.get("message") or data.get("Message") or code
            extra = {k: v for k, v in data.items() if k in ("Item", "CancellationReasons")}
            raise ClientError({"Error": {"Code": code, "Message": message},
                               "ResponseMetadata": {"HTTPStatusCode": status}, **extra}, operation)

    @staticmethod
    async def _backoff(attempt: int) -> None:
        await asyncio.sleep(random.uniform(0, 0.05 * 2 ** (attempt - 1)))
