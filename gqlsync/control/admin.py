"""The admin API at /admin/graphql (code-first, strawberry): APIs, versions, diff, deploy, rollback, promote, canary.

Every request needs the admin token (`Authorization: Bearer <token>`); without it nothing is answered, not even
introspection.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.asgi import GraphQL
from strawberry.scalars import JSON
from strawberry.types import Info

from gqlsync.control.bundle import Bundle, BundleError
from gqlsync.control.plane import CanaryOptions, ControlPlane, DeployError, DeployResult, SchemaDiff
from gqlsync.control.store import ApiRecord, Canary, Routing, VersionRecord


@strawberry.type
class Change:
    kind: str
    description: str


@strawberry.type
class Diff:
    breaking: list[Change]
    dangerous: list[Change]
    text: str

    @staticmethod
    def of(d: SchemaDiff) -> Diff:
        return Diff(breaking=[Change(kind=c.kind, description=c.description) for c in d.breaking],
                    dangerous=[Change(kind=c.kind, description=c.description) for c in d.dangerous], text=d.text)


@strawberry.type
class AppProblem:
    file: str
    line: int | None
    column: int | None
    reason: str


@strawberry.type
class Version:
    number: int
    checksum: str
    author: str
    message: str
    created_at: float
    size: int

    @staticmethod
    def of(v: VersionRecord) -> Version:
        return Version(number=v.number, checksum=v.checksum, author=v.author, message=v.message,
                       created_at=v.created_at, size=v.size)


@strawberry.type
class CanaryStatus:
    version: int
    weight: float
    started_at: float
    max_error_rate: float
    window_seconds: float
    min_requests: int
    #: what this node has seen of it over its window
    requests: int
    errors: int


@strawberry.type
class ApiKeyInfo:
    id: str
    description: str
    expires: float | None
    created_at: float


@strawberry.type
class Api:
    id: str
    name: str
    created_at: float
    graphql_endpoint: str
    realtime_endpoint: str
    current_version: int | None
    canary: CanaryStatus | None
    status: str
    revision: int
    #: the version this node serves (it follows the store within a poll)
    serving_here: str | None
    versions: list[Version]
    #: keys made through the admin API (each version also takes those its manifest lists)
    api_keys: list[ApiKeyInfo]


def _canary(plane: ControlPlane, api_id: str, c: Canary | None) -> CanaryStatus | None:
    if c is None:
        return None
    requests, errors = plane.canary_counts(api_id, c)
    return CanaryStatus(version=c.version, weight=c.weight, started_at=c.started_at, max_error_rate=c.max_error_rate,
                        window_seconds=c.window_seconds, min_requests=c.min_requests, requests=requests,
                        errors=errors)


async def _api(plane: ControlPlane, record: ApiRecord, routing: Routing | None = None) -> Api:
    routing = routing or await plane.store.routing(record.id)
    served = plane.server.apis.get(record.id)
    base = f"/v1/apis/{record.id}/graphql"
    return Api(id=record.id, name=record.name, created_at=record.created_at, graphql_endpoint=base,
               realtime_endpoint=base + "/realtime", current_version=routing.current,
               canary=_canary(plane, record.id, routing.canary), status=routing.status, revision=routing.revision,
               serving_here=served.version if served else None,
               versions=[Version.of(v) for v in await plane.store.versions(record.id)],
               api_keys=[ApiKeyInfo(id=k.id, description=k.description, expires=k.expires, created_at=k.created_at)
                         for k in routing.api_keys])


@strawberry.type
class DeployOutcome:
    api: Api | None
    version: Version | None
    dry_run: bool
    refused: str | None
    problems: list[AppProblem]
    diff: Diff
    canary: CanaryStatus | None


def _plane(info: Info[Any, Any]) -> ControlPlane:
    plane: ControlPlane = info.context["plane"]
    return plane


@strawberry.type
class Query:
    @strawberry.field
    async def apis(self, info: Info[Any, Any]) -> list[Api]:
        plane = _plane(info)
        return [await _api(plane, r) for r in await plane.store.apis()]

    @strawberry.field
    async def api(self, info: Info[Any, Any], name: str) -> Api | None:
        plane = _plane(info)
        record = await plane.store.api(name)
        return await _api(plane, record) if record else None

    @strawberry.field
    async def diff(self, info: Info[Any, Any], api: str, base: int, head: int) -> Diff:
        try:
            return Diff.of(await _plane(info).diff(api, base, head))
        except DeployError as exc:
            raise ValueError(str(exc)) from None

    @strawberry.field(description="A version's files (path -> base64); the current version when none is given.")
    async def files(self, info: Info[Any, Any], api: str, version: int | None = None) -> JSON | None:
        plane = _plane(info)
        record = await plane.store.api(api)
        if record is None:
            return None
        number = version if version is not None else (await plane.store.routing(record.id)).current
        if number is None:
            return None
        try:
            files: Any = (await plane.store.bundle(record.id, number)).to_json()
            return files
        except KeyError:
            raise ValueError(f"API {api} has no version {number}") from None


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def deploy(self, info: Info[Any, Any], api: str, files: JSON, message: str = "", author: str = "",
                     canary: float | None = None, canary_max_error_rate: float = 0.05,
                     canary_window_seconds: float = 60.0, canary_min_requests: int = 20, dry_run: bool = False,
                     allow_breaking: bool = False) -> DeployOutcome:
        plane = _plane(info)
        if canary is not None and not 0 < canary < 100:
            raise ValueError("canary is a percentage of requests, above 0 and below 100")
        if not 0 <= canary_max_error_rate <= 1 or canary_window_seconds <= 0 or canary_min_requests < 1:
            raise ValueError("canaryMaxErrorRate is 0-1, canaryWindowSeconds above 0, canaryMinRequests at least 1")
        if not isinstance(files, dict):
            raise ValueError("files is an object: path -> base64 content")
        try:
            bundle = Bundle.from_json(files)
        except BundleError as exc:
            raise ValueError(str(exc)) from None
        options = (CanaryOptions(canary, canary_max_error_rate, canary_window_seconds, canary_min_requests)
                   if canary is not None else None)
        try:
            result = await plane.deploy(api, bundle, author=author, message=message, canary=options,
                                        dry_run=dry_run, allow_breaking=allow_breaking)
        except DeployError as exc:
            raise ValueError(str(exc)) from None
        return await _outcome(plane, result)

    @strawberry.mutation
    async def rollback(self, info: Info[Any, Any], api: str, to: int | None = None) -> Api:
        plane = _plane(info)
        try:
            routing = await plane.rollback(api, to)
        except DeployError as exc:
            raise ValueError(str(exc)) from None
        return await _api(plane, await plane.api(api), routing)

    @strawberry.mutation(description="A new API key for every version of the API (expiresDays null: never).")
    async def create_api_key(self, info: Info[Any, Any], api: str, description: str = "",
                             expires_days: float | None = 365.0) -> ApiKeyInfo:
        if expires_days is not None and expires_days <= 0:
            raise ValueError("expiresDays must be positive (or null: never)")
        try:
            key = await _plane(info).create_api_key(api, description, expires_days)
        except DeployError as exc:
            raise ValueError(str(exc)) from None
        return ApiKeyInfo(id=key.id, description=key.description, expires=key.expires, created_at=key.created_at)

    @strawberry.mutation
    async def delete_api_key(self, info: Info[Any, Any], api: str, id: str) -> bool:
        try:
            await _plane(info).delete_api_key(api, id)
        except DeployError as exc:
            raise ValueError(str(exc)) from None
        return True

    @strawberry.mutation
    async def promote(self, info: Info[Any, Any], api: str) -> Api:
        plane = _plane(info)
        try:
            routing = await plane.promote(api)
        except DeployError as exc:
            raise ValueError(str(exc)) from None
        return await _api(plane, await plane.api(api), routing)


async def _outcome(plane: ControlPlane, r: DeployResult) -> DeployOutcome:
    api = await _api(plane, r.api) if r.api else None
    return DeployOutcome(
        api=api, version=Version.of(r.version) if r.version else None, dry_run=r.dry_run, refused=r.refused,
        problems=[AppProblem(file=p.file, line=p.line, column=p.column, reason=p.message) for p in r.problems],
        diff=Diff.of(r.diff), canary=_canary(plane, r.api.id, r.canary) if r.api and r.canary else None)


SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class _Admin(GraphQL[dict[str, Any], None]):
    def __init__(self, plane: ControlPlane) -> None:
        super().__init__(SCHEMA, graphql_ide=None)
        self.plane = plane

    async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
        return {"plane": self.plane, "request": request}


def authorized(headers: list[tuple[bytes, bytes]], token: str) -> bool:
    for name, value in headers:
        if name.lower() == b"authorization":
            given = value.decode("latin-1")
            scheme, _, credential = given.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), token.encode()):
                return True
    return False


class AdminEndpoint:
    """The ASGI app for /admin/graphql: the credential checked first (the bearer token, or a SigV4 signature by
    an admitted IAM access key), then strawberry. A class, so Starlette routes it as an ASGI app."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.inner = _Admin(plane)

    async def _refuse(self, send: Callable[[Any], Awaitable[None]], why: str) -> None:
        body = json.dumps({"errors": [{"errorType": "UnauthorizedException", "message": why}]}).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return
        headers = scope.get("headers", [])
        if self.plane.admin_token and authorized(headers, self.plane.admin_token):
            await self.inner(scope, receive, send)
            return
        iam = self.plane.admin_iam
        given = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        if iam is not None and iam.applies(given):
            from gqlsync.auth import AuthFailure, RequestFacts

            chunks, more = [], True
            while more:  # the signature covers the body: read it, then hand strawberry the same bytes
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
                if sum(map(len, chunks)) > 50 * 1024 * 1024:
                    await self._refuse(send, "The request body is too large.")
                    return
            body = b"".join(chunks)
            facts = RequestFacts(scope["method"], scope["path"], scope.get("query_string", b"").decode(), body)
            try:
                await iam.authenticate(given, None, facts)
            except AuthFailure as exc:
                await self._refuse(send, exc.message)
                return
            sent = False

            async def replay() -> Any:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.inner(scope, replay, send)
            return
        await self._refuse(send, "The admin API needs the admin token: Authorization: Bearer <token> "
                                 "(GQLSYNC_ADMIN_TOKEN)" + (", or a SigV4 signature by an admitted access key."
                                                            if iam is not None else "."))


def admin_endpoint(plane: ControlPlane) -> ASGIApp:
    return AdminEndpoint(plane)
