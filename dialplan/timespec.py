"""Asterisk's time specifications: `times,weekdays,mdays,months[,timezone]`.

Used by timed includes (`include => ctx,09:00-17:00,mon-fri,*,*`),
GotoIfTime() and IFTIME(). The rules are pbx_timing.c's:

- fields are separated by `,` or `|` (mixed is fine); missing trailing
  fields mean "any"; a fifth field names the time zone;
- each field is `*`, a value or a `start-end` range, several joined by `&`;
  ranges wrap around (`fri-mon`, `22:00-06:00`, `nov-feb`) and the end is
  included (`9:00-17:00` matches 17:00);
- weekdays and months are names (`mon`, `jan`, case-insensitive) or numbers
  counted from 1 (weekday 1 is Sunday, month 1 is January).

A bad element is skipped, as Asterisk does; `parse` reports each one
(`problems`) so `pbx check` can name it, or raises ValueError when asked to be
strict. Matching takes the time as an argument: the caller owns the clock.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_TIME_RE = re.compile(r"\s*(\d{1,2}):(\d{1,2})\s*\Z")
_MINUTES_PER_DAY = 24 * 60


@lru_cache(maxsize=64)
def zone(name: str) -> _dt.tzinfo | None:
    """The tz database zone `name`; None (local time) when empty or unknown."""
    name = name.strip()
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r, using local time", name)
        return None


def _lookup(text: str, names: tuple[str, ...] | None, count: int) -> int | None:
    """Offset (0-based) of a weekday/month name or 1-based number; None if invalid."""
    s = text.strip().lower()
    if names is not None and s[:1].isalpha():
        return names.index(s) if s in names else None
    if s.isdigit() and 1 <= int(s) <= count:
        return int(s) - 1
    return None


def _range_field(text: str, count: int, names: tuple[str, ...] | None, what: str,
                 problems: list[str]) -> frozenset[int] | None:
    """0-based offsets selected by a weekday/day/month field; None means all."""
    text = text.strip()
    if text in ("", "*"):
        return None
    out: set[int] = set()
    for part in text.split("&"):
        start_s, dash, end_s = part.partition("-")
        start = _lookup(start_s, names, count)
        if start is None:
            problems.append(f"invalid {what} '{start_s.strip()}'")
            continue
        end = start
        if dash:
            got = _lookup(end_s, names, count)
            if got is None:
                problems.append(f"invalid end {what} '{end_s.strip()}'")
                continue
            end = got
        while True:  # cyclic, end included
            out.add(start)
            if start == end:
                break
            start = (start + 1) % count
    return frozenset(out)


def _minute(text: str) -> int | None:
    m = _TIME_RE.match(text)
    if m is None:
        return None
    h, mi = int(m.group(1)), int(m.group(2))
    return h * 60 + mi if h <= 23 and mi <= 59 else None


def _time_field(text: str, problems: list[str]) -> frozenset[int] | None:
    text = text.strip()
    if text in ("", "*"):
        return None
    out: set[int] = set()
    for part in text.split("&"):
        start_s, dash, end_s = part.partition("-")
        start = _minute(start_s)
        if start is None:
            problems.append(f"'{start_s.strip()}' is not a valid time (HH:MM)")
            continue
        end = start
        if dash:
            got = _minute(end_s)
            if got is None:
                problems.append(f"'{end_s.strip()}' is not a valid end time (HH:MM)")
                continue
            end = got
        while True:
            out.add(start)
            if start == end:
                break
            start = (start + 1) % _MINUTES_PER_DAY
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """A parsed time specification; None in a field means "any"."""

    minutes: frozenset[int] | None  # minute of the day, 0..1439
    weekdays: frozenset[int] | None  # 0 = Sunday
    mdays: frozenset[int] | None  # 0 = the 1st
    months: frozenset[int] | None  # 0 = January
    tz: str = ""
    text: str = ""

    @classmethod
    def parse(cls, text: str, problems: list[str] | None = None) -> TimeSpec:
        """Parse a spec. With `problems` given, bad elements are skipped and
        described there (Asterisk's behaviour); without, the first one raises
        ValueError."""
        found: list[str] = []
        fields = re.split(r"[,|]", text)
        tz = fields[4].strip() if len(fields) >= 5 else ""
        fields += ["*"] * (4 - len(fields))
        spec = cls(
            _time_field(fields[0], found),
            _range_field(fields[1], 7, _DAYS, "day of week", found),
            _range_field(fields[2], 31, None, "day of month", found),
            _range_field(fields[3], 12, _MONTHS, "month", found),
            tz, text.strip())
        if len(fields) > 5:
            found.append(f"too many fields in time specification {text.strip()!r}")
        if problems is not None:
            problems.extend(found)
        elif found:
            raise ValueError(found[0])
        return spec

    def matches(self, epoch: float) -> bool:
        """Whether the time `epoch` (seconds) falls in the spec, in its time zone."""
        tz = zone(self.tz)
        t = (_dt.datetime.fromtimestamp(epoch, tz) if tz is not None
             else _dt.datetime.fromtimestamp(epoch))
        if self.months is not None and t.month - 1 not in self.months:
            return False
        if self.mdays is not None and t.day - 1 not in self.mdays:
            return False
        # Python's weekday() is 0 for Monday; Asterisk counts from Sunday.
        if self.weekdays is not None and (t.weekday() + 1) % 7 not in self.weekdays:
            return False
        return self.minutes is None or t.hour * 60 + t.minute in self.minutes

    def __str__(self) -> str:
        return self.text
