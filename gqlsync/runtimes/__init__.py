"""Resolver runtimes: one interface (prepare once, then request/response per call), several languages."""

from gqlsync.runtimes.base import Compiled, EarlyReturn, Runtime, get_runtime
from gqlsync.runtimes.context import InfoView, RequestScope, ResolverContext

__all__ = ["Compiled", "EarlyReturn", "InfoView", "RequestScope", "ResolverContext", "Runtime", "get_runtime"]
