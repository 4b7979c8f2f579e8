"""The Lambda Invoke API over local Python handlers (`gqlsync lambda serve DIR`), counting calls per function.

`POST /2015-03-31/functions/{name}/invocations` as AWS Lambda answers it: the function by name, ARN or partial ARN
(a qualifier is accepted and ignored); `X-Amz-Invocation-Type` RequestResponse (the handler's answer, 200), Event
(202, run in the background) or DryRun (204); a handler's exception is a 200 with `X-Amz-Function-Error: Unhandled`
and Lambda's `{errorMessage, errorType, stackTrace}`, a timeout the same with errorType `Sandbox.Timedout`; past a
function's reserved concurrency the call is refused with 429 TooManyRequestsException; an unknown function is 404
ResourceNotFoundException. Requests must be SigV4-signed (any key is accepted: signatures are not verified).
`GET /_gqlsync/calls` reports, per function, the invocations run and the calls throttled.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gqlsync.lambda_runner import FunctionFailedError, FunctionTimeoutError, LocalFunction, load_handler
from gqlsync.threaded import ThreadedServer

INVOKE_PATH = "/2015-03-31/functions/{name:path}/invocations"


@dataclass
class HostedFunction:
    """A local handler served under `name`; `concurrency` is its reserved concurrency (None: unlimited)."""

    name: str
    function: LocalFunction
    concurrency: int | None = None


def function_name(given: str) -> str:
    """The function a path names: `NAME`, `NAME:QUALIFIER`, `ACCOUNT:function:NAME` or a full ARN."""
    parts = unquote(given).split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"Type": "User", "message": message}, status_code=status,
                        headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())})


class LambdaHost:
    """Local handlers behind the Invoke API; `invocations` and `throttles` count calls per function name."""

    def __init__(self, functions: Iterable[HostedFunction]) -> None:
        self.functions = {f.name: f for f in functions}
        self.invocations: Counter[str] = Counter()
        self.throttles: Counter[str] = Counter()
        self._running: Counter[str] = Counter()
        self._background: set[asyncio.Task[Any]] = set()

    @classmethod
    def from_dir(cls, folder: Path, *, handlers: dict[str, str] | None = None, timeout: float = 10.0,
                 concurrency: int | None = None) -> LambdaHost:
        """Each `DIR/NAME.py` with a `handler` function is function NAME; `handlers` adds NAME -> `file.py:func`
        (relative to DIR). Raises ValueError for a handler that does not load."""
        specs = {p.stem: f"{p.name}:handler" for p in sorted(folder.glob("*.py"))
                 if not p.name.startswith("_") and _defines_handler(p)}
        specs.update(handlers or {})
        return cls(HostedFunction(name, LocalFunction(name, load_handler(spec, folder), timeout), concurrency)
                   for name, spec in specs.items())

    def reset(self) -> None:
        """Forget the counts (between test cases)."""
        self.invocations.clear()
        self.throttles.clear()

    def app(self) -> Starlette:
        return Starlette(routes=[Route(INVOKE_PATH, self.invoke, methods=["POST"]),
                                 Route("/_gqlsync/calls", self.calls, methods=["GET"])])

    async def calls(self, request: Request) -> JSONResponse:
        return JSONResponse({name: {"invocations": self.invocations[name], "throttles": self.throttles[name]}
                             for name in self.functions})

    async def invoke(self, request: Request) -> Response:
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return _error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        name = function_name(request.path_params["name"])
        hosted = self.functions.get(name)
        if hosted is None:
            return _error(404, "ResourceNotFoundException", f"Function not found: {request.path_params['name']}")
        kind = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if kind not in ("RequestResponse", "Event", "DryRun"):
            return _error(400, "InvalidParameterValueException", f"Unsupported invocation type {kind}")
        body = await request.body()
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            return _error(400, "InvalidRequestContentException", "Could not parse request body into json")
        if kind == "DryRun":
            return Response(status_code=204)
        if hosted.concurrency is not None and self._running[name] >= hosted.concurrency:
            self.throttles[name] += 1
            return _error(429, "TooManyRequestsException", "Rate Exceeded.")
        self.invocations[name] += 1
        request_id = str(uuid.uuid4())
        if kind == "Event":
            task = asyncio.create_task(self._run(hosted, event))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return Response(status_code=202, headers={"x-amzn-RequestId": request_id})
        headers = {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": "$LATEST"}
        value, failure = await self._run(hosted, event)
        if failure is not None:
            headers["X-Amz-Function-Error"] = "Unhandled"
            value = failure
        try:
            text = json.dumps(value)
        except (TypeError, ValueError) as exc:
            headers["X-Amz-Function-Error"] = "Unhandled"
            text = json.dumps({"errorMessage": f"Unable to marshal response: {exc}",
                               "errorType": "Runtime.MarshalError", "requestId": request_id, "stackTrace": []})
        return Response(text, status_code=200, media_type="application/json", headers=headers)

    async def _run(self, hosted: HostedFunction, event: Any) -> tuple[Any, dict[str, Any] | None]:
        """(the handler's answer, None) or (None, Lambda's error document)."""
        self._running[hosted.name] += 1
        try:
            return await hosted.function.invoke(event), None
        except FunctionTimeoutError as exc:
            return None, {"errorMessage": exc.message, "errorType": "Sandbox.Timedout"}
        except FunctionFailedError as exc:
            return None, {"errorMessage": exc.message, "errorType": exc.error_type, "stackTrace": exc.stack}
        finally:
            self._running[hosted.name] -= 1


def _defines_handler(path: Path) -> bool:
    """Does the file define a top-level `handler` (read as text: files without one are helpers, not functions)?"""
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\ndef handler(" in f"\n{text}" or "\nasync def handler(" in f"\n{text}"


class LambdaServer:
    """A LambdaHost served by uvicorn on loopback from a thread with its own loop (tests, embedding)."""

    def __init__(self, host: LambdaHost, bind: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.bind = bind
        self.port = port
        self._server: ThreadedServer | None = None
        self.endpoint = ""

    def start(self) -> str:
        """Blocks until the endpoint serves; returns its base URL."""
        server = ThreadedServer(self.host.app(), self.bind, self.port, name="the Lambda endpoint",
                                timeout_graceful_shutdown=2)
        port = server.start()
        self._server = server
        self.endpoint = f"http://{self.bind}:{port}"
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
