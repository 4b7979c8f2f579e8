"""`util.time`: clocks and Java/Joda date patterns (yyyy-MM-dd HH:mm:ss.SSSZ) in any time zone, for every runtime."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

_RUN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|[^A-Za-z']+")


def _offset(dt: datetime, colon: bool, zulu: bool) -> str:
    off = dt.utcoffset() or timedelta(0)
    if zulu and off == timedelta(0):
        return "Z"
    total = int(off.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    hh, mm = divmod(total // 60, 60)
    return f"{sign}{hh:02d}:{mm:02d}" if colon else f"{sign}{hh:02d}{mm:02d}"


def _field(run: str) -> Callable[[datetime], str]:
    ch, n = run[0], len(run)
    if ch in "yu":
        return (lambda d: f"{d.year % 100:02d}") if n == 2 else (lambda d: f"{d.year:0{n}d}")
    if ch in "ML":
        if n >= 4:
            return lambda d: d.strftime("%B")
        if n == 3:
            return lambda d: d.strftime("%b")
        return lambda d: f"{d.month:0{n}d}"
    if ch == "d":
        return lambda d: f"{d.day:0{n}d}"
    if ch == "D":
        return lambda d: f"{d.timetuple().tm_yday:0{n}d}"
    if ch == "H":
        return lambda d: f"{d.hour:0{n}d}"
    if ch == "k":
        return lambda d: f"{d.hour or 24:0{n}d}"
    if ch == "h":
        return lambda d: f"{(d.hour % 12) or 12:0{n}d}"
    if ch == "K":
        return lambda d: f"{d.hour % 12:0{n}d}"
    if ch == "m":
        return lambda d: f"{d.minute:0{n}d}"
    if ch == "s":
        return lambda d: f"{d.second:0{n}d}"
    if ch == "S":
        return lambda d: f"{d.microsecond:06d}"[:n].ljust(n, "0")
    if ch == "a":
        return lambda d: "AM" if d.hour < 12 else "PM"
    if ch == "E":
        return (lambda d: d.strftime("%A")) if n >= 4 else (lambda d: d.strftime("%a"))
    if ch == "Z":
        return (lambda d: _offset(d, True, False)) if n >= 2 else (lambda d: _offset(d, False, False))
    if ch == "X":
        return (lambda d: _offset(d, n >= 3, True))
    if ch == "x":
        return (lambda d: _offset(d, n >= 3, False))
    if ch == "z":
        return lambda d: d.tzname() or "UTC"
    raise ValueError(f"unsupported date pattern letter {ch!r}")


def _literal(text: str) -> Callable[[datetime], str]:
    return lambda _d: text


@lru_cache(maxsize=256)
def _compile(pattern: str) -> list[Callable[[datetime], str]]:
    parts: list[Callable[[datetime], str]] = []
    for m in _RUN.finditer(pattern):
        text = m.group(0)
        if text.startswith("'"):
            lit = "'" if text == "''" else text[1:-1].replace("''", "'")
            parts.append(_literal(lit))
        elif m.group(1):
            parts.append(_field(text))
        else:
            parts.append(_literal(text))
    return parts


def _zone(tz: str | None) -> tzinfo:
    if not tz or tz.upper() == "UTC":
        return UTC
    return ZoneInfo(tz)


def format_datetime(dt: datetime, pattern: str) -> str:
    return "".join(part(dt) for part in _compile(pattern))


_PARSE_FIELDS = {
    "y": r"(?P<year>\d{4})", "u": r"(?P<year>\d{4})", "M": r"(?P<month>\d{1,2})", "d": r"(?P<day>\d{1,2})",
    "H": r"(?P<hour>\d{1,2})", "m": r"(?P<minute>\d{1,2})", "s": r"(?P<second>\d{1,2})",
    "S": r"(?P<fraction>\d+)", "Z": r"(?P<offset>Z|[+-]\d{2}:?\d{2})", "X": r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)",
    "x": r"(?P<offset>[+-]\d{2}(?::?\d{2})?)", "h": r"(?P<hour12>\d{1,2})", "a": r"(?P<ampm>AM|PM|am|pm)",
    "E": r"[A-Za-z]+", "z": r"(?P<zone>[A-Za-z_/+-]+)",
}


@lru_cache(maxsize=256)
def _parser(pattern: str) -> re.Pattern[str]:
    regex = ""
    for m in _RUN.finditer(pattern):
        text = m.group(0)
        if text.startswith("'"):
            regex += re.escape("'" if text == "''" else text[1:-1].replace("''", "'"))
        elif m.group(1):
            ch = text[0]
            if ch == "M" and len(text) >= 3:
                regex += r"(?P<monthname>[A-Za-z]+)"
            elif ch == "y" and len(text) == 2:
                regex += r"(?P<year2>\d{2})"
            elif ch in _PARSE_FIELDS:
                regex += _PARSE_FIELDS[ch]
            else:
                raise ValueError(f"unsupported date pattern letter {ch!r}")
        else:
            regex += re.escape(text)
    return re.compile(regex + r"\Z")


def parse_formatted(text: str, pattern: str, tz: str | None = None) -> datetime:
    m = _parser(pattern).match(text)
    if not m:
        raise ValueError(f"{text!r} does not match the date pattern {pattern!r}")
    g = m.groupdict()
    year = int(g["year"]) if g.get("year") else (2000 + int(g["year2"]) if g.get("year2") else 1970)
    month = int(g["month"]) if g.get("month") else 1
    if g.get("monthname"):
        month = datetime.strptime(g["monthname"][:3].title(), "%b").month
    hour = int(g["hour"]) if g.get("hour") else 0
    if g.get("hour12"):
        hour = int(g["hour12"]) % 12 + (12 if (g.get("ampm") or "").upper() == "PM" else 0)
    micro = int((g.get("fraction") or "0")[:6].ljust(6, "0"))
    zone: tzinfo = _zone(tz)
    if g.get("offset"):
        off = g["offset"]
        if off == "Z":
            zone = UTC
        else:
            digits = off[1:].replace(":", "")
            minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0)
            zone = timezone(timedelta(minutes=minutes if off[0] == "+" else -minutes))
    elif g.get("zone"):
        zone = _zone(g["zone"])
    return datetime(year, month, int(g.get("day") or 1), hour, int(g.get("minute") or 0),
                    int(g.get("second") or 0), micro, tzinfo=zone)


def iso8601(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso8601(text: str) -> datetime:
    t = text.strip()
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    dt = datetime.fromisoformat(t)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _from_ms(ms: int | float, tz: str | None = None) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(_zone(tz))


class TimeUtil:
    """The `util.time` family, with AppSync's method names (the same in VTL and APPSYNC_JS)."""

    def nowISO8601(self) -> str:  # noqa: N802 - AppSync names
        return iso8601(datetime.now(UTC))

    def nowEpochSeconds(self) -> int:  # noqa: N802
        return int(time.time())

    def nowEpochMilliSeconds(self) -> int:  # noqa: N802
        return int(time.time() * 1000)

    def nowFormatted(self, pattern: str, tz: str | None = None) -> str:  # noqa: N802
        return format_datetime(datetime.now(_zone(tz)), pattern)

    def parseFormattedToEpochMilliSeconds(self, text: str, pattern: str, tz: str | None = None) -> int:  # noqa: N802
        return int(parse_formatted(text, pattern, tz).timestamp() * 1000)

    def parseISO8601ToEpochMilliSeconds(self, text: str) -> int:  # noqa: N802
        return round(parse_iso8601(text).timestamp() * 1000)

    def epochMilliSecondsToSeconds(self, ms: int) -> int:  # noqa: N802
        return int(ms) // 1000

    def epochMilliSecondsToISO8601(self, ms: int) -> str:  # noqa: N802
        return iso8601(_from_ms(ms))

    def epochMilliSecondsToFormatted(self, ms: int, pattern: str, tz: str | None = None) -> str:  # noqa: N802
        return format_datetime(_from_ms(ms, tz), pattern)
