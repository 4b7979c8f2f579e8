"""Lucene's BM25 (OpenSearch's default similarity): idf, the one-byte field-length norms, float32 scores.

With one shard and the same tokens, these give OpenSearch's scores: `idf = ln(1 + (N - n + 0.5) /
(n + 0.5))` over the docs that have the field, and per matching term `idf * tf / (tf + k1 * (1 - b
+ b * dl / avgdl))`, where `dl` is the field length after Lucene's lossy one-byte encoding
(exact below 24 tokens). Keyword and boolean fields have no norms: their `dl` is 1.
"""

from __future__ import annotations

import math
import struct

K1 = 1.2
B = 0.75


def _long_to_int4(i: int) -> int:
    num_bits = i.bit_length()
    if num_bits < 4:
        return i
    shift = num_bits - 4
    encoded = (i >> shift) & 0x07
    return encoded | ((shift + 1) << 3)


def _int4_to_long(i: int) -> int:
    bits = i & 0x07
    shift = (i >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


_MAX_INT4 = _long_to_int4(2**31 - 1)
_NUM_FREE_VALUES = 255 - _MAX_INT4


def norm_length(length: int) -> int:
    """The field length Lucene scores with: SmallFloat.byte4ToInt(SmallFloat.intToByte4(length))."""
    if length < _NUM_FREE_VALUES:
        return length
    encoded = _NUM_FREE_VALUES + _long_to_int4(length - _NUM_FREE_VALUES)
    return _NUM_FREE_VALUES + _int4_to_long(encoded - _NUM_FREE_VALUES)


def float32(v: float) -> float:
    return float(struct.unpack("f", struct.pack("f", v))[0])


def idf(doc_count: int, doc_freq: int) -> float:
    return float32(math.log(1 + (doc_count - doc_freq + 0.5) / (doc_freq + 0.5)))


def avgdl(doc_count: int, total_terms: int) -> float:
    return float32(total_terms / doc_count) if doc_count else 1.0


def length_factors(avg: float) -> tuple[float, float]:
    """(a, c) with `tf / (tf + a + c * dl)` the tf part of BM25 for a field whose average length is `avg`."""
    return K1 * (1 - B), K1 * B / avg


def no_norms_score(weight: float, avg: float) -> float:
    """A matching term's score in a field without norms (keyword, boolean): tf 1, dl 1."""
    a, c = length_factors(avg)
    return float32(weight * 1 / (1 + a + c))
