"""The HTTP stage: a Starlette application serving /graphql, the explorer, /healthz and /metrics."""

from gqlsync.http.app import create_app
from gqlsync.server import GqlsyncServer, ServerSettings

__all__ = ["GqlsyncServer", "ServerSettings", "create_app"]
