"""The HTTP data source: AppSync's method/resourcePath/params documents sent with one pooled client."""

from __future__ import annotations

from typing import Any

import httpx

from gqlsync.app.model import DataSourceConfig
from gqlsync.datasources.clients import ClientProvider
from gqlsync.errors import DataSourceError, ResolverError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class HttpDataSource:
    type = "HTTP"

    def __init__(self, config: DataSourceConfig, clients: ClientProvider) -> None:
        self.name = config.name
        self.endpoint = str(config.config["endpoint"]).rstrip("/")
        self.timeout = float(config.config.get("timeoutSeconds", 10))
        self._clients = clients

    async def invoke(self, request: dict[str, Any]) -> Any:
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
            import json

            body = json.dumps(body, separators=(",", ":"))
        try:
            resp = await self._clients.http().request(method, self.endpoint + path, params=query,
                                                       headers=headers, content=body, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise DataSourceError(f"HTTP request to {self.endpoint} timed out: {exc}", "HTTP:Timeout") from None
        except httpx.HTTPError as exc:
            raise DataSourceError(f"HTTP request to {self.endpoint} failed: {exc}",
                                  "HTTP:ConnectionError") from None
        return {"statusCode": resp.status_code, "headers": dict(resp.headers), "body": resp.text}
