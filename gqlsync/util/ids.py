"""Generated identifiers: `util.autoId` (UUID v4), `autoUlid`, `autoKsuid` and a random hex token."""

from __future__ import annotations

import os
import secrets
import time
import uuid

from ulid import ULID

_KSUID_EPOCH = 1400000000
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def auto_id() -> str:
    """A random UUID (version 4) in its 36-character form."""
    return str(uuid.uuid4())


def auto_ulid() -> str:
    """A ULID: 26 Crockford base32 characters, sortable by creation time."""
    return str(ULID())


def auto_ksuid() -> str:
    """A KSUID: 27 base62 characters, a 4-byte timestamp (seconds since 2014-05-13) and 16 random bytes."""
    payload = int(time.time() - _KSUID_EPOCH).to_bytes(4, "big") + os.urandom(16)
    n = int.from_bytes(payload, "big")
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out.rjust(27, "0")


def random_hex() -> str:
    """32 random hex digits (`$util.random`)."""
    return secrets.token_hex(16)
