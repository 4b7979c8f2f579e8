"""The realtime stage: subscriptions over websockets (AppSync's protocol, graphql-transport-ws), fan-out."""

from gqlsync.realtime.hub import RealtimeHub

__all__ = ["RealtimeHub"]
