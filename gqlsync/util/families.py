"""The `util.str`, `util.math`, `util.list` and `util.map` families, on plain Python values."""

from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

from gqlsync.util.values import Stringify, is_number

#: AppSync returns a longer list unsorted.
SORT_LIMIT = 1000

_FORMS: dict[str, Literal["NFC", "NFD", "NFKC", "NFKD"]] = {"NFC": "NFC", "NFD": "NFD", "NFKC": "NFKC", "NFKD": "NFKD"}


def normalize(s: str, form: str) -> str:
    if form.upper() not in _FORMS:
        raise ValueError(f"unknown normalization form {form!r}")
    return unicodedata.normalize(_FORMS[form.upper()], s)


def sort_list(lst: list[Any], descending: bool = False, prop: str = "", stringify: Stringify = str) -> list[Any]:
    """`util.list.sortList`: numbers by value, other values (nulls last) by their text; maps by `prop`.

    Mixed numbers and text sort by the text of each whole entry. `stringify` is the runtime's toString.
    """
    if len(lst) > SORT_LIMIT:
        return list(lst)

    def key(x: Any) -> Any:
        v = x.get(prop) if prop and isinstance(x, Mapping) else x
        return (False, v) if is_number(v) else (v is None, stringify(v))

    try:
        return sorted(lst, key=key, reverse=bool(descending))
    except TypeError:
        return sorted(lst, key=stringify, reverse=bool(descending))


class StrUtil:
    def toUpper(self, s: str) -> str:  # noqa: N802 - AppSync names
        return s.upper()

    def toLower(self, s: str) -> str:  # noqa: N802
        return s.lower()

    def toReplace(self, s: str, find: str, repl: str) -> str:  # noqa: N802
        return s.replace(find, repl)

    def normalize(self, s: str, form: str) -> str:
        return normalize(s, form)


class MathUtil:
    def roundNum(self, x: float) -> int:  # noqa: N802
        return math.floor(x + 0.5)

    def minVal(self, a: float, b: float) -> float:  # noqa: N802
        return min(a, b)

    def maxVal(self, a: float, b: float) -> float:  # noqa: N802
        return max(a, b)

    def randomDouble(self) -> float:  # noqa: N802
        return random.random()

    def randomWithinRange(self, lo: int, hi: int) -> int:  # noqa: N802
        return random.randint(int(lo), int(hi))


class ListUtil:
    """`util.list`; `stringify` orders values that are not numbers (VTL passes Java's toString)."""

    def __init__(self, stringify: Stringify = str) -> None:
        self._stringify = stringify

    def copyAndRetainAll(self, lst: list[Any], keep: list[Any]) -> list[Any]:  # noqa: N802
        return [x for x in lst if x in keep]

    def copyAndRemoveAll(self, lst: list[Any], drop: list[Any]) -> list[Any]:  # noqa: N802
        return [x for x in lst if x not in drop]

    def sortList(self, lst: list[Any], descending: bool = False, prop: str = "") -> list[Any]:  # noqa: N802
        return sort_list(lst, descending, prop, self._stringify)


class MapUtil:
    def copyAndRetainAllKeys(self, m: dict[str, Any], keys: list[str]) -> dict[str, Any]:  # noqa: N802
        return {k: v for k, v in m.items() if k in keys}

    def copyAndRemoveAllKeys(self, m: dict[str, Any], keys: list[str]) -> dict[str, Any]:  # noqa: N802
        return {k: v for k, v in m.items() if k not in keys}
