"""`${...}` substitution, offsets, nesting, argument splitting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialplan.substitute import (
    DialplanError,
    Scope,
    check_condition,
    get_variable,
    set_variable,
    split_args,
    substitute,
    substring,
)
from pbx.channel import CallerId, Channel


def scope(**vars_: str) -> Scope:
    ch = Channel("SIP/alice-00000001", context="internal", exten="6001", priority=3,
                 callerid=CallerId(num="100", name="Alice"), uniqueid="1700000000.7")
    ch.variables.update(vars_)
    return Scope(channel=ch, globals={"TRUNK": "SIP/provider", "FOO": "global"})


@pytest.mark.parametrize(("text", "want"), [
    ("plain", "plain"),
    ("${EXTEN}", "6001"),
    ("${EXTEN:1}", "001"),
    ("${EXTEN:0:2}", "60"),
    ("${EXTEN:-2}", "01"),
    ("${EXTEN:-3:2}", "00"),
    ("${EXTEN:1:-1}", "00"),
    ("${EXTEN:10}", ""),
    ("${EXTEN:-10}", "6001"),
    ("${CONTEXT}/${PRIORITY}", "internal/3"),
    ("${CHANNEL}", "SIP/alice-00000001"),
    ("${UNIQUEID}", "1700000000.7"),
    ("${CALLERID(num)}", "100"),
    ("${CALLERID(name)}", "Alice"),
    ("${CALLERID(all)}", '"Alice" <100>'),
    ("${CALLERID(num):1}", "00"),
    ("${NOPE}", ""),
    ("${TRUNK}/${EXTEN}", "SIP/provider/6001"),
    ("${FOO}", "channel"),  # channel variables win over globals
    ("${GLOBAL(FOO)}", "global"),
    ("${FOO${BAR}}", "nested"),
    ("${LEN(${EXTEN})}", "4"),
    ("$[${EXTEN} + 1]", "6002"),
    ("$[${LEN(${EXTEN})} > 3 & ${EXTEN:0:1} = 6]", "1"),
    ("cost $5", "cost $5"),
    ("$", "$"),
    ('GotoIf($["${DIALSTATUS}" = "BUSY"]?busy)', "GotoIf(1?busy)"),
])
def test_substitute(text: str, want: str) -> None:
    s = scope(FOO="channel", BAR="X", FOOX="nested", DIALSTATUS="BUSY")
    assert substitute(text, s) == want


def test_unknown_function_is_an_error() -> None:
    with pytest.raises(DialplanError, match="NOSUCHFUNC"):
        substitute("${NOSUCHFUNC(1)}", scope())


def test_epoch_is_now() -> None:
    import time

    assert abs(int(substitute("${EPOCH}", scope())) - time.time()) < 5


def test_inheritance_prefixes_are_stored_and_read_by_bare_name() -> None:
    s = scope()
    set_variable(s, "__ACCOUNT", "42")
    assert s.variables["__ACCOUNT"] == "42"
    assert get_variable(s, "ACCOUNT") == "42"
    set_variable(s, "ACCOUNT", "43")  # replaces the inherited one
    assert "__ACCOUNT" not in s.variables and get_variable(s, "ACCOUNT") == "43"


def test_set_function_target() -> None:
    s = scope()
    set_variable(s, "CALLERID(num)", "555")
    set_variable(s, "GLOBAL(NEWG)", "g")
    assert s.channel is not None and s.channel.callerid.num == "555"
    assert s.globals["NEWG"] == "g"


@given(st.text(alphabet="0123456789", max_size=12), st.integers(-15, 15),
       st.one_of(st.none(), st.integers(-15, 15)))
def test_substring_matches_reference(value: str, offset: int, length: int | None) -> None:
    # Reference: Asterisk's rules restated with Python slices.
    start = max(0, len(value) + offset) if offset < 0 else offset
    if length is None:
        want = value[start:]
    elif length >= 0:
        want = value[start:start + length]
    else:
        want = value[start:max(0, len(value) + length)]
    assert substring(value, offset, length) == want


@given(st.text(alphabet="abc,()\"\\ $", max_size=30))
def test_no_dollar_is_identity(text: str) -> None:
    assert substitute(text.replace("$", ""), scope()) == text.replace("$", "")


@pytest.mark.parametrize(("data", "want"), [
    ("a,b,c", ["a", "b", "c"]),
    ("a,,c", ["a", "", "c"]),
    ('"a,b",c', ["a,b", "c"]),
    ("a\\,b,c", ["a,b", "c"]),
    ("f(x,y),z", ["f(x,y)", "z"]),
    ("[a,b],c", ["[a,b]", "c"]),
    ("", [""]),
])
def test_split_args(data: str, want: list[str]) -> None:
    assert split_args(data) == want


@pytest.mark.parametrize(("value", "want"), [
    ("", False), ("0", False), ("1", True), ("00", False), ("abc", True), (" 2 ", True),
    ("-1", True),
])
def test_check_condition(value: str, want: bool) -> None:
    assert check_condition(value) is want
