"""`POST /graphql`: read the body within limits, authenticate, execute, answer in AppSync's shape."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gqlsync.apis import ServedApi
from gqlsync.auth import AuthFailure, RequestFacts
from gqlsync.http.explorer import explorer_page
from gqlsync.http.responses import error_response, json_response
from gqlsync.observe.logs import info_fields
from gqlsync.request import RequestScope
from gqlsync.server import GqlsyncServer

log = logging.getLogger("gqlsync.request")


class BodyTooLarge(Exception):  # noqa: N818
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def client_of(request: Request) -> str | None:
    """Who is calling, for a canary's sticky split: an explicit client id, else the credential sent."""
    h = request.headers
    return h.get("x-gqlsync-client-id") or h.get("x-api-key") or h.get("authorization")


class GraphQLEndpoint:
    """The ASGI handler for /graphql."""

    def __init__(self, server: GqlsyncServer) -> None:
        self.server = server

    async def handle(self, request: Request) -> Response:
        server = self.server
        if not server.started:
            try:
                await server.start()
            except Exception:
                request_id = str(uuid.uuid4())
                log.exception("the server could not start its backends", extra={"request_id": request_id})
                return error_response("An internal failure occurred; the request was not completed.",
                                      "InternalFailure", 500, request_id)
        key = request.path_params.get("api")
        api_id = server.resolve(key)
        # this request runs on the version chosen now (current, or the canary for its share of clients), even if
        # another is installed while it runs
        served = server.apis.choose(api_id, client_of(request)) if api_id is not None else None
        if served is None:
            what = f"No API {key!r} on this server." if key else "No API is deployed on this server yet."
            return error_response(what, "NotFoundException", 404, str(uuid.uuid4()))
        if request.method == "GET":
            return self._get(request, served)
        return await self._post(request, served)

    def _get(self, request: Request, served: ServedApi) -> Response:
        if "text/html" in request.headers.get("accept", ""):
            app = served.api.app
            key = app.auth.api_keys[0].id if self.server.settings.dev and app.auth.api_keys else ""
            return explorer_page(app.name, str(request.url), key, request.scope.get("root_path", ""))
        return error_response("Use POST with a JSON body {query, variables, operationName}.",
                              "MethodNotAllowedException", 405, str(uuid.uuid4()), {"Allow": "GET, POST"})

    async def _post(self, request: Request, served: ServedApi) -> Response:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        server = self.server
        outcome: Any = None
        scope: RequestScope | None = None
        resp: Response | None = None
        try:
            resp, outcome, scope = await self._handle(request, request_id, served)
        except Exception:
            log.exception("request failed unexpectedly", extra={"request_id": request_id})
            resp = error_response("An internal failure occurred; the request was not completed.",
                                  "InternalFailure", 500, request_id)
        elapsed = time.perf_counter() - started
        name = outcome.operation_name if outcome else None
        op_type = (outcome.operation_type if outcome else None) or "none"
        error_types = outcome.error_types if outcome else [resp.headers.get("x-amzn-ErrorType", "")]
        app_name = served.api.app.name
        errored = resp.status_code >= 500 or bool(outcome and any(
            "path" in e for e in outcome.body.get("errors") or ()))
        server.metrics.request(app_name, op_type, resp.status_code, served.version, errored, elapsed)
        server.versions.record(served.api_id, served.version, errored)
        extra: dict[str, Any] = {"request_id": request_id, "app": app_name, "operation": name,
                                 "operation_type": op_type, "status": resp.status_code,
                                 "duration_ms": round(elapsed * 1000, 3), "error_types": error_types}
        if served is not server.apis.get(served.api_id):
            extra["version"] = served.version
        if scope is not None and scope.logs:
            extra["resolver_logs"] = scope.logs
        info_fields(log, "request", extra)
        return resp

    async def _handle(self, request: Request, request_id: str,
                      served: ServedApi) -> tuple[Response, Any, RequestScope | None]:
        headers = dict(request.headers.items())  # ASGI header names are already lower-case
        limit = int(served.api.limits["maxBodyBytes"])
        try:
            raw = await _read_body(request, limit)
        except BodyTooLarge:
            # the rest of the body is not read: the connection closes after the answer (lingering, so the
            # client reads it; gqlsync.http.listener) rather than reading an unbounded upload to its end
            return error_response(f"The request body exceeds the {limit} bytes allowed.",
                                  "PayloadTooLargeException", 413, request_id, {"Connection": "close"}), None, None
        except ClientDisconnect:
            return Response(status_code=499), None, None
        facts = RequestFacts(request.method, request.url.path, request.url.query, raw)
        try:
            auth = await served.authenticator.authenticate(
                headers, request.client.host if request.client else None, facts)
        except AuthFailure as exc:
            return error_response(exc.message, "UnauthorizedException", 401, request_id), None, None
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return error_response(f"Unable to parse the JSON document: {exc}", "MalformedHttpRequestException",
                                  400, request_id), None, None
        if not isinstance(body, dict):
            return error_response("The request body must be a JSON object {query, variables, operationName}.",
                                  "MalformedHttpRequestException", 400, request_id), None, None
        scope = RequestScope(request_id=request_id, identity=auth.identity, headers=headers,
                             domain_name=headers.get("host"), auth_type=auth.mode,
                             source_ip=request.client.host if request.client else None)
        outcome = await served.api.execute(body.get("query"), body.get("variables"),
                                           body.get("operationName"), scope)
        resp_headers = {"x-amzn-RequestId": request_id, **scope.response_headers}
        status = 400 if outcome.body.get("data") is None and outcome.error_types and \
            outcome.error_types[0] == "MalformedHttpRequestException" else 200
        return json_response(outcome.body, status, resp_headers), outcome, scope
