"""Text encodings: JavaScript string escaping, URL (form) encoding and base64, on plain strings."""

from __future__ import annotations

import base64
import urllib.parse

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def escape_javascript(text: str) -> str:
    """`util.escapeJavaScript`: quotes, slashes and controls escaped, non-ASCII as \\uXXXX."""
    out = []
    for ch in text:
        if ch in "\"'\\/":
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 32 or ord(ch) > 126:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def url_encode(text: str) -> str:
    """application/x-www-form-urlencoded, as Java's URLEncoder (space is +, * is kept)."""
    return urllib.parse.quote_plus(text, safe="*")


def url_decode(text: str) -> str:
    return urllib.parse.unquote_plus(text)


def base64_encode(data: str | bytes | bytearray) -> str:
    """Base64 of the bytes, or of the UTF-8 encoding of a string."""
    raw = bytes(data) if isinstance(data, (bytes, bytearray)) else data.encode()
    return base64.b64encode(raw).decode()


def base64_decode(text: str) -> str:
    """The UTF-8 text of base64 data (undecodable bytes become U+FFFD)."""
    return base64.b64decode(text).decode("utf-8", errors="replace")
