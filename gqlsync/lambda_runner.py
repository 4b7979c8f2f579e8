"""Runs local Python Lambda handlers with Lambda's event/context shapes, off the event loop, with a timeout."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from gqlsync.errors import DataSourceError


class LambdaContext:
    """The parts of Lambda's context object handlers use."""

    def __init__(self, name: str, timeout: float) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{name}"
        self.memory_limit_in_mb = 128
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "gqlsync-local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_handler(spec: str, root: Path) -> Callable[..., Any]:
    """`path/to/file.py:function` relative to the app folder -> the callable (ValueError if unusable).

    The file is compiled from its text on disk each time, never from an import cache or `__pycache__` (whose
    whole-second timestamps can miss an edit), so each app version built runs the handler as it is now. A handler
    that does not compile or import is a ValueError naming its file and line.
    """
    file, _, func = spec.partition(":")
    path = (root / file).resolve()
    if not func or not path.is_file():
        raise ValueError(f"handler {spec!r}: expected an existing file and a function, like lambdas/fn.py:handler")
    module_spec = importlib.util.spec_from_file_location(f"gqlsync_lambda_{abs(hash(path))}", path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"handler {spec!r}: cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)  # __file__, __spec__ as an import sets them
    try:
        code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ValueError(f"handler {spec!r} does not load: {path}:{exc.lineno}: {exc.msg} (SyntaxError)") from None
    try:
        exec(code, module.__dict__)
    except Exception as exc:  # the module's own import-time error (a missing import, a failing statement)
        lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        where = f"{path}:{lines[-1]}" if lines else str(path)
        raise ValueError(f"handler {spec!r} does not load: {where}: {type(exc).__name__}: {exc}") from None
    handler = getattr(module, func, None)
    if not callable(handler):
        raise ValueError(f"handler {spec!r}: {path.name} has no function {func!r}")
    return handler


class FunctionTimeoutError(DataSourceError):
    """The handler ran past its timeout (Lambda reports this as an Unhandled error of the sandbox)."""


class FunctionFailedError(DataSourceError):
    """The handler raised: `message` is Lambda's errorMessage, `error_type` its errorType (the exception's class)."""

    def __init__(self, message: str, error_type: str, stack: list[str]) -> None:
        super().__init__(message, error_type)
        self.stack = stack


class LocalFunction:
    """One local handler with a timeout; errors come back the way Lambda reports them."""

    def __init__(self, name: str, handler: Callable[..., Any], timeout: float = 10.0) -> None:
        self.name = name
        self.handler = handler
        self.timeout = timeout
        self.invocations = 0

    async def invoke(self, event: Any) -> Any:
        self.invocations += 1
        context = LambdaContext(self.name, self.timeout)
        try:
            if inspect.iscoroutinefunction(self.handler):
                return await asyncio.wait_for(self.handler(event, context), self.timeout)
            return await asyncio.wait_for(asyncio.to_thread(self.handler, event, context), self.timeout)
        except TimeoutError:
            raise FunctionTimeoutError(f"Task timed out after {self.timeout:g} seconds",
                                       "Lambda:TimeoutError") from None
        except Exception as exc:  # the handler's own error, reported like Lambda's errorType/errorMessage
            stack = [line.rstrip("\n") for line in traceback.format_tb(exc.__traceback__)[1:]]
            raise FunctionFailedError(str(exc) or type(exc).__name__, type(exc).__name__, stack) from None
