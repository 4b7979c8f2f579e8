"""`$extensions`: subscription filters and invalidation, set by resolvers for the realtime stage."""

from __future__ import annotations

import json
from typing import Any

from gqlsync.errors import ResolverError
from gqlsync.runtimes.context import ResolverContext
from gqlsync.subscription_filters import validate

MAX_INVALIDATIONS = 5


def _filter(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ResolverError(f"Invalid subscription filter JSON: {exc.msg}", "MappingTemplate") from None
    try:
        return validate(value)
    except ValueError as exc:
        raise ResolverError(f"Invalid subscription filter: {exc}", "MappingTemplate") from None


class Extensions:
    def __init__(self, ctx: ResolverContext) -> None:
        self._ctx = ctx

    def setSubscriptionFilter(self, flt: Any) -> str:  # noqa: N802 - AppSync names
        self._ctx.scope.subscription_filter = _filter(flt)
        return ""

    def setSubscriptionInvalidationFilter(self, flt: Any) -> str:  # noqa: N802
        self._ctx.scope.invalidation_filter = _filter(flt)
        return ""

    def evictFromApiCache(self, type_name: Any, field_name: Any, pairs: Any) -> str:  # noqa: N802
        """Remove the cached result of `type.field` whose caching keys have these values
        (`{"context.arguments.id": ...}`), once the request ends."""
        if not isinstance(type_name, str) or not isinstance(field_name, str) or not isinstance(pairs, dict):
            raise ResolverError("evictFromApiCache takes (typeName, fieldName, {cachingKey: value})", "MappingTemplate")
        self._ctx.scope.cache_evictions.append((type_name, field_name, dict(pairs)))
        return ""

    def invalidateSubscriptions(self, spec: Any) -> str:  # noqa: N802
        if not isinstance(spec, dict) or not isinstance(spec.get("subscriptionField"), str):
            raise ResolverError("invalidateSubscriptions takes {subscriptionField, payload}", "MappingTemplate")
        if len(self._ctx.scope.invalidations) >= MAX_INVALIDATIONS:
            raise ResolverError(f"At most {MAX_INVALIDATIONS} invalidateSubscriptions calls per request",
                                "MappingTemplate")
        self._ctx.scope.invalidations.append({"subscriptionField": spec["subscriptionField"],
                                              "payload": spec.get("payload") or {}})
        return ""
