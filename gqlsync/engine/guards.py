"""Field-level authorization in execution: the guard the auth stage implements, and the resolver that asks it."""

from __future__ import annotations

from typing import Any, Protocol

from gqlsync.errors import UnauthorizedError
from gqlsync.runtimes import RequestScope


class FieldGuard(Protocol):
    """Who may read which field (the auth stage implements it from AppSync's directives)."""

    def unrestricted(self, type_name: str, field: str) -> bool: ...

    def allows(self, type_name: str, field: str, mode: str, identity: dict[str, Any] | None) -> bool: ...


class GuardedResolver:
    """Checks the caller before the field's resolver (or default property access) runs."""

    def __init__(self, inner: Any, type_name: str, field_name: str, guard: FieldGuard) -> None:
        self.inner = inner
        self.type_name = type_name
        self.field_name = field_name
        self.guard = guard

    def __call__(self, source: Any, info: Any, **args: Any) -> Any:
        scope: RequestScope = info.context
        if not self.guard.allows(self.type_name, self.field_name, scope.auth_type, scope.identity):
            raise UnauthorizedError(f"Not Authorized to access {self.field_name} on type {self.type_name}")
        return self.inner(source, info, **args)
