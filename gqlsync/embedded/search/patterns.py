"""Lucene's `regexp` and `wildcard` syntaxes translated to Python regexes and SQLite GLOB patterns."""

from __future__ import annotations

import functools
import re

from gqlsync.embedded.search.errors import illegal, unsupported


def lucene_regex(pattern: str, flags: str = "ALL") -> str:
    """A Python regex (to be full-matched) with the meaning of a Lucene RegExp.

    Supported: `. ? + * | {n} {n,} {n,m} ( ) [...] [^...] "literal" \\c`, and with the default
    flags `@` (any string) and `#` (the empty language). `~` (complement), `&` (intersection) and
    `<n-m>` (numeric interval) are refused rather than guessed at.
    """
    enabled = {f.strip().upper() for f in flags.split("|")} if flags else {"ALL"}
    allow = lambda name: "ALL" in enabled or name in enabled  # noqa: E731
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise illegal(f"expected character after \\ at position {i} in regexp [{pattern}]")
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == '"':
            end = pattern.find('"', i + 1)
            if end < 0:
                raise illegal(f"expected '\"' at position {n} in regexp [{pattern}]")
            out.append(re.escape(pattern[i + 1:end]))
            i = end + 1
        elif c == ".":
            out.append(r"[\s\S]")
            i += 1
        elif c in "?+*|)":
            out.append(c)
            i += 1
        elif c == "(":
            if i + 1 < n and pattern[i + 1] == "?":
                raise illegal(f"invalid regexp [{pattern}]: '(?' at position {i}")
            out.append("(?:")
            i += 1
        elif c == "{":
            m = re.match(r"\{(\d+)(,(\d*))?\}", pattern[i:])
            if not m:
                raise illegal(f"integer expected at position {i + 1} in regexp [{pattern}]")
            out.append(m.group())
            i += m.end()
        elif c == "[":
            end, cls = _char_class(pattern, i)
            out.append(cls)
            i = end
        elif c == "@" and allow("ANYSTRING"):
            out.append(r"[\s\S]*")
            i += 1
        elif c == "#" and allow("EMPTY"):
            out.append("(?!)")
            i += 1
        elif c == "~" and allow("COMPLEMENT"):
            raise unsupported(f"the regexp complement operator '~' (in [{pattern}])")
        elif c == "&" and allow("INTERSECTION"):
            raise unsupported(f"the regexp intersection operator '&' (in [{pattern}])")
        elif c == "<" and allow("INTERVAL") and re.match(r"<\d+-\d+>", pattern[i:]):
            raise unsupported(f"the regexp numeric interval '<n-m>' (in [{pattern}])")
        else:
            out.append(re.escape(c))
            i += 1
    rx = "".join(out)
    try:
        re.compile(rx)
    except re.error as exc:
        raise illegal(f"invalid regexp [{pattern}]: {exc}") from None
    return rx


def _char_class(pattern: str, start: int) -> tuple[int, str]:
    i = start + 1
    parts = ["["]
    if i < len(pattern) and pattern[i] == "^":
        parts.append("^")
        i += 1
    first = True
    while i < len(pattern):
        c = pattern[i]
        if c == "]" and not first:
            parts.append("]")
            return i + 1, "".join(parts)
        if c == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "-" and not first and i + 1 < len(pattern) and pattern[i + 1] != "]":
            parts.append("-")
            i += 1
        else:
            parts.append(re.escape(c))
            i += 1
        first = False
    raise illegal(f"expected ']' at position {len(pattern)} in regexp [{pattern}]")


def wildcard_regex(pattern: str) -> str:
    """A Python regex (full match) for a Lucene wildcard: `*` any string, `?` one character, `\\` escapes."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(r"[\s\S]*" if c == "*" else r"[\s\S]" if c == "?" else re.escape(c))
        i += 1
    return "".join(out)


def wildcard_glob(pattern: str) -> tuple[str, str]:
    """(SQLite GLOB pattern, literal prefix) for a Lucene wildcard."""
    out, prefix, literal, i = [], [], True, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            ch = pattern[i + 1]
            out.append(f"[{ch}]" if ch in "*?[" else ch)
            if literal:
                prefix.append(ch)
            i += 2
            continue
        if c in "*?":
            out.append(c)
            literal = False
        else:
            out.append("[[]" if c == "[" else c)
            if literal:
                prefix.append(c)
        i += 1
    return "".join(out), "".join(prefix)


def regex_literal_prefix(rx_source: str) -> str:
    """The literal text every match of a translated regex starts with ('' if none is certain)."""
    out = []
    i = 0
    while i < len(rx_source):
        c = rx_source[i]
        if c == "\\" and i + 1 < len(rx_source) and not rx_source[i + 1].isalnum():
            nxt = rx_source[i + 2] if i + 2 < len(rx_source) else ""
            if nxt and nxt in "?*{|":
                break
            out.append(rx_source[i + 1])
            i += 2
        elif c.isalnum() or c in "_- ,;:'\"=/%!<>@&~#`":
            nxt = rx_source[i + 1] if i + 1 < len(rx_source) else ""
            if nxt and nxt in "?*{|":
                break
            out.append(c)
            i += 1
        else:
            break
    if "|" in rx_source:
        return ""
    return "".join(out)


def successor(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix` (None: there is none)."""
    chars = list(prefix)
    while chars:
        cp = ord(chars[-1]) + 1
        if 0xD800 <= cp <= 0xDFFF:
            cp = 0xE000
        if cp <= 0x10FFFF:
            chars[-1] = chr(cp)
            return "".join(chars)
        chars.pop()
    return None


@functools.lru_cache(maxsize=512)
def compiled(rx: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(rx, re.DOTALL | (re.IGNORECASE if ignore_case else 0))
