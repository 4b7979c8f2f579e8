"""Date fields: OpenSearch's named and pattern formats, epoch millis, and date math (`now-1d/d`)."""

from __future__ import annotations

import calendar
import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_FORMAT = "strict_date_optional_time||epoch_millis"
DYNAMIC_DATE_FORMATS = ["strict_date_optional_time", "yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_Z = r"(?P<z>Z|[+-]\d{2}(?::?\d{2})?)"
_FRACTION = r"(?:[.,](?P<f>\d{1,9}))"


def _optional_time(year: str, two: str) -> str:
    return (rf"(?P<y>{year})(?:-(?P<M>{two})(?:-(?P<d>{two})(?:T(?P<H>{two})(?::(?P<m>{two})"
            rf"(?::(?P<s>{two}){_FRACTION}?)?)?{_Z}?)?)?)?")


_NAMED: dict[str, str] = {
    "strict_date_optional_time": _optional_time(r"\d{4}", r"\d{2}"),
    "strict_date_optional_time_nanos": _optional_time(r"\d{4}", r"\d{2}"),
    "date_optional_time": _optional_time(r"[+-]?\d{1,9}", r"\d{1,2}"),
    "strict_date_time": rf"(?P<y>\d{{4}})-(?P<M>\d{{2}})-(?P<d>\d{{2}})T(?P<H>\d{{2}}):(?P<m>\d{{2}}):(?P<s>\d{{2}})"
                        rf"{_FRACTION}{_Z}",
    "date_time": rf"(?P<y>\d{{1,9}})-(?P<M>\d{{1,2}})-(?P<d>\d{{1,2}})T(?P<H>\d{{1,2}}):(?P<m>\d{{1,2}}):"
                 rf"(?P<s>\d{{1,2}}){_FRACTION}{_Z}",
    "strict_date_time_no_millis": r"(?P<y>\d{4})-(?P<M>\d{2})-(?P<d>\d{2})T(?P<H>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})"
                                  + _Z,
    "date_time_no_millis": r"(?P<y>\d{1,9})-(?P<M>\d{1,2})-(?P<d>\d{1,2})T(?P<H>\d{1,2}):(?P<m>\d{1,2}):"
                           r"(?P<s>\d{1,2})" + _Z,
    "strict_date": r"(?P<y>\d{4})-(?P<M>\d{2})-(?P<d>\d{2})",
    "date": r"(?P<y>\d{1,9})-(?P<M>\d{1,2})-(?P<d>\d{1,2})",
    "strict_year_month_day": r"(?P<y>\d{4})-(?P<M>\d{2})-(?P<d>\d{2})",
    "year_month_day": r"(?P<y>\d{1,9})-(?P<M>\d{1,2})-(?P<d>\d{1,2})",
    "strict_year_month": r"(?P<y>\d{4})-(?P<M>\d{2})",
    "year_month": r"(?P<y>\d{1,9})-(?P<M>\d{1,2})",
    "strict_year": r"(?P<y>\d{4})",
    "year": r"(?P<y>\d{1,9})",
    "strict_date_hour_minute_second": r"(?P<y>\d{4})-(?P<M>\d{2})-(?P<d>\d{2})T(?P<H>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})",
    "date_hour_minute_second": r"(?P<y>\d{1,9})-(?P<M>\d{1,2})-(?P<d>\d{1,2})T(?P<H>\d{1,2}):(?P<m>\d{1,2}):"
                               r"(?P<s>\d{1,2})",
    "strict_date_hour_minute_second_millis": r"(?P<y>\d{4})-(?P<M>\d{2})-(?P<d>\d{2})T(?P<H>\d{2}):(?P<m>\d{2}):"
                                             r"(?P<s>\d{2})" + _FRACTION,
    "basic_date": r"(?P<y>\d{4})(?P<M>\d{2})(?P<d>\d{2})",
    "basic_date_time": r"(?P<y>\d{4})(?P<M>\d{2})(?P<d>\d{2})T(?P<H>\d{2})(?P<m>\d{2})(?P<s>\d{2})" + _FRACTION + _Z,
    "basic_date_time_no_millis": r"(?P<y>\d{4})(?P<M>\d{2})(?P<d>\d{2})T(?P<H>\d{2})(?P<m>\d{2})(?P<s>\d{2})" + _Z,
}
# The Java pattern letters a custom format may use, as regex groups.
_PATTERN_LETTERS: dict[str, tuple[str, str]] = {
    "y": ("y", r"\d{4}"), "u": ("y", r"\d{4}"), "M": ("M", r"\d{1,2}"), "d": ("d", r"\d{1,2}"),
    "H": ("H", r"\d{1,2}"), "m": ("m", r"\d{1,2}"), "s": ("s", r"\d{1,2}"), "S": ("f", r"\d{1,9}"),
    "Z": ("z", r"Z|[+-]\d{2}:?\d{2}"), "X": ("z", r"Z|[+-]\d{2}(?::?\d{2})?"), "x": ("z", r"[+-]\d{2}(?::?\d{2})?"),
}


@dataclass(frozen=True)
class _Format:
    name: str
    parse: Callable[[str, tzinfo], int | None]
    render: Callable[[int], str]


def _from_groups(g: dict[str, str | None], tz: tzinfo) -> int | None:
    try:
        zone: tzinfo = tz
        z = g.get("z")
        if z:
            if z == "Z":
                zone = UTC
            else:
                digits = z[1:].replace(":", "")
                hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
                delta = timedelta(hours=hours, minutes=minutes)
                zone = timezone(-delta if z[0] == "-" else delta)
        frac = g.get("f") or ""
        micros = int((frac + "000000")[:6]) if frac else 0
        dt = datetime(int(g["y"] or 0), int(g.get("M") or 1), int(g.get("d") or 1), int(g.get("H") or 0),
                      int(g.get("m") or 0), int(g.get("s") or 0), micros, tzinfo=zone)
    except (ValueError, OverflowError):
        return None
    delta = dt - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def _iso(millis: int) -> str:
    dt = _EPOCH + timedelta(milliseconds=millis)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _regex_format(name: str, regex: str, render: Callable[[int], str] = _iso) -> _Format:
    compiled = re.compile(regex)

    def parse(text: str, tz: tzinfo) -> int | None:
        m = compiled.fullmatch(text)
        return _from_groups(m.groupdict(), tz) if m else None

    return _Format(name, parse, render)


def _epoch(name: str, scale: int) -> _Format:
    def parse(text: str, tz: tzinfo) -> int | None:
        try:
            return round(float(text) * scale) if re.fullmatch(r"-?\d+(?:\.\d+)?", text) else None
        except ValueError:
            return None

    return _Format(name, parse, lambda millis: str(millis // scale) if scale > 1 else str(millis))


def _java_pattern(pattern: str) -> _Format:
    """A custom DateTimeFormatter pattern (`yyyy/MM/dd HH:mm:ss`), with the letters _PATTERN_LETTERS lists."""
    regex, strf = [], []
    i, seen = 0, set()
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            end = pattern.index("'", i + 1) if "'" in pattern[i + 1:] else len(pattern)
            literal = pattern[i + 1:end] or "'"
            regex.append(re.escape(literal))
            strf.append(literal.replace("%", "%%"))
            i = end + 1
            continue
        j = i
        while j < len(pattern) and pattern[j] == c:
            j += 1
        run = j - i
        if c.isalpha():
            if c not in _PATTERN_LETTERS:
                raise ValueError(f"unsupported date pattern letter [{c}] in [{pattern}]")
            group, body = _PATTERN_LETTERS[c]
            if group in seen:
                raise ValueError(f"date pattern [{pattern}] repeats [{c}]")
            seen.add(group)
            if group == "f":
                body = rf"\d{{{run}}}"
            elif group in "MdHms" and run == 2:
                body = r"\d{2}"
            regex.append(f"(?P<{group}>{body})")
            strf.append({"y": "%Y", "M": "%m", "d": "%d", "H": "%H", "m": "%M", "s": "%S", "f": "%f", "z": "Z"}[group])
        else:
            regex.append(re.escape(pattern[i:j]))
            strf.append(pattern[i:j].replace("%", "%%"))
        i = j
    compiled = re.compile("".join(regex))
    template = "".join(strf)

    def parse(text: str, tz: tzinfo) -> int | None:
        m = compiled.fullmatch(text)
        return _from_groups(m.groupdict(), tz) if m else None

    def render(millis: int) -> str:
        dt = _EPOCH + timedelta(milliseconds=millis)
        return dt.strftime(template.replace("%f", f"{dt.microsecond // 1000:03d}"))

    return _Format(pattern, parse, render)


@functools.cache
def _one_format(name: str) -> _Format:
    name = name.strip()
    if name in _NAMED:
        return _regex_format(name, _NAMED[name])
    if name == "epoch_millis":
        return _epoch(name, 1)
    if name == "epoch_second":
        return _epoch(name, 1000)
    return _java_pattern(name)


@dataclass(frozen=True)
class DateFormat:
    """A field's `format`: alternatives separated by `||`, tried in order; the first renders."""

    text: str
    parts: tuple[_Format, ...]
    number_scale: int = 0  # how a JSON number converts to millis: 1 (epoch_millis), 1000 (epoch_second), 0: text

    def __post_init__(self) -> None:
        names = {p.name for p in self.parts}
        scale = 1 if "epoch_millis" in names else 1000 if "epoch_second" in names else 0
        object.__setattr__(self, "number_scale", scale)

    def parse(self, value: Any, tz: tzinfo = UTC) -> int:
        """Epoch millis of `value`, or ValueError naming the format as OpenSearch does."""
        cls = value.__class__
        if cls is int or cls is float:
            if self.number_scale:
                return int(value * self.number_scale)
            value = str(value)
        elif cls is bool:
            raise ValueError(f"failed to parse date field [{value}] with format [{self.text}]")
        if not isinstance(value, str):
            raise ValueError(f"failed to parse date field [{value}] with format [{self.text}]")
        for part in self.parts:
            millis = part.parse(value, tz)
            if millis is not None:
                return millis
        raise ValueError(f"failed to parse date field [{value}] with format [{self.text}]")

    def render(self, millis: int) -> str:
        return self.parts[0].render(millis)


@functools.cache
def date_format(text: str | None) -> DateFormat:
    """The parsed `format` string; ValueError for letters or names it does not know."""
    text = text or DEFAULT_FORMAT
    return DateFormat(text, tuple(_one_format(p) for p in text.split("||") if p.strip()))


def zone(name: str | None) -> tzinfo:
    """A `time_zone` parameter: `+01:00`, `-0800`, `Z`, `UTC` or an IANA name."""
    if not name or name in ("Z", "UTC", "utc"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?", name)
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        return timezone(-delta if m.group(1) == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"The datetime zone id '{name}' is not recognised") from None


_MATH = re.compile(r"([+-])(\d*)([yMwdhHms])|/([yMwdhHms])")


def _add(dt: datetime, amount: int, unit: str) -> datetime:
    if unit in "yM":
        months = dt.month - 1 + amount * (12 if unit == "y" else 1)
        year, month = dt.year + months // 12, months % 12 + 1
        return dt.replace(year=year, month=month, day=min(dt.day, calendar.monthrange(year, month)[1]))
    seconds = {"w": 604800, "d": 86400, "h": 3600, "H": 3600, "m": 60, "s": 1}[unit]
    return dt + timedelta(seconds=amount * seconds)


def round_date(dt: datetime, unit: str, up: bool) -> datetime:
    if unit == "y":
        start = dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    elif unit == "M":
        start = dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    elif unit == "w":
        start = (dt - timedelta(days=dt.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    elif unit == "d":
        start = dt.replace(hour=0, minute=0, second=0, microsecond=0)
    elif unit in "hH":
        start = dt.replace(minute=0, second=0, microsecond=0)
    elif unit == "m":
        start = dt.replace(second=0, microsecond=0)
    else:
        start = dt.replace(microsecond=0)
    if not up:
        return start
    return _add(start, 1, unit) - timedelta(milliseconds=1)


def _millis(dt: datetime) -> int:
    delta = dt - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def parse_math(value: Any, fmt: DateFormat, *, round_up: bool = False, tz: tzinfo = UTC,
               now: float | None = None) -> int:
    """A date in a query: a formatted date or millis, `now`, or either followed by `||`-math.

    `round_up` says how `/unit` rounds: up to the unit's last millisecond for `gt` and `lte`,
    down to its first for `gte` and `lt`, as OpenSearch's range query does.
    """
    if not isinstance(value, str):
        return fmt.parse(value, tz)
    if value.startswith("now"):
        anchor_ms = int((time.time() if now is None else now) * 1000)
        math = value[3:]
    elif "||" in value:
        anchor, math = value.split("||", 1)
        anchor_ms = fmt.parse(anchor, tz)
    else:
        return fmt.parse(value, tz)
    dt = (_EPOCH + timedelta(milliseconds=anchor_ms)).astimezone(tz)
    pos = 0
    while pos < len(math):
        m = _MATH.match(math, pos)
        if not m:
            raise ValueError(f"failed to parse date math [{value}]")
        if m.group(4):
            dt = round_date(dt, m.group(4), round_up)
        else:
            amount = int(m.group(2) or 1)
            dt = _add(dt, -amount if m.group(1) == "-" else amount, m.group(3))
        pos = m.end()
    return _millis(dt)
