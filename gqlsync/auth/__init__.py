"""Authentication and authorization: who is calling (from headers and config, never Starlette objects)."""

from gqlsync.auth.base import Authenticator, AuthFailure, AuthResult, RequestFacts

__all__ = ["AuthFailure", "AuthResult", "Authenticator", "RequestFacts"]
