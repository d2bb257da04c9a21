"""Dialplan functions."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest

from dialplan.functions import TimeSpec, known_functions, parse_callerid
from dialplan.parser import parse_dialplan_text
from dialplan.substitute import DialplanError, Scope, substitute
from pbx.channel import CallerId, Channel


def scope(**vars_: str) -> Scope:
    ch = Channel("SIP/alice-00000001", context="internal", exten="6001",
                 callerid=CallerId(num="100", name="Alice"))
    ch.variables.update(vars_)
    return Scope(channel=ch, globals={})


@pytest.mark.parametrize(("text", "want"), [
    ("${LEN(hello)}", "5"),
    ("${LEN()}", "0"),
    ("${ISNULL()}", "1"),
    ("${ISNULL(x)}", "0"),
    ("${EXISTS(x)}", "1"),
    ("${TOUPPER(abc)}", "ABC"),
    ("${TOLOWER(ABC)}", "abc"),
    ("${IF($[1 = 1]?yes:no)}", "yes"),
    ("${IF($[1 = 2]?yes:no)}", "no"),
    ("${IF(0?yes)}", ""),
    ("${CUT(PARTS,-,2)}", "b"),
    ("${CUT(PARTS,-,2-3)}", "b-c"),
    ("${CUT(PARTS,-,2-)}", "b-c-d"),
    ("${CUT(PARTS,-,-2)}", "a-b"),
    ("${CUT(PARTS,-,1&4)}", "a-d"),
    ("${CUT(CSV,\\,,2)}", "y"),
    ("${FIELDQTY(PARTS,-)}", "4"),
    ("${FIELDNUM(PARTS,-,c)}", "3"),
    ('${REGEX("^6[0-9]+" ${EXTEN})}', "1"),
    ('${REGEX("^7" ${EXTEN})}', "0"),
    ("${STRFTIME(0,UTC,%Y-%m-%d %H:%M)}", "1970-01-01 00:00"),
    ("${STRPTIME(1970-01-02 00:00,UTC,%Y-%m-%d %H:%M)}", "86400"),
    ("${FILTER(0-9,a1b2c3)}", "123"),
    ("${REPLACE(PARTS,-,_)}", "a_b_c_d"),
    ("${STRREPLACE(PARTS,-,+)}", "a+b+c+d"),
    ("${MATH(3*8)}", "24"),
    ("${MATH(10/4,int)}", "2"),
    ("${SET(NEW=v)}${NEW}", "vv"),
    ("${INC(N)}${N}", "66"),
    ("${CHANNEL(name)}", "SIP/alice-00000001"),
    ("${EVAL(${INDIRECT})}", "6001"),
])
def test_read(text: str, want: str) -> None:
    s = scope(PARTS="a-b-c-d", CSV="x,y,z", N="5", INDIRECT="${EXTEN}")
    assert substitute(text, s) == want


def test_rand_in_range() -> None:
    values = {int(substitute("${RAND(1,3)}", scope())) for _ in range(200)}
    assert values <= {1, 2, 3} and len(values) == 3


def test_timeout_read_write() -> None:
    s = scope()
    assert substitute("${TIMEOUT(digit)}", s) == "5.000"
    substitute("${SET(TIMEOUT(digit)=2)}${SET(TIMEOUT(response)=7.5)}", s)
    assert (s.digit_timeout, s.response_timeout) == (2.0, 7.5)
    assert substitute("${TIMEOUT(response)}", s) == "7.500"
    assert substitute("${TIMEOUT(absolute)}", s) == "0"
    substitute("${SET(TIMEOUT(absolute)=60)}", s)
    assert 59 < float(substitute("${TIMEOUT(absolute)}", s)) <= 60


def test_callerid_write() -> None:
    s = scope()
    substitute('${SET(CALLERID(all)="Bob Smith" <200>)}', s)
    assert s.channel is not None and s.channel.callerid == CallerId(num="200", name="Bob Smith")
    assert parse_callerid("300") == ("", "300")


def test_global_and_local() -> None:
    s = scope()
    substitute("${SET(GLOBAL(G)=1)}", s)
    assert s.globals == {"G": "1"}
    assert substitute("${GLOBAL(G)}", s) == "1"


def test_unknown_function_named_in_error() -> None:
    with pytest.raises(DialplanError, match="Unknown function: SHELL"):
        substitute("${SHELL(rm -rf /)}", scope())


def test_known_functions_for_checker() -> None:
    names = known_functions()
    assert {"LEN", "IF", "CUT", "STRFTIME", "RAND", "SET", "TIMEOUT", "ISNULL", "EXISTS",
            "CALLERID", "GLOBAL", "REGEX", "TOUPPER", "TOLOWER", "FIELDQTY",
            "DIALPLAN_EXISTS", "LOCAL"} <= names
    assert "SHELL" not in names


def test_dialplan_exists() -> None:
    dp, diags = parse_dialplan_text(
        "[internal]\nexten => 100,1,NoOp()\n same => n(lbl),Hangup()\n"
        "[other]\nexten => _2XX,1,NoOp()\n")
    assert not [d for d in diags if d.severity == "error"]
    s = scope()
    s.dialplan = dp
    assert substitute("${DIALPLAN_EXISTS(internal)}", s) == "1"
    assert substitute("${DIALPLAN_EXISTS(nope)}", s) == "0"
    assert substitute("${DIALPLAN_EXISTS(internal,100)}", s) == "1"
    assert substitute("${DIALPLAN_EXISTS(internal,100,2)}", s) == "1"
    assert substitute("${DIALPLAN_EXISTS(internal,100,3)}", s) == "0"
    assert substitute("${DIALPLAN_EXISTS(internal,100,lbl)}", s) == "1"
    assert substitute("${DIALPLAN_EXISTS(other,250)}", s) == "1"
    assert substitute("${DIALPLAN_EXISTS(other,350)}", s) == "0"


def _epoch(y: int, mo: int, d: int, h: int, mi: int) -> float:
    return float(calendar.timegm(dt.datetime(y, mo, d, h, mi).timetuple()))


@pytest.mark.parametrize(("spec", "when", "want"), [
    ("9:00-17:00,mon-fri,*,*,UTC", (2024, 3, 4, 10, 0), True),  # a Monday
    ("9:00-17:00,mon-fri,*,*,UTC", (2024, 3, 4, 17, 0), True),  # end minute included
    ("9:00-17:00,mon-fri,*,*,UTC", (2024, 3, 4, 17, 1), False),
    ("9:00-17:00,mon-fri,*,*,UTC", (2024, 3, 2, 10, 0), False),  # Saturday
    ("*,sat-sun,*,*,UTC", (2024, 3, 3, 10, 0), True),  # Sunday
    ("*,fri-mon,*,*,UTC", (2024, 3, 3, 10, 0), True),  # wrapping range
    ("22:00-06:00,*,*,*,UTC", (2024, 3, 3, 2, 0), True),
    ("*,*,25,dec,UTC", (2024, 12, 25, 10, 0), True),
    ("*,*,1-15,jan&feb,UTC", (2024, 3, 5, 10, 0), False),
    ("*|*|*|*", (2024, 3, 5, 10, 0), True),
])
def test_timespec(spec: str, when: tuple[int, int, int, int, int], want: bool) -> None:
    assert TimeSpec.parse(spec).matches(_epoch(*when)) is want
