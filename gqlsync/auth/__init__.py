"""Authentication and authorization: who is calling (from headers and config, never Starlette objects)."""

from gqlsync.auth.authenticator import Authenticator
from gqlsync.auth.base import AUTH_MODES, AuthFailure, AuthResult, RequestFacts

__all__ = ["AUTH_MODES", "AuthFailure", "AuthResult", "Authenticator", "RequestFacts"]
