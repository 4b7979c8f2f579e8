"""OpenSearch and Elasticsearch data sources: AppSync's request documents sent through the official async clients.

A request is `{"version", "operation": GET|POST|PUT|DELETE|HEAD, "path": "/index/_search", "params":
{"headers", "queryString", "body"}}`; the cluster's JSON answer is `$ctx.result` as it is. A cluster error
(4xx/5xx) fails the field with the cluster's own `error.type` as errorType and its `reason` as message; a
cluster that cannot be reached fails the field, and the next call tries again (the clients reconnect).

`opensearch-py` (`AsyncOpenSearch`) serves both AppSync types by default — Amazon OpenSearch Service and the
older Amazon Elasticsearch Service domains both speak its protocol — and signs requests to AWS domains with
SigV4 (`es`, or `aoss` for OpenSearch Serverless). `client: elasticsearch` uses `AsyncElasticsearch` for an
Elastic cluster. `gqlsync dev` points every search data source at its embedded engine instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from gqlsync.app.model import TableConfig
from gqlsync.datasources.base import DATA_SOURCES, Call, DataSourceEnv
from gqlsync.errors import DataSourceError, ResolverError

OPERATIONS = ("GET", "POST", "PUT", "DELETE", "HEAD")
_AWS_HOST = re.compile(r"\.(es|aoss)\.amazonaws\.com(\.cn)?$")


@dataclass(frozen=True)
class SearchConfig:
    """An OpenSearch/Elasticsearch endpoint (AppSync's OpenSearchServiceConfig / ElasticsearchConfig); without one,
    the server's search endpoint (`gqlsync dev`'s embedded engine, `--search-endpoint`) serves the source."""

    endpoint: str | None = None
    region: str | None = None
    #: Which official client talks to the cluster.
    client: Literal["opensearch", "elasticsearch"] = "opensearch"
    #: SigV4-sign requests: `auto` signs for AWS domains (*.es.amazonaws.com, *.aoss.amazonaws.com).
    signing: Literal["auto", "sigv4", "none"] = "auto"
    timeout_seconds: float = 10.0

    def check(self) -> None:
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"config.endpoint must start with http:// or https://, got {self.endpoint!r}")
        if self.timeout_seconds <= 0:
            raise ValueError("config.timeoutSeconds must be positive")
        if self.client == "elasticsearch" and self.signing == "sigv4":
            raise ValueError("config.signing sigv4 needs client opensearch (the Elasticsearch client does not sign "
                             "for AWS)")


def _aws_service(endpoint: str) -> str | None:
    m = _AWS_HOST.search(urlsplit(endpoint).hostname or "")
    return m.group(1) if m else None


def _region(config: SearchConfig, endpoint: str, default: str) -> str:
    if config.region:
        return config.region
    parts = (urlsplit(endpoint).hostname or "").split(".")
    # search-<domain>-<id>.<region>.es.amazonaws.com, <id>.<region>.aoss.amazonaws.com
    return parts[-4] if _aws_service(endpoint) and len(parts) >= 4 else default


def _cluster_error(status: int, body: Any) -> DataSourceError:
    """The field error for a cluster's error answer: its `error.type` and `error.reason`."""
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except ValueError:
            pass
    error = body.get("error") if isinstance(body, dict) else body
    if isinstance(error, dict):
        kind, reason = str(error.get("type") or "search_error"), str(error.get("reason") or error)
    elif error:
        kind, reason = "search_error", str(error)
    else:
        kind, reason = "search_error", f"the cluster answered HTTP {status}: {str(body)[:300]}"
    return DataSourceError(reason, kind, data=None, error_info={"statusCode": status})


class _Client:
    """One official client for one endpoint: the request document sent, its errors read as field errors."""

    def __init__(self, client: Any, endpoint: str) -> None:
        self.client = client
        self.endpoint = endpoint

    async def request(self, method: str, path: str, query: dict[str, Any], headers: dict[str, str],
                      body: Any) -> Any:
        raise NotImplementedError

    def _unreachable(self, exc: Exception) -> DataSourceError:
        return DataSourceError(f"The search cluster at {self.endpoint} cannot be reached: {exc}",
                               "OpenSearch:ConnectionError")

    async def close(self) -> None:
        await self.client.close()


class _OpenSearch(_Client):
    def __init__(self, endpoint: str, config: SearchConfig, sign: str | None, region: str) -> None:
        from opensearchpy import AsyncHttpConnection, AsyncOpenSearch

        options: dict[str, Any] = {"hosts": [endpoint], "timeout": config.timeout_seconds, "max_retries": 1,
                                   "retry_on_timeout": False, "connection_class": AsyncHttpConnection}
        if sign:
            import botocore.session
            from opensearchpy import AWSV4SignerAsyncAuth

            credentials = botocore.session.get_session().get_credentials()
            if credentials is None:
                raise DataSourceError(f"No AWS credentials to sign requests to {endpoint} with",
                                      "OpenSearch:Credentials")
            options["http_auth"] = AWSV4SignerAsyncAuth(credentials, region, sign)
        super().__init__(AsyncOpenSearch(**options), endpoint)

    async def request(self, method: str, path: str, query: dict[str, Any], headers: dict[str, str],
                      body: Any) -> Any:
        from opensearchpy import ConnectionError as Unreachable
        from opensearchpy import TransportError

        try:
            return await self.client.transport.perform_request(method, path, params=query or None, body=body,
                                                               headers=headers or None)
        except Unreachable as exc:  # ConnectionTimeout is one too
            raise self._unreachable(exc) from None
        except TransportError as exc:
            status = exc.status_code if isinstance(exc.status_code, int) else 500
            # opensearch-py's AsyncHttpConnection (the one that signs) leaves `info` empty and the raw body in
            # `error`: the answer is read from whichever holds it
            raise _cluster_error(status, exc.info if exc.info is not None else exc.error) from None


class _Elasticsearch(_Client):
    def __init__(self, endpoint: str, config: SearchConfig) -> None:
        from elasticsearch import AsyncElasticsearch

        super().__init__(AsyncElasticsearch(endpoint, request_timeout=config.timeout_seconds, max_retries=1,
                                            retry_on_timeout=False), endpoint)

    async def request(self, method: str, path: str, query: dict[str, Any], headers: dict[str, str],
                      body: Any) -> Any:
        from elastic_transport import ConnectionError as Unreachable
        from elastic_transport import ConnectionTimeout
        from elasticsearch import ApiError

        sent = {"accept": "application/json", **({"content-type": "application/json"} if body is not None else {}),
                **headers}
        try:
            response = await self.client.perform_request(method, path, params=query or None, headers=sent,
                                                         body=body)
        except (Unreachable, ConnectionTimeout) as exc:
            raise self._unreachable(exc) from None
        except ApiError as exc:
            raise _cluster_error(exc.meta.status, exc.body) from None
        return bool(response) if method == "HEAD" else response.body


class SearchDataSource:
    """AMAZON_OPENSEARCH_SERVICE / AMAZON_ELASTICSEARCH."""

    type: str
    config_type = SearchConfig
    direct = False
    tables: tuple[TableConfig, ...] = ()

    def __init__(self, name: str, config: SearchConfig, env: DataSourceEnv) -> None:
        self.name = name
        self.config = config
        self._clients = env.clients
        self._client: _Client | None = None

    def _connect(self) -> _Client:
        """The client for where this source's requests go now: the configured cluster, or the endpoint the
        server gives every search source (`gqlsync dev`'s embedded engine, `--search-endpoint`)."""
        override = self._clients.settings.search_endpoint
        given = override or self.config.endpoint
        if not given:
            raise DataSourceError(f"Data source {self.name} has no endpoint: give config.endpoint, or serve with "
                                  "--search-endpoint URL (`gqlsync dev` uses its embedded engine)",
                                  "OpenSearch:NoEndpoint")
        endpoint = given.rstrip("/")
        if self._client is not None and self._client.endpoint == endpoint:
            return self._client
        cfg = self.config
        sign = None
        if not override and cfg.signing != "none":
            sign = _aws_service(endpoint) or ("es" if cfg.signing == "sigv4" else None)
        client: _Client = (_Elasticsearch(endpoint, cfg) if cfg.client == "elasticsearch" else
                           _OpenSearch(endpoint, cfg, sign, _region(cfg, endpoint, self._clients.settings.region)))
        self._client = client
        return client

    async def start(self) -> None:
        return None  # connects on first use: a cluster that is down must not stop the API from serving

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None,
                      headers: dict[str, str] | None = None) -> Any:
        """One call to the cluster outside any resolver (the streams worker's `_bulk`, `reindex`); raises
        DataSourceError as `invoke` does (`OpenSearch:ConnectionError` when it cannot be reached)."""
        return await self._connect().request(method, path, query or {}, headers or {}, body)

    async def invoke(self, request: dict[str, Any], call: Call) -> Any:
        operation = str(request.get("operation", "")).upper()
        if operation not in OPERATIONS:
            raise ResolverError(f"Unsupported operation {request.get('operation')!r} for a {self.type} data source; "
                                f"expected one of {', '.join(OPERATIONS)}", "MappingTemplate")
        path = request.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ResolverError("path must be a string starting with '/'", "MappingTemplate")
        params = request.get("params") or {}
        if not isinstance(params, dict):
            raise ResolverError("params must be an object", "MappingTemplate")
        headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
        query = {str(k): _query_value(v) for k, v in (params.get("queryString") or {}).items()}
        body = params.get("body")
        if isinstance(body, str) and body.strip():
            try:
                body = json.loads(body)
            except ValueError:
                pass  # sent as it is (NDJSON for _bulk, say)
        return await self._connect().request(operation, path, query, headers, body)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


@DATA_SOURCES.register("AMAZON_OPENSEARCH_SERVICE")
class OpenSearchDataSource(SearchDataSource):
    type = "AMAZON_OPENSEARCH_SERVICE"


@DATA_SOURCES.register("AMAZON_ELASTICSEARCH")
class ElasticsearchDataSource(SearchDataSource):
    type = "AMAZON_ELASTICSEARCH"
