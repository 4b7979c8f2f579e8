"""Authentication and authorization: who is calling (from headers and config, never Starlette objects)."""

from gqlsync.auth.base import AuthFailure, AuthResult, Authenticator

__all__ = ["AuthFailure", "AuthResult", "Authenticator"]
