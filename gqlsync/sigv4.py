"""AWS Signature Version 4: signing outgoing requests (cached signing keys), shared by every AWS caller."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


@lru_cache(maxsize=64)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The day's derived key; cached, since it changes once a day per region and service."""
    k = hmac.new(("AWS4" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, region.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    return hmac.new(k, b"aws4_request", hashlib.sha256).digest()


def _normalize_path(path: str) -> str:
    """RFC 3986 dot-segment removal and no empty segments (all services but S3)."""
    stack: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if stack:
                stack.pop()
        else:
            stack.append(seg)
    out = "/" + "/".join(stack)
    if path.endswith("/") and out != "/":
        out += "/"
    return out


def _uri_encode(text: str) -> str:
    """Decode the query component as sent (%XX, any case; '+' is literal), then encode it as SigV4 does."""
    return quote(unquote_to_bytes(text), safe="-_.~")


def _canonical_query(query: str) -> str:
    """The raw query string (as in the URL) in canonical form: each name and value decoded and re-encoded, sorted."""
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        k, _, v = part.partition("=")
        pairs.append((_uri_encode(k), _uri_encode(v)))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def signature(method: str, path: str, query: str, signed: dict[str, str], payload_hash: str, secret_key: str,
              amz_date: str, region: str, service: str) -> str:
    """The hex signature over a request whose signed headers (lower-case name -> value) are `signed`."""
    names = sorted(signed)
    canonical_headers = "".join(f"{n}:{' '.join(str(signed[n]).split())}\n" for n in names)
    canonical_path = quote(path if service == "s3" else _normalize_path(path or "/"), safe="/-_.~")
    canonical = "\n".join((method.upper(), canonical_path, _canonical_query(query), canonical_headers,
                           ";".join(names), payload_hash))
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join((ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()))
    return hmac.new(signing_key(secret_key, amz_date[:8], region, service), to_sign.encode(),
                    hashlib.sha256).hexdigest()


def sign(method: str, url: str, headers: dict[str, str], body: bytes, creds: Credentials, region: str,
         service: str, now: datetime | None = None) -> dict[str, str]:
    """Headers to send: the given ones plus host, x-amz-date, x-amz-content-sha256 (s3 only), token, Authorization."""
    now = now or datetime.now(UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    parts = urlsplit(url)
    out = {k.lower(): v for k, v in headers.items()}
    out["host"] = parts.netloc
    out["x-amz-date"] = amz_date
    if creds.token:
        out["x-amz-security-token"] = creds.token
    payload_hash = hashlib.sha256(body).hexdigest()
    if service == "s3":
        out["x-amz-content-sha256"] = payload_hash
    sig = signature(method, parts.path or "/", parts.query, out, payload_hash, creds.secret_key, amz_date, region,
                    service)
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    out["authorization"] = (f"{ALGORITHM} Credential={creds.access_key}/{scope}, "
                            f"SignedHeaders={';'.join(sorted(out))}, Signature={sig}")
    return out
