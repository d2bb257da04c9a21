"""pbx.say: the prompts Asterisk's say.c plays (English)."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest

from pbx import say


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    return float(calendar.timegm(dt.datetime(y, mo, d, h, mi, s).timetuple()))


@pytest.mark.parametrize(("n", "want"), [
    (0, ["digits/0"]),
    (7, ["digits/7"]),
    (19, ["digits/19"]),
    (20, ["digits/20"]),
    (42, ["digits/40", "digits/2"]),
    (100, ["digits/1", "digits/hundred"]),
    (305, ["digits/3", "digits/hundred", "digits/5"]),
    (1999, ["digits/1", "digits/thousand", "digits/9", "digits/hundred", "digits/90",
            "digits/9"]),
    (2_000_017, ["digits/2", "digits/million", "digits/17"]),
    (-5, ["digits/minus", "digits/5"]),
    (852_516_353, ["digits/8", "digits/hundred", "digits/50", "digits/2", "digits/million",
                   "digits/5", "digits/hundred", "digits/16", "digits/thousand", "digits/3",
                   "digits/hundred", "digits/50", "digits/3"]),
])
def test_number(n: int, want: list[str]) -> None:
    assert say.number(n) == want


def test_number_too_big() -> None:
    with pytest.raises(ValueError, match="too big"):
        say.number(2**31)


@pytest.mark.parametrize(("n", "want"), [
    (1, ["digits/h-1"]),
    (12, ["digits/h-12"]),
    (20, ["digits/h-20"]),
    (21, ["digits/20", "digits/h-1"]),
    (100, ["digits/h-hundred"]),
    (101, ["digits/hundred", "digits/h-1"]),
    (300, ["digits/3", "digits/h-hundred"]),
    (1000, ["digits/h-thousand"]),
    (2001, ["digits/2", "digits/thousand", "digits/h-1"]),
    (1_000_100, ["digits/1", "digits/million", "digits/1", "digits/h-hundred"]),
])
def test_enumeration(n: int, want: list[str]) -> None:
    assert say.enumeration(n) == want


def test_digits_characters_phonetic() -> None:
    assert say.digits("12*#-ab") == ["digits/1", "digits/2", "digits/star", "digits/pound",
                                     "digits/minus"]
    assert say.characters("Ab1.@ ") == ["letters/a", "letters/b", "digits/1", "letters/dot",
                                         "letters/at", "letters/space"]
    assert say.phonetic("a9z1") == ["phonetic/a_p", "phonetic/9_p", "phonetic/z_p",
                                    "digits/1"]


NOW = utc(2024, 5, 10, 15, 5)  # Friday, 10 May 2024, 15:05 UTC


@pytest.mark.parametrize(("when", "fmt", "want"), [
    (NOW, "ABdY 'digits/at' IMp", ["digits/day-5", "digits/mon-4", "digits/h-10",
                                   "digits/2", "digits/thousand", "digits/20", "digits/4",
                                   "digits/at", "digits/3", "digits/oh", "digits/5",
                                   "digits/p-m"]),
    (utc(2024, 5, 10, 0, 0, 7), "IMp HNS", ["digits/12", "digits/oclock", "digits/a-m",
                                            "digits/oh", "digits/hundred", "digits/oh",
                                            "digits/7"]),
    (utc(2024, 5, 10, 23, 45), "kM", ["digits/20", "digits/3", "digits/40", "digits/5"]),
    (utc(1999, 1, 2), "Y", ["digits/19", "digits/90", "digits/9"]),
    (utc(1905, 1, 2), "Y", ["digits/19", "digits/oh", "digits/5"]),
    (utc(2024, 3, 1), "m", ["digits/h-3"]),
    # Q: relative to now
    (NOW - 3600, "Q", ["digits/today"]),
    (NOW - 86400, "Q", ["digits/yesterday"]),
    (NOW + 86400, "Q", ["digits/tomorrow"]),
    (NOW - 3 * 86400, "Q", ["digits/day-2"]),  # Tuesday
    (NOW - 20 * 86400, "Q", ["digits/day-6", "digits/mon-3", "digits/h-20"]),
    (NOW - 90 * 86400, "Q", ["digits/mon-1", "digits/h-10"]),
    (NOW - 400 * 86400, "Q", ["digits/mon-3", "digits/h-6", "digits/2", "digits/thousand",
                              "digits/20", "digits/3"]),
    (NOW, "'vm-received' x", ["vm-received"]),  # unknown letters are skipped (a warning)
])
def test_date_with_format(when: float, fmt: str, want: list[str]) -> None:
    assert say.date_with_format(when, fmt, now=NOW, tz="UTC") == want


def test_date_in_a_time_zone() -> None:
    assert say.date_with_format(NOW, "IMp", now=NOW, tz="Asia/Tokyo") == [
        "digits/12", "digits/oh", "digits/5", "digits/a-m"]
