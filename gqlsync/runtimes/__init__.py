"""Resolver runtimes: one interface (prepare once, then async request/response per call), several languages."""

from gqlsync.runtimes.base import (
    RUNTIMES,
    CodeShapeError,
    Compiled,
    DataSourceCall,
    DataSourceDirectory,
    DataSourceInfo,
    EarlyReturn,
    Runtime,
    get_runtime,
    run_step,
)
from gqlsync.runtimes.context import InfoView, RequestScope, ResolverContext

__all__ = ["RUNTIMES", "CodeShapeError", "Compiled", "DataSourceCall", "DataSourceDirectory", "DataSourceInfo",
           "EarlyReturn", "InfoView", "RequestScope",
           "ResolverContext", "Runtime", "get_runtime", "run_step"]
