"""The HTTP data source: AppSync's method/resourcePath/params documents over a pooled, verified, signed client."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx
from botocore.exceptions import BotoCoreError, NoCredentialsError

from gqlsync.app.model import TableConfig
from gqlsync.datasources.base import DATA_SOURCES, Call, DataSourceEnv
from gqlsync.datasources.dynamodb.wire import CredentialSource
from gqlsync.errors import DataSourceError, ResolverError
from gqlsync.sigv4 import sign
from gqlsync.typed_config import KEY, ConfigError

log = logging.getLogger(__name__)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class AwsIamConfig:
    """Where the SigV4 signature is scoped: the endpoint's region and service (`states`, `execute-api`, ...)."""

    signing_region: str
    signing_service_name: str


@dataclass(frozen=True)
class AuthorizationConfig:
    """AppSync's `HttpDataSourceConfig.authorizationConfig`; AWS_IAM is its only type."""

    authorization_type: Literal["AWS_IAM"]
    aws_iam_config: AwsIamConfig | None = None


@dataclass(frozen=True)
class HttpConfig:
    endpoint: str
    authorization_config: AuthorizationConfig | None = None
    #: The whole request's deadline: connecting, sending, and reading the answer.
    timeout_seconds: float = 10.0
    #: Connecting (TCP and TLS handshake); None: the server's connect timeout (AwsSettings.connect_timeout).
    connect_timeout_seconds: float | None = None
    #: A PEM file in the app folder with the CA certificates that https endpoints are verified against,
    #: instead of the system's store (private endpoints).
    ca_bundle: str | None = None
    #: https endpoints' certificates not verified at all: named so on purpose, and warned about at start.
    insecure_skip_tls_verify: bool = field(default=False, metadata={KEY: "insecureSkipTlsVerify"})
    #: The data source's connection pool: at most this many connections, each kept alive for reuse.
    max_connections: int = 100
    keep_alive_seconds: float = 30.0

    def check(self) -> None:
        if not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"config.endpoint must start with http:// or https://, got {self.endpoint!r}")
        problems: list[tuple[str | None, str]] = []
        for key, value in (("timeoutSeconds", self.timeout_seconds),
                           ("connectTimeoutSeconds", self.connect_timeout_seconds),
                           ("maxConnections", self.max_connections)):
            if value is not None and value <= 0:
                problems.append((f"config.{key}", f"config.{key} must be positive"))
        if self.keep_alive_seconds < 0:
            problems.append(("config.keepAliveSeconds", "config.keepAliveSeconds must not be negative"))
        if self.ca_bundle is not None and self.insecure_skip_tls_verify:
            problems.append(("config.insecureSkipTlsVerify",
                             "config.insecureSkipTlsVerify and config.caBundle exclude each other"))
        if (self.ca_bundle is not None or self.insecure_skip_tls_verify) and not self.endpoint.startswith("https://"):
            key = "caBundle" if self.ca_bundle is not None else "insecureSkipTlsVerify"
            problems.append((f"config.{key}", f"config.{key} applies to https:// endpoints only"))
        auth = self.authorization_config
        if auth is not None:
            iam = auth.aws_iam_config
            if iam is None:
                problems.append(("config.authorizationConfig", "config.authorizationConfig: AWS_IAM needs "
                                 "awsIamConfig: {signingRegion, signingServiceName}"))
            else:
                for key, text in (("signingRegion", iam.signing_region),
                                  ("signingServiceName", iam.signing_service_name)):
                    if not text.strip():
                        problems.append((f"config.authorizationConfig.awsIamConfig.{key}",
                                         f"config.authorizationConfig.awsIamConfig.{key} must not be empty"))
        if problems:
            raise ConfigError(problems)


def _system_tls() -> ssl.SSLContext:
    """The system's CA store (OpenSSL's default paths); certifi's bundle only where the system has none."""
    paths = ssl.get_default_verify_paths()
    if any(p and os.path.exists(p) for p in (paths.cafile, paths.capath)):
        return ssl.create_default_context()
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def tls_context(config: HttpConfig, root: Path) -> ssl.SSLContext | bool:
    """How https endpoints are verified: the system's store, the app's CA bundle, or (named so) not at all."""
    if config.insecure_skip_tls_verify:
        return False
    if config.ca_bundle is None:
        return _system_tls()
    path = Path(config.ca_bundle)
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise ConfigError([("config.caBundle", f"config.caBundle: {path} is not a file")])
    try:
        return ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError([("config.caBundle", f"config.caBundle: {path} holds no PEM certificates: {exc}")]) \
            from None


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def query_string(query: dict[str, Any]) -> str:
    """The template's `params.query` as sent: lists repeat the name; every name and value percent-encoded the way
    SigV4 canonicalizes them, so the signed and the sent query are the same bytes."""
    pairs: list[tuple[str, str]] = []
    for name, value in query.items():
        for v in value if isinstance(value, list) else [value]:
            pairs.append((str(name), _query_value(v)))
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def _headers(resp: httpx.Response) -> dict[str, str]:
    """The answer's headers as the endpoint spelled them, a repeated header's values joined with ', '."""
    out: dict[str, str] = {}
    names: dict[str, str] = {}
    for raw, value in resp.headers.raw:
        name = raw.decode("latin-1")
        spelled = names.setdefault(name.lower(), name)
        text = value.decode("latin-1")
        out[spelled] = f"{out[spelled]}, {text}" if spelled in out else text
    return out


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@DATA_SOURCES.register("HTTP")
class HttpDataSource:
    type = "HTTP"
    config_type = HttpConfig
    direct = False
    tables: tuple[TableConfig, ...] = ()

    def __init__(self, name: str, config: HttpConfig, env: DataSourceEnv) -> None:
        self.name = name
        self.config = config
        self.endpoint = config.endpoint.rstrip("/")
        self.timeout = config.timeout_seconds
        self._connect_timeout = config.connect_timeout_seconds
        self._verify = tls_context(config, env.root)
        self._clients = env.clients
        iam = config.authorization_config.aws_iam_config if config.authorization_config else None
        self._signing = (iam.signing_region, iam.signing_service_name) if iam else None
        self._credentials = CredentialSource() if iam else None
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            c = self.config
            connect = self._connect_timeout or self._clients.settings.connect_timeout
            self._http = httpx.AsyncClient(
                verify=self._verify, follow_redirects=False,
                timeout=httpx.Timeout(self.timeout, connect=min(connect, self.timeout)),
                limits=httpx.Limits(max_connections=c.max_connections, max_keepalive_connections=c.max_connections,
                                    keepalive_expiry=c.keep_alive_seconds))
        return self._http

    async def start(self) -> None:
        if self.config.insecure_skip_tls_verify:
            log.warning("HTTP data source %s: TLS certificates of %s are NOT verified (config.insecureSkipTlsVerify)",
                        self.name, self.endpoint, extra={"data_source": self.name})
        self._client()

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    def _build(self, request: dict[str, Any]) -> tuple[str, str, dict[str, str], bytes]:
        method = str(request.get("method", "")).upper()
        if method not in METHODS:
            raise ResolverError(f"Unsupported HTTP method {request.get('method')!r}", "MappingTemplate")
        path = request.get("resourcePath")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ResolverError("resourcePath must be a string starting with '/'", "MappingTemplate")
        params = request.get("params") or {}
        if not isinstance(params, dict):
            raise ResolverError("params must be a map of query, headers and body", "MappingTemplate")
        headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
        query = query_string(params.get("query") or {})
        body = params.get("body")
        if body is not None and not isinstance(body, str):
            body = json.dumps(body, separators=(",", ":"))
        url = self.endpoint + quote(path, safe="/-_.~!$&'()*+,;=:@%") + (f"?{query}" if query else "")
        return method, url, headers, (body or "").encode()

    async def _signed(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        assert self._signing is not None and self._credentials is not None
        try:
            creds = await self._credentials.get()
        except (NoCredentialsError, BotoCoreError) as exc:
            raise DataSourceError(f"HTTP data source {self.name} signs its requests (AWS_IAM) but no AWS credentials "
                                  f"were found: {exc}", "HTTP:NoCredentials") from None
        region, service = self._signing
        return sign(method, url, headers, body, creds, region, service)

    async def invoke(self, request: dict[str, Any], call: Call) -> Any:
        method, url, headers, body = self._build(request)
        http = self._client()
        try:
            async with asyncio.timeout(self.timeout):
                req = http.build_request(method, url, headers=headers, content=body or None)
                if self._signing is not None:  # over the URL exactly as httpx sends it
                    req.headers.update(await self._signed(method, str(req.url), headers, body))
                resp = await http.send(req)
        except httpx.ConnectTimeout:  # no connection was made, so the request never left: safe for any method
            raise DataSourceError(f"HTTP request to {self.endpoint} timed out connecting after {self.timeout:g} s",
                                  "HTTP:Timeout", retry="unsent") from None
        except (httpx.TimeoutException, TimeoutError):
            raise DataSourceError(f"HTTP request to {self.endpoint} timed out after {self.timeout:g} s",
                                  "HTTP:Timeout") from None
        except httpx.HTTPError as exc:
            tls = _tls_failure(exc)
            if tls is not None:
                trust = (f"config.caBundle {self.config.ca_bundle}" if self.config.ca_bundle
                         else "the system's CA store (config.caBundle names a private CA)")
                why = getattr(tls, "verify_message", None) or str(tls)
                raise DataSourceError(f"TLS connection to {self.endpoint} failed: {why} "
                                      f"({getattr(tls, 'reason', None) or type(tls).__name__}; verified against "
                                      f"{trust})", "HTTP:TLSError") from None
            # refused, unreachable, no such host: nothing was sent, so even a POST may be tried again
            unsent = isinstance(exc, httpx.ConnectError)
            raise DataSourceError(f"HTTP request to {self.endpoint} failed: {type(exc).__name__}: {exc}",
                                  "HTTP:ConnectionError", retry="unsent" if unsent else None) from None
        return {"statusCode": resp.status_code, "headers": _headers(resp), "body": resp.text}
