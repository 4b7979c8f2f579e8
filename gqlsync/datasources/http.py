"""The HTTP data source: AppSync's method/resourcePath/params documents sent with one pooled client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from gqlsync.app.model import TableConfig
from gqlsync.datasources.base import DATA_SOURCES, Call, DataSourceEnv
from gqlsync.errors import DataSourceError, ResolverError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class HttpConfig:
    endpoint: str
    timeout_seconds: float = 10.0

    def check(self) -> None:
        if not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"config.endpoint must start with http:// or https://, got {self.endpoint!r}")
        if self.timeout_seconds <= 0:
            raise ValueError("config.timeoutSeconds must be positive")


@DATA_SOURCES.register("HTTP")
class HttpDataSource:
    type = "HTTP"
    config_type = HttpConfig
    direct = False
    tables: tuple[TableConfig, ...] = ()

    def __init__(self, name: str, config: HttpConfig, env: DataSourceEnv) -> None:
        self.name = name
        self.endpoint = config.endpoint.rstrip("/")
        self.timeout = config.timeout_seconds
        self._clients = env.clients
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._http = self._clients.http()

    async def close(self) -> None:
        self._http = None  # the pooled client belongs to the ClientProvider, which closes it

    async def invoke(self, request: dict[str, Any], call: Call) -> Any:
        method = str(request.get("method", "")).upper()
        if method not in METHODS:
            raise ResolverError(f"Unsupported HTTP method {request.get('method')!r}", "MappingTemplate")
        path = request.get("resourcePath")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ResolverError("resourcePath must be a string starting with '/'", "MappingTemplate")
        params = request.get("params") or {}
        headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
        query = {str(k): (v if isinstance(v, list) else str(v)) for k, v in (params.get("query") or {}).items()}
        body = params.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body, separators=(",", ":"))
        http = self._http or self._clients.http()
        try:
            resp = await http.request(method, self.endpoint + path, params=query, headers=headers, content=body,
                                      timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise DataSourceError(f"HTTP request to {self.endpoint} timed out: {exc}", "HTTP:Timeout") from None
        except httpx.HTTPError as exc:
            raise DataSourceError(f"HTTP request to {self.endpoint} failed: {exc}",
                                  "HTTP:ConnectionError") from None
        return {"statusCode": resp.status_code, "headers": dict(resp.headers), "body": resp.text}
