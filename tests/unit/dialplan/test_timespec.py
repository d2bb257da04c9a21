"""Time specifications as pbx_timing.c reads them."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest

from dialplan.timespec import TimeSpec


def utc(y: int, mo: int, d: int, h: int, mi: int) -> float:
    return float(calendar.timegm(dt.datetime(y, mo, d, h, mi).timetuple()))


@pytest.mark.parametrize(("spec", "when", "want"), [
    # weekday and month numbers count from 1, Sunday and January first
    ("*,1,*,*,UTC", (2024, 3, 3, 10, 0), True),  # Sunday
    ("*,2-6,*,*,UTC", (2024, 3, 3, 10, 0), False),
    ("*,*,*,3,UTC", (2024, 3, 3, 10, 0), True),
    # `,` and `|` mixed, names in any case
    ("09:00-17:00|MON-Fri,*|*,UTC", (2024, 3, 4, 9, 0), True),
    # a single minute
    ("12:30,*,*,*,UTC", (2024, 3, 4, 12, 30), True),
    ("12:30,*,*,*,UTC", (2024, 3, 4, 12, 31), False),
    # several ranges joined with &
    ("08:00-09:00&18:00-19:00,*,*,*,UTC", (2024, 3, 4, 18, 30), True),
    ("08:00-09:00&18:00-19:00,*,*,*,UTC", (2024, 3, 4, 12, 0), False),
    # month wrapping around the year
    ("*,*,*,nov-feb,UTC", (2024, 1, 15, 12, 0), True),
    ("*,*,*,nov-feb,UTC", (2024, 3, 15, 12, 0), False),
    # the time zone field
    ("09:00-17:00,*,*,*,Asia/Tokyo", (2024, 3, 4, 1, 0), True),  # 10:00 in Tokyo
    ("09:00-17:00,*,*,*,Asia/Tokyo", (2024, 3, 4, 10, 0), False),  # 19:00 in Tokyo
])
def test_matches(spec: str, when: tuple[int, int, int, int, int], want: bool) -> None:
    assert TimeSpec.parse(spec).matches(utc(*when)) is want


def test_bad_elements_are_skipped_and_reported() -> None:
    problems: list[str] = []
    spec = TimeSpec.parse("9-17,mon-funday&sat,32,*", problems)
    assert problems == ["'9' is not a valid time (HH:MM)", "invalid end day of week 'funday'",
                        "invalid day of month '32'"]
    # Like Asterisk: the bad elements select nothing, the good ones stay.
    assert spec.minutes == frozenset() and spec.weekdays == frozenset({6})
    with pytest.raises(ValueError, match="not a valid time"):
        TimeSpec.parse("25:00-26:00,*,*,*")
