"""Subscription authorization, every decision in one place: may a caller subscribe, receive an event, read a field."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gqlsync.engine.api import FieldGuard
from gqlsync.engine.subscriptions import FieldCheck


@dataclass(frozen=True)
class SubscriberRights:
    """What one subscriber (its auth mode and identity) may do under one API version's directive rules.

    Fixed when the subscription starts, as AppSync does: the identity a subscription started with decides
    every event it receives.
    """

    guard: FieldGuard | None
    mode: str
    identity: dict[str, Any] | None

    def may_subscribe(self, field: str) -> bool:
        return self.guard is None or self.guard.allows("Subscription", field, self.mode, self.identity)

    def may_receive(self, field: str) -> bool:
        """An event reaches a subscriber only if it may read the subscription field."""
        return self.may_subscribe(field)

    def readable(self) -> FieldCheck | None:
        """Per field of an event: may it be read (unreadable fields arrive null with an error)? None: all are."""
        guard = self.guard
        if guard is None:
            return None
        mode, identity = self.mode, self.identity
        return lambda type_name, field: guard.unrestricted(type_name, field) or guard.allows(
            type_name, field, mode, identity)

    def group_key(self) -> str:
        """Subscribers with equal keys see the same fields of every event (so share its shaped bytes)."""
        if self.guard is None:
            return ""
        identity = self.identity or {}
        # Cognito groups and a Lambda authorizer's deniedFields are what directive decisions depend on.
        return json.dumps([self.mode, sorted(identity.get("groups") or []), sorted(identity.get("deniedFields") or [])])
