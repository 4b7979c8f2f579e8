"""AWS_LAMBDA data source: Python handlers in the app folder, run with Lambda's event/context shapes.

`config.handler: "lambdas/orders.py:handler"` loads the module once per app version and calls
`handler(event, context)` off the event loop with a timeout (gqlsync.lambda_runner). `Invoke` passes the
payload; `BatchInvoke` passes the list and expects a list back of the same length. Remote functions
(`functionArn`) load, so imported apps serve their other fields, and each call fails clearly until
that path exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gqlsync.datasources.base import DATA_SOURCES, Call, DataSourceEnv, WithoutConnections
from gqlsync.errors import DataSourceError, ResolverError
from gqlsync.lambda_runner import LocalFunction, load_handler


@dataclass(frozen=True)
class LambdaConfig:
    handler: str | None = None
    function_arn: str | None = None
    timeout_seconds: float = 10.0

    def check(self) -> None:
        if not (self.handler or self.function_arn):
            raise ValueError("AWS_LAMBDA needs config.handler (file.py:function in the app folder) or functionArn")
        if self.timeout_seconds <= 0:
            raise ValueError("config.timeoutSeconds must be positive")


@DATA_SOURCES.register("AWS_LAMBDA")
class LambdaDataSource(WithoutConnections):
    type = "AWS_LAMBDA"
    config_type = LambdaConfig
    direct = True

    def __init__(self, name: str, config: LambdaConfig, env: DataSourceEnv) -> None:
        self.name = name
        self.function: LocalFunction | None = None
        if config.handler:
            self.function = LocalFunction(name, load_handler(config.handler, env.root), config.timeout_seconds)

    async def invoke(self, request: dict[str, Any], call: Call) -> Any:
        if self.function is None:
            raise DataSourceError(f"Data source {self.name}: remote Lambda functions (functionArn) are not supported "
                                  "by this gqlsync version; give config.handler", "UnsupportedDataSource")
        op = request.get("operation", "Invoke")
        payload = request.get("payload")
        if op == "Invoke":
            return await self.function.invoke(payload)
        if op == "BatchInvoke":
            if not isinstance(payload, list):
                raise ResolverError("BatchInvoke needs a list payload", "MappingTemplate")
            out = await self.function.invoke(payload)
            if not isinstance(out, list) or len(out) != len(payload):
                raise DataSourceError("BatchInvoke must return a list as long as its payload",
                                      "Lambda:BatchInvokeMismatch")
            return out
        raise ResolverError(f"Unsupported Lambda operation {op!r}", "MappingTemplate")
