"""JSON Web Key Sets fetched over HTTP, cached, refreshed on an unknown `kid` (rate-limited), with timeouts."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWKError

log = logging.getLogger("gqlsync.auth.jwks")


class JwksUnavailable(Exception):  # noqa: N818
    pass


class JwksCache:
    """Keys by `kid` for one JWKS URL. An unknown kid triggers at most one refetch per `min_refresh` seconds."""

    def __init__(self, url: str, *, ttl: float = 3600.0, min_refresh: float = 30.0, timeout: float = 3.0) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.timeout = timeout
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> PyJWK | None:
        now = time.monotonic()
        if kid in self._keys and now - self._fetched_at < self.ttl:
            return self._keys[kid]
        if kid not in self._keys or now - self._fetched_at >= self.ttl:
            await self._refresh(force=kid not in self._keys)
        return self._keys.get(kid)

    async def _refresh(self, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if force and now - self._fetched_at < self.min_refresh and self._keys:
                return  # an unknown kid does not get to hammer the issuer
            try:
                async with httpx.AsyncClient(timeout=self.timeout) as http:
                    resp = await http.get(self.url)
                resp.raise_for_status()
                doc: Any = resp.json()
            except (httpx.HTTPError, json.JSONDecodeError, ValueError) as exc:
                if self._keys:
                    log.warning("JWKS refresh failed; keeping the cached keys",
                                extra={"url": self.url, "error": str(exc)})
                    self._fetched_at = now
                    return
                raise JwksUnavailable(f"cannot fetch the signing keys from {self.url}: {exc}") from None
            keys: dict[str, PyJWK] = {}
            for jwk in doc.get("keys", []) if isinstance(doc, dict) else []:
                kid = jwk.get("kid")
                if not kid or jwk.get("use", "sig") != "sig":
                    continue
                try:
                    keys[str(kid)] = PyJWK(jwk)
                except PyJWKError:
                    log.warning("ignoring an unusable JWK", extra={"url": self.url, "kid": kid})
            self._keys = keys
            self._fetched_at = now
