"""AWS_LAMBDA data source: local Python handlers in the app folder, or remote functions through the Lambda Invoke API.

`config.handler: "lambdas/orders.py:handler"` loads the module once per app version and calls
`handler(event, context)` off the event loop with a timeout (gqlsync.lambda_runner).
`config.functionArn` calls the function through aioboto3 (`lambda` client from the app's ClientProvider), in the
region the ARN names (or `region`), at `endpoint` when given (a local Invoke API such as `gqlsync lambda serve`).

Both take AppSync's documents: `Invoke` passes the payload; `BatchInvoke` passes the list of payloads (the engine's
per-request batch loader builds it) and expects a list back of the same length. Errors are AppSync's: a function
error (Lambda's `FunctionError`) is the field error `Lambda:Unhandled` (or `Lambda:Handled`) with the function's
errorMessage, also what response code sees as `$ctx.error`; a call that outlives `timeoutSeconds` is
`Lambda:TimeoutError`; throttling (TooManyRequestsException) is retried with backoff within the timeout; any other
AWS error is `Lambda:<its code>` with its message.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ReadTimeoutError

from gqlsync.datasources.base import DATA_SOURCES, Call, DataSourceEnv, WithoutConnections
from gqlsync.datasources.clients import ClientProvider
from gqlsync.errors import DataSourceError, ResolverError
from gqlsync.lambda_runner import FunctionFailedError, LocalFunction, load_handler

#: `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]` (other partitions too).
_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):\d{12}:function:[A-Za-z0-9_-]+(:[\w$-]+)?$")
#: Error codes Lambda answers when it throttles the caller; these are retried.
THROTTLES = frozenset({"TooManyRequestsException", "ThrottlingException"})
#: Attempts at a throttled call (the first included), and the backoff before the second (doubling, jittered).
THROTTLE_ATTEMPTS = 6
THROTTLE_BACKOFF = 0.05
THROTTLE_BACKOFF_MAX = 1.0


@dataclass(frozen=True)
class LambdaConfig:
    handler: str | None = None
    function_arn: str | None = None
    endpoint: str | None = None
    region: str | None = None
    timeout_seconds: float = 10.0

    def check(self) -> None:
        if not (self.handler or self.function_arn):
            raise ValueError("AWS_LAMBDA needs config.handler (file.py:function in the app folder) or functionArn")
        if self.handler and self.function_arn:
            raise ValueError("AWS_LAMBDA takes config.handler (a local handler) or functionArn (a remote function), "
                             "not both")
        if self.timeout_seconds <= 0:
            raise ValueError("config.timeoutSeconds must be positive")
        if self.handler and (self.endpoint or self.region):
            raise ValueError("config.endpoint and config.region are read only with functionArn")
        if self.function_arn and self.function_arn.startswith("arn:") and not _ARN.match(self.function_arn):
            raise ValueError(f"config.functionArn {self.function_arn!r} is not a Lambda function ARN "
                             "(arn:aws:lambda:REGION:ACCOUNT:function:NAME)")
        if self.endpoint and not re.match(r"^https?://", self.endpoint):
            raise ValueError(f"config.endpoint {self.endpoint!r} must be an http(s) URL")


def arn_region(function: str) -> str | None:
    """The region a function ARN names (None for a bare function name)."""
    found = _ARN.match(function)
    return found.group("region") if found else None


class Function(Protocol):
    """One Lambda function as the data source calls it: the event in, the function's answer out."""

    async def invoke(self, event: Any, *, asynchronous: bool = False) -> Any: ...


class LocalHandler:
    """A handler in the app folder; a handler's exception is Lambda's Unhandled function error."""

    def __init__(self, function: LocalFunction) -> None:
        self.function = function
        self._background: set[asyncio.Task[Any]] = set()

    async def invoke(self, event: Any, *, asynchronous: bool = False) -> Any:
        if asynchronous:  # InvocationType Event: Lambda queues it and answers at once
            task = asyncio.create_task(self._quietly(event))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return None
        try:
            return await self.function.invoke(event)
        except FunctionFailedError as exc:
            raise DataSourceError(exc.message, "Lambda:Unhandled") from None

    async def _quietly(self, event: Any) -> None:
        try:
            await self.function.invoke(event)
        except DataSourceError:
            pass  # an asynchronous invocation's error reaches nobody (Lambda would retry or drop it)


def _json_default(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class RemoteFunction:
    """A deployed function (or one behind a local Invoke API) called with InvocationType RequestResponse."""

    def __init__(self, name: str, function: str, region: str | None, endpoint: str | None, timeout: float,
                 clients: ClientProvider) -> None:
        self.name = name
        self.function = function
        self.region = region or arn_region(function)
        self.endpoint = endpoint
        self.timeout = timeout
        self.clients = clients

    async def invoke(self, event: Any, *, asynchronous: bool = False) -> Any:
        body = json.dumps(event, default=_json_default).encode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        delay = THROTTLE_BACKOFF
        for attempt in range(1, THROTTLE_ATTEMPTS + 1):
            try:
                return await asyncio.wait_for(self._once(body, asynchronous), max(0.0, deadline - loop.time()))
            except (TimeoutError, ReadTimeoutError):
                raise DataSourceError(f"Task timed out after {self.timeout:g} seconds", "Lambda:TimeoutError") from None
            except ClientError as exc:
                error = exc.response.get("Error") or {}
                code = str(error.get("Code") or "ServiceException")
                message = str(error.get("Message") or code)
                pause = delay / 2 + random.uniform(0, delay / 2)
                if code in THROTTLES and attempt < THROTTLE_ATTEMPTS and loop.time() + pause < deadline:
                    await asyncio.sleep(pause)
                    delay = min(delay * 2, THROTTLE_BACKOFF_MAX)
                    continue
                raise DataSourceError(f"{code}: {message} (function {self.function})", f"Lambda:{code}") from None
            except NoCredentialsError:
                raise DataSourceError(f"No AWS credentials to call function {self.function}: give them the way the "
                                      "AWS SDKs read them (environment, profile, instance role)",
                                      "Lambda:NoCredentials") from None
            except BotoCoreError as exc:  # the endpoint cannot be reached, the connection broke
                raise DataSourceError(f"Cannot call function {self.function}: {exc}", "Lambda:ConnectionError") \
                    from None
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _once(self, body: bytes, asynchronous: bool) -> Any:
        client = await self.clients.aws("lambda", self.region, self.endpoint, max_attempts=1,
                                        read_timeout=self.timeout + 1)
        answer = await client.invoke(FunctionName=self.function, Payload=body,
                                     InvocationType="Event" if asynchronous else "RequestResponse")
        raw = await answer["Payload"].read()
        if asynchronous:
            return None
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            value = raw.decode("utf-8", "replace")
        failure = answer.get("FunctionError")
        if failure:
            message = value.get("errorMessage") if isinstance(value, dict) else None
            raise DataSourceError(str(message if message is not None else value), f"Lambda:{failure}")
        return value


@DATA_SOURCES.register("AWS_LAMBDA")
class LambdaDataSource(WithoutConnections):
    type = "AWS_LAMBDA"
    config_type = LambdaConfig
    direct = True
    batch_invoke = True

    def __init__(self, name: str, config: LambdaConfig, env: DataSourceEnv) -> None:
        self.name = name
        self.function: Function
        if config.handler:
            self.function = LocalHandler(LocalFunction(name, load_handler(config.handler, env.root),
                                                       config.timeout_seconds))
        else:
            assert config.function_arn is not None
            self.function = RemoteFunction(name, config.function_arn, config.region, config.endpoint,
                                           config.timeout_seconds, env.clients)

    async def invoke(self, request: dict[str, Any], call: Call) -> Any:
        op = request.get("operation", "Invoke")
        payload = request.get("payload")
        kind = request.get("invocationType", "RequestResponse")
        if kind not in ("RequestResponse", "Event"):
            raise ResolverError(f"Unsupported Lambda invocationType {kind!r} (RequestResponse or Event)",
                                "MappingTemplate")
        if op == "Invoke":
            return await self.function.invoke(payload, asynchronous=kind == "Event")
        if op == "BatchInvoke":
            if not isinstance(payload, list):
                raise ResolverError("BatchInvoke needs a list payload", "MappingTemplate")
            out = await self.function.invoke(payload)
            if not isinstance(out, list) or len(out) != len(payload):
                got = f"a list of {len(out)}" if isinstance(out, list) else type(out).__name__
                raise DataSourceError(f"BatchInvoke of {len(payload)} items must return a list as long as its "
                                      f"payload; the function returned {got}", "Lambda:BatchInvokeMismatch")
            return out
        raise ResolverError(f"Unsupported Lambda operation {op!r}", "MappingTemplate")
