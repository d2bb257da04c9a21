"""Saying numbers, digits, letters and dates: the prompt names to play.

English, as Asterisk's main/say.c says it (get_number_str_en,
ast_get_digit_str, ast_get_character_str, ast_get_phonetic_str,
ast_say_enumeration_full_en, ast_say_date_with_format_en), with the prompt
names of Asterisk's core sounds (digits/..., letters/..., phonetic/...).
Used by the dialplan applications (SayNumber, SayDigits, SayAlpha,
SayPhonetic, SayUnixTime) and by voicemail (message counts, the envelope
date). Every function returns the list of prompts; the caller plays them.
"""

from __future__ import annotations

import datetime as _dt
import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

INT_MAX = 2**31 - 1  # Asterisk says numbers that fit a C int

_DIGIT_SYMBOLS = {"*": "digits/star", "#": "digits/pound", "-": "digits/minus"}
_CHARACTER_SYMBOLS = {
    "*": "digits/star", "#": "digits/pound", "!": "letters/exclaimation-point",
    "@": "letters/at", "$": "letters/dollar", "-": "letters/dash", ".": "letters/dot",
    "=": "letters/equals", "+": "letters/plus", "/": "letters/slash", " ": "letters/space",
}


def digits(text: str) -> list[str]:
    """One prompt per digit, `*`, `#` and `-` (SayDigits); anything else is skipped."""
    out: list[str] = []
    for c in text:
        if "0" <= c <= "9":
            out.append(f"digits/{c}")
        elif c in _DIGIT_SYMBOLS:
            out.append(_DIGIT_SYMBOLS[c])
    return out


def characters(text: str) -> list[str]:
    """One prompt per character: letters, digits and the usual symbols (SayAlpha)."""
    out: list[str] = []
    for c in text:
        if "0" <= c <= "9":
            out.append(f"digits/{c}")
        elif c in _CHARACTER_SYMBOLS:
            out.append(_CHARACTER_SYMBOLS[c])
        elif c.isascii() and c.isalpha():
            out.append(f"letters/{c.lower()}")
        elif c.isascii() and c.isprintable():
            out.append(f"letters/ascii{ord(c)}")
    return out


def phonetic(text: str) -> list[str]:
    """The NATO alphabet (`phonetic/a_p` is "alpha") for letters (SayPhonetic).

    As Asterisk does, 0-8 are digits but 9 is `phonetic/9_p` ("niner")."""
    out: list[str] = []
    for c in text:
        if "0" <= c <= "8":
            out.append(f"digits/{c}")
        elif c in _CHARACTER_SYMBOLS:
            out.append(_CHARACTER_SYMBOLS[c])
        elif c.isascii() and c.isprintable():
            out.append(f"phonetic/{c.lower()}_p")
    return out


def number(num: int) -> list[str]:
    """A whole number: 1999 is one thousand nine hundred ninety nine (SayNumber)."""
    if num == 0:
        return ["digits/0"]
    out: list[str] = []
    if num < 0:
        out.append("digits/minus")
        num = -num
    if num > INT_MAX:
        raise ValueError(f"number {num} is too big to say")
    for size, word in ((10**9, "digits/billion"), (10**6, "digits/million"),
                       (1000, "digits/thousand")):
        if num >= size:
            out += number(num // size)
            out.append(word)
            num %= size
    if num >= 100:
        out += [f"digits/{num // 100}", "digits/hundred"]
        num %= 100
    if num >= 20:
        out.append(f"digits/{num - num % 10}")
        num %= 10
    if num:
        out.append(f"digits/{num}")
    return out


def enumeration(num: int) -> list[str]:
    """An ordinal: 21 is twenty first (`digits/20`, `digits/h-1`)."""
    out: list[str] = []
    if num < 0:
        out.append("digits/minus")
        num = -num
    big = False  # Asterisk: "one thousand" once something larger was said
    for size, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if num >= size:
            count, num = divmod(num, size)
            if count > 1 or big or size > 1000:
                out += number(count)
            out.append(f"digits/{word}" if num else f"digits/h-{word}")
            big = True
    if num >= 100:
        hundreds, num = divmod(num, 100)
        if hundreds > 1 or big:
            out += number(hundreds)
        out.append("digits/hundred" if num else "digits/h-hundred")
    if num >= 20:
        tens, num = divmod(num, 10)
        out.append(f"digits/{tens * 10}" if num else f"digits/h-{tens * 10}")
    if num:
        out.append(f"digits/h-{num}")
    return out


def _local(when: float, tz: str) -> _dt.datetime:
    """`when` in the time zone `tz` (local time when empty or unknown)."""
    if tz:
        try:
            return _dt.datetime.fromtimestamp(when, ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown time zone %r, using local time", tz)
    return _dt.datetime.fromtimestamp(when)


def _say_number_or_warn(num: int) -> list[str]:
    try:
        return number(num)
    except ValueError as e:
        log.warning("%s", e)
        return []


def date_with_format(when: float, fmt: str = "ABdY 'digits/at' IMp", *, now: float,
                     tz: str = "") -> list[str]:
    """Say the time `when` (epoch seconds) by an Asterisk date format.

    `'name'` plays a prompt; A/a weekday, B/b/h month, m month as an ordinal,
    d/e day as an ordinal, Y year, I/l hour (12 h), H/k hour (24 h, H with
    "oh" before 10), M/N minutes ("o'clock"/"hundred" on the hour), P/p a.m./
    p.m., S seconds, R = HM, T = HMS, and Q/q today, yesterday, a weekday in
    the last week, or the date (`now` decides which)."""
    t = _local(when, tz)
    wday = (t.weekday() + 1) % 7  # Asterisk counts weekdays from Sunday
    out: list[str] = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == "'":
            end = fmt.find("'", i + 1)
            end = len(fmt) if end < 0 else end
            if fmt[i + 1:end]:
                out.append(fmt[i + 1:end])
            i = end + 1
            continue
        if c in "Aa":
            out.append(f"digits/day-{wday}")
        elif c in "Bbh":
            out.append(f"digits/mon-{t.month - 1}")
        elif c == "m":
            out += enumeration(t.month)
        elif c in "de":
            out += enumeration(t.day)
        elif c == "Y":
            out += _year(t.year)
        elif c in "Il":
            out.append(f"digits/{t.hour % 12 or 12}")
        elif c in "Hk":
            out += _hour24(t.hour, oh=c == "H")
        elif c in "MN":
            out += _minutes(t.minute, "digits/oclock" if c == "M" else "digits/hundred")
        elif c in "Pp":
            out.append("digits/p-m" if t.hour > 11 else "digits/a-m")
        elif c == "S":
            out += _seconds(t.second)
        elif c in "Qq":
            out += _relative_day(when, now, tz)
        elif c == "R":
            out += date_with_format(when, "HM", now=now, tz=tz)
        elif c == "T":
            out += date_with_format(when, "HMS", now=now, tz=tz)
        elif c not in " \t":
            log.warning("Unknown character in datetime format %s: %s at pos %d", fmt, c, i)
        i += 1
    return out


def _year(year: int) -> list[str]:
    if year >= 2000:
        return _say_number_or_warn(year)
    if year <= 1900:
        return []  # Asterisk stays silent on years before 1901
    two = year - 1900
    return ["digits/19", *(["digits/oh"] if two <= 9 else []), *number(two)]


def _hour24(hour: int, *, oh: bool) -> list[str]:
    out = ["digits/oh"] if (oh and hour < 10) or (not oh and hour == 0) else []
    if hour:
        if hour > 20:
            out.append("digits/20")
            hour -= 20
        out.append(f"digits/{hour}")
    return out


def _minutes(minute: int, on_the_hour: str) -> list[str]:
    if minute == 0:
        return [on_the_hour]
    if minute < 10:
        return ["digits/oh", f"digits/{minute}"]
    return number(minute)


def _seconds(second: int) -> list[str]:
    if second == 0:
        return ["digits/0"]
    if second < 10:
        return ["digits/oh", f"digits/{second}"]
    return number(second)


def _relative_day(when: float, now: float, tz: str) -> list[str]:
    # ast_say_date_with_format_en 'Q': compared with the start of today.
    n = _local(now, tz)
    beg_today = now - (n.hour * 3600 + n.minute * 60 + n.second)
    day = 86400

    def fmt(f: str) -> list[str]:
        return date_with_format(when, f, now=now, tz=tz)

    if beg_today + 15768000 < when:
        return fmt("BdY")
    if beg_today + 2628000 < when:
        return fmt("Bd")
    if beg_today + day * 6 < when:
        return fmt("ABd")
    if beg_today + 2 * day < when:
        return fmt("A")
    if beg_today + day < when:
        return ["digits/tomorrow"]
    if beg_today < when:
        return ["digits/today"]
    if beg_today - day < when:
        return ["digits/yesterday"]
    if beg_today - day * 6 < when:
        return fmt("A")
    if beg_today - 2628000 < when:
        return fmt("ABd")
    if beg_today - 15768000 < when:
        return fmt("Bd")
    return fmt("BdY")
