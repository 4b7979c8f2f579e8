"""OpenSearch's `standard` analyzer (Unicode word segmentation, lowercase, no stop words), in Python.

Lucene's StandardTokenizer follows UAX #29 word boundaries: runs of letters and digits form a
token, and so do letters joined by `.` `'` `:` (`u.s.a`, `don't`) or digits joined by `.` `,` `;`
(`3.14`, `1,000`); `_` joins anything; each Han ideograph and Hiragana character is a token of
its own; tokens longer than 255 characters are split. Tokens are then lowercased.

Text is analyzed here, and FTS5 indexes the resulting tokens joined by spaces: its tokenizer is
configured (`TOKENIZER`) so that every character a token may hold is a token character, hence
FTS5 sees exactly these tokens and never splits them again. Values of an array are separated by
`GAP`, a private-use token no analyzed text can contain, so a phrase never matches across two
values (Lucene's `position_increment_gap`); it is not counted in field lengths.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

MAX_TOKEN_LENGTH = 255
GAP = "\ue000"
TOKENIZER = "unicode61 remove_diacritics 0 categories 'L* N* M* Pc Po Pi Pf Sm Co'"

_MID_LETTER = ":\u00b7\u0387\u05f4\u2027\ufe13\ufe55\uff1a"
_MID_NUM = ",;\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b"
_MID_NUM_LET = ".'\u2018\u2019\u2024\ufe52\uff07\uff0e"
_SINGLE = "\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"


def _class(chars: str) -> str:
    return "".join(re.escape(c) for c in chars)


@functools.cache
def _marks() -> str:
    """A regex class body of Unicode's combining marks (categories M*), which extend a word."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, sys.maxunicode + 1):
        if unicodedata.category(chr(cp))[0] == "M":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


@functools.cache
def _word_re() -> re.Pattern[str]:
    marks = _marks()
    letter = rf"(?:(?![{_SINGLE}])[^\W\d_])[{marks}]*"
    digit = rf"\d[{marks}]*"
    connector = rf"[_\u203f\u2040\u2054\ufe33\ufe34\ufe4d-\ufe4f\uff3f][{marks}]*"
    join_letters = rf"(?<=[^\W\d_])[{_class(_MID_LETTER + _MID_NUM_LET)}](?=[^\W\d_])"
    join_digits = rf"(?<=\d)[{_class(_MID_NUM + _MID_NUM_LET)}](?=\d)"
    word = rf"(?:{letter}|{digit}|{connector}|{join_letters}|{join_digits})+"
    return re.compile(rf"[{_SINGLE}]|{word}")


_ASCII_WORD = re.compile(r"(?:[A-Za-z0-9_]|(?<=[A-Za-z])[:.'](?=[A-Za-z])|(?<=[0-9])[,;.'](?=[0-9]))+")
_HAS_WORD_CHAR = re.compile(r"[^\W_]")


def tokenize(text: str) -> list[str]:
    """The standard analyzer's tokens of `text`, lowercased, in order."""
    pattern = _ASCII_WORD if text.isascii() else _word_re()
    out = pattern.findall(text.lower())
    if "_" in text or not text.isascii():
        out = [t for t in out if _HAS_WORD_CHAR.search(t)]  # connectors alone ("___") make no token
    if len(text) > MAX_TOKEN_LENGTH and any(len(t) > MAX_TOKEN_LENGTH for t in out):
        out = [t[i:i + MAX_TOKEN_LENGTH] for t in out for i in range(0, len(t), MAX_TOKEN_LENGTH)]
    return out


def fts_string(tokens: list[str]) -> str:
    """An FTS5 string literal (a phrase when it holds several tokens)."""
    return '"' + " ".join(tokens) + '"'
