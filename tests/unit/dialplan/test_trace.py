"""`pbx dialplan trace` logic."""

from __future__ import annotations

from dialplan.parser import parse_dialplan_text
from dialplan.trace import trace_call

OFFICE = """[globals]
[internal]
exten => 123,1,Dial(SIP/ZhangSan,20)
 same => n,GotoIf($["${DIALSTATUS}" = "BUSY"]?busy)
 same => n,VoiceMail(123@default,u)
 same => n,Hangup()
 same => n(busy),VoiceMail(123@default,b)
 same => n,Hangup()
exten => 500,1,Background(menu)
 same => n,WaitExten(5)
exten => 1,1,Read(PIN,enter-pin,4)
 same => n,Playback(you-entered-${PIN})
exten => 700,1,Goto(700,1)
exten => 800,1,Set(X=${MYVAR})
"""


def dp():  # type: ignore[no-untyped-def]
    d, diags = parse_dialplan_text(OFFICE)
    assert not [x for x in diags if x.severity == "error"]
    return d


def test_trace_busy_branch() -> None:
    lines = trace_call(dp(), "123", context="internal", variables={}, results={"Dial": "BUSY"})
    assert lines[0] == "[internal,123,1] Dial(SIP/ZhangSan,20)"
    assert "   DIALSTATUS=BUSY" in lines
    assert "[internal,123,2] GotoIf(1?busy)" in lines
    assert "   GotoIf: condition true -> internal,123,busy" in lines
    assert "[internal,123,5] VoiceMail(123@default,b)" in lines
    assert "-- hung up (cause 16) at internal,123,6" in lines


def test_trace_default_noanswer() -> None:
    lines = trace_call(dp(), "123", context="internal", variables={}, results={})
    assert "   DIALSTATUS=NOANSWER" in lines
    assert "[internal,123,3] VoiceMail(123@default,u)" in lines


def test_trace_menu_digits_and_read() -> None:
    lines = trace_call(dp(), "500", context="internal", variables={},
                       results={"Background": "1", "Read": "4321"})
    text = "\n".join(lines)
    assert "[internal,1,1] Read(PIN,enter-pin,4)" in text
    assert "   PIN=4321" in lines
    assert "[internal,1,2] Playback(you-entered-4321)" in text
    assert "-- fell off the end of internal,1" in text


def test_trace_loop_guard_and_variables_and_missing() -> None:
    lines = trace_call(dp(), "700", context="internal", variables={}, results={}, max_steps=20)
    assert any("stopped after 20 steps" in ln for ln in lines)
    lines = trace_call(dp(), "800", context="internal", variables={"MYVAR": "v"}, results={})
    assert "[internal,800,1] Set(X=v)" in lines
    lines = trace_call(dp(), "999", context="internal", variables={}, results={})
    assert "no extension '999'" in lines[0]
