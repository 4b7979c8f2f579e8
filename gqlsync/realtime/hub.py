"""The hub: implements the engine's Publisher, keeps the registry, and fans events out to connections."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from gqlsync.engine.subscriptions import MutationEvent
from gqlsync.realtime.broker import Broker, LocalBroker
from gqlsync.realtime.registry import Registry, Subscriber
from gqlsync.subscription_filters import matches

log = logging.getLogger("gqlsync.realtime")

#: a keep-alive message of AppSync's protocol
KA = b'{"type":"ka"}'
#: AppSync does not deliver subscription payloads above 240 KB.
MAX_PAYLOAD_BYTES = 240 * 1024


class RealtimeHub:
    """One per process. Mutations publish through the broker; every process's hub delivers locally."""

    def __init__(self, broker: Broker | None = None) -> None:
        self.broker: Broker = broker or LocalBroker()
        self.registry = Registry()
        self.connections: set[Any] = set()
        self._ka_members: set[Any] = set()
        self._ka_task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.accepted = 0  # websocket connections accepted (clients that reconnect show here)
        #: called with the perf_counter an event's delivery started at, after each event delivered to someone
        self.on_fanout: Callable[[float], None] | None = None
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await self.broker.start(self.dispatch)
            self._started = True

    def keep_alive(self, conn: Any, interval: float) -> None:
        """Send `conn` a `ka` every `interval` seconds: one loop for all connections, not a timer each."""
        self._ka_members.add(conn)
        if self._ka_task is None or self._ka_task.done():
            self._ka_task = asyncio.ensure_future(self._keepalive_loop(interval))

    def forget(self, conn: Any) -> None:
        self._ka_members.discard(conn)
        self.connections.discard(conn)

    async def _keepalive_loop(self, interval: float) -> None:
        while self._ka_members:
            await asyncio.sleep(interval)
            for conn in list(self._ka_members):
                conn.send(KA)

    async def close(self) -> None:
        """Stop receiving events and close every websocket (1001: going away) so clients reconnect elsewhere."""
        if self._ka_task is not None:
            self._ka_task.cancel()
        await self.broker.close()
        for conn in list(self.connections):
            conn.shutdown()
        self._started = False

    # -- Publisher (called by the engine after a mutation)
    async def publish(self, api_id: str, events: list[MutationEvent]) -> None:
        await self.broker.publish(api_id, [{"mutation": e.mutation_field, "data": e.data,
                                         "subscriptions": list(e.subscription_fields)} for e in events])

    async def invalidate(self, api_id: str, invalidations: list[dict[str, Any]]) -> None:
        await self.broker.publish(api_id, [{"invalidate": i["subscriptionField"], "payload": i.get("payload") or {}}
                                        for i in invalidations])

    # -- delivery (called by the broker, in every process)
    async def dispatch(self, api_id: str, events: list[dict[str, Any]]) -> None:
        for event in events:
            if "invalidate" in event:
                self.invalidate_local(api_id, str(event["invalidate"]), event.get("payload"))
            else:
                started = time.perf_counter()
                if self.deliver(api_id, event) and self.on_fanout is not None:
                    self.on_fanout(started)

    @staticmethod
    def _prepare(sub: Subscriber) -> None:
        """Subscribers with the same version, document, variables and rights get the same bytes: shape once."""
        plan = sub.plan
        sub.allowed = sub.rights.readable()
        sub.group = (sub.version, plan.document_key, plan.response_key,
                     json.dumps(plan.variables, sort_keys=True, default=str) + sub.rights.group_key())

    def retire(self, api_id: str, served: Any) -> int:
        """`served` is now the API's current version: subscriptions of older versions whose field it still has stay
        (on the version they started on); those whose field it no longer has get an error and are completed."""
        sub_type = served.api.schema.subscription_type
        kept = set(sub_type.fields) if sub_type is not None else set()
        ended = 0
        for sub in list(self.registry.of_api(api_id)):
            if sub.version == served.version or sub.plan.field_name in kept:
                continue
            sub.sink.deliver_error(sub.sub_id, "SubscriptionFieldRemoved",
                                   f"Subscription field {sub.plan.field_name} no longer exists in version "
                                   f"{served.version} of this API; the subscription has ended.")
            sub.sink.invalidate(sub.sub_id)
            ended += 1
        if ended:
            log.info("subscriptions ended: their field is gone", extra={"api": api_id, "version": served.version,
                                                                       "ended": ended})
        return ended

    def invalidate_local(self, api_id: str, field_name: str, payload: Any) -> int:
        """Close this process's subscriptions on `field_name` whose invalidation filter matches `payload`."""
        closed = 0
        for sub in list(self.registry.on_field(api_id, field_name)):
            flt = sub.plan.invalidation_filter
            if flt is not None and matches(flt, payload):
                sub.sink.invalidate(sub.sub_id)
                closed += 1
        return closed

    def deliver(self, api_id: str, event: dict[str, Any]) -> int:
        """Send one event to every matching subscriber; returns how many got it."""
        payload = event.get("data")
        shaped: dict[tuple[Any, ...], bytes] = {}
        sent = 0
        for field_name in event.get("subscriptions", ()):
            for sub in list(self.registry.match(api_id, field_name, payload)):
                plan = sub.plan
                if plan.enhanced_filter is not None and not matches(plan.enhanced_filter, payload):
                    continue
                if not sub.rights.may_receive(field_name):
                    continue
                if sub.group is None:
                    self._prepare(sub)
                assert sub.group is not None
                data = shaped.get(sub.group)
                if data is None:  # shaped and encoded once per group: each subscriber's frame only adds its id
                    data = json.dumps(plan.shape(payload, sub.allowed), separators=(",", ":"),
                                      ensure_ascii=False).encode()
                    shaped[sub.group] = data
                if len(data) > MAX_PAYLOAD_BYTES:
                    log.warning("subscription payload over 240 KB not delivered",
                                extra={"subscription": field_name, "bytes": len(data)})
                    sub.sink.deliver_error(sub.sub_id, "PayloadTooLarge",
                                           f"The {field_name} event is larger than 240 KB and was not delivered.")
                    continue
                sub.sink.deliver(sub, data)
                sent += 1
        self.delivered += sent
        return sent
