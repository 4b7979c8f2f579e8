"""Who is subscribed to what, indexed by subscription field and argument values (no scan per event)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from gqlsync.engine.subscriptions import SubscriptionPlan
from gqlsync.realtime.authorization import SubscriberRights


class Sink(Protocol):
    """A connection as the registry sees it: something that can take a message for a subscription id."""

    def deliver(self, sub: Subscriber, data: bytes) -> None:
        """`data`: the event's payload JSON (UTF-8), shaped for `sub`'s group."""
        ...

    def deliver_error(self, sub_id: str, error_type: str, message: str) -> None: ...

    def invalidate(self, sub_id: str) -> None:
        """The subscription was invalidated: end it and tell the client."""
        ...


def canonical(value: Any) -> Any:
    """A hashable stand-in with JSON equality (1 == 1.0, maps by content)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(eq=False, slots=True)
class Subscriber:
    """One subscription: where to send, on which API and version it started, what it selected and may read."""

    sink: Sink
    sub_id: str
    api_id: str
    version: str
    plan: SubscriptionPlan
    rights: SubscriberRights
    names: tuple[str, ...] = ()
    key: tuple[Any, ...] = ()
    # Set on first delivery, fixed for the subscription's life: which subscribers share shaped bytes,
    # and which fields this one may read (None: all).
    group: tuple[Any, ...] | None = None
    allowed: Any = None
    _id_json: bytes | None = None

    def id_json(self) -> bytes:
        """The subscription id as JSON, for the frames of its events (made once)."""
        if self._id_json is None:
            self._id_json = json.dumps(self.sub_id).encode()
        return self._id_json


@dataclass
class _FieldIndex:
    # argument names a subscriber gave -> their canonical values -> subscribers
    shapes: dict[tuple[str, ...], dict[tuple[Any, ...], set[Subscriber]]] = field(default_factory=dict)

    def add(self, s: Subscriber) -> None:
        self.shapes.setdefault(s.names, {}).setdefault(s.key, set()).add(s)

    def remove(self, s: Subscriber) -> None:
        table = self.shapes.get(s.names)
        if table is None:
            return
        bucket = table.get(s.key)
        if bucket is not None:
            bucket.discard(s)
            if not bucket:
                del table[s.key]
        if not table:
            del self.shapes[s.names]

    def match(self, payload: dict[str, Any]) -> Iterator[Subscriber]:
        for names, table in self.shapes.items():
            if names and not all(n in payload for n in names):
                continue  # AppSync: a filtered field the mutation did not select never matches
            key = tuple(canonical(payload.get(n)) for n in names)
            yield from table.get(key, ())


class Registry:
    """api id -> version -> subscription field -> index of subscribers.

    Subscribers are kept under the version they started on (whose plan shapes their events); an event of
    an API reaches the subscribers of every version still connected.
    """

    def __init__(self) -> None:
        self._apis: dict[str, dict[str, dict[str, _FieldIndex]]] = {}
        self.count = 0

    def add(self, s: Subscriber) -> None:
        # An enhanced filter set by the subscription resolver replaces argument filtering (AppSync).
        args = {} if s.plan.enhanced_filter is not None else s.plan.argument_filter()
        s.names = tuple(sorted(args))
        s.key = tuple(canonical(args[n]) for n in s.names)
        fields = self._apis.setdefault(s.api_id, {}).setdefault(s.version, {})
        fields.setdefault(s.plan.field_name, _FieldIndex()).add(s)
        self.count += 1

    def remove(self, s: Subscriber) -> None:
        versions = self._apis.get(s.api_id)
        fields = versions.get(s.version) if versions is not None else None
        index = fields.get(s.plan.field_name) if fields is not None else None
        if index is None:
            return
        index.remove(s)
        self.count -= 1
        if not index.shapes:
            assert fields is not None and versions is not None
            del fields[s.plan.field_name]
            if not fields:
                del versions[s.version]
                if not versions:
                    del self._apis[s.api_id]

    def _indexes(self, api_id: str, field_name: str) -> Iterator[_FieldIndex]:
        for fields in self._apis.get(api_id, {}).values():
            index = fields.get(field_name)
            if index is not None:
                yield index

    def of_api(self, api_id: str) -> Iterator[Subscriber]:
        return (s for fields in self._apis.get(api_id, {}).values() for index in fields.values()
                for table in index.shapes.values() for bucket in table.values() for s in bucket)

    def on_field(self, api_id: str, field_name: str) -> Iterator[Subscriber]:
        return (s for index in self._indexes(api_id, field_name) for table in index.shapes.values()
                for bucket in table.values() for s in bucket)

    def match(self, api_id: str, field_name: str, payload: Any) -> Iterator[Subscriber]:
        if not isinstance(payload, dict):
            return iter(())
        return (s for index in self._indexes(api_id, field_name) for s in index.match(payload))
