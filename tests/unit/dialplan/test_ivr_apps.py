"""IVR applications on a fake channel: StackPop, WaitUntil, PlayTones/StopPlayTones,
Read with tones and terminators, and CHANNEL(tonezone)."""

from __future__ import annotations

from pathlib import Path

from dialplan.services import DialplanServices
from pbx.indications import load_indications
from tests.unit.dialplan.ivr_fakes import Clock, call

REPO = Path(__file__).resolve().parents[3]


def test_stackpop_forgets_the_return_and_restores_args() -> None:
    text = """[test]
exten => 1,1,Set(ARG1=outer)
 same => n,Gosub(sub,s,1(inner))
 same => n,Playback(never)
[sub]
exten => s,1,Set(LOCAL(x)=1)
 same => n,StackPop()
 same => n,Playback(arg-${ARG1}-x-${x})
 same => n,StackPop()
 same => n,Return()
"""
    result, ch = call(text, "1")
    # After StackPop the subroutine's ARG1 and LOCAL x are the caller's again; a
    # second StackPop on an empty stack is harmless; Return then has nowhere to go.
    assert ch.played() == ["arg-outer-x-"]
    assert result.reason == "error" and "Return without Gosub" in result.message


def test_waituntil_by_the_dialplan_clock() -> None:
    clock = Clock(wall=1000.0)
    text = """[test]
exten => 1,1,WaitUntil(1012.5)
 same => n,Set(A=${WAITUNTILSTATUS})
 same => n,WaitUntil(999)
 same => n,Set(B=${WAITUNTILSTATUS})
 same => n,WaitUntil(soon)
 same => n,Set(C=${WAITUNTILSTATUS})
 same => n,Hangup()
"""
    _, ch = call(text, "1", services=DialplanServices(clock=clock))
    assert ("sleep", 12.5) in ch.calls
    assert [ch.variables[k] for k in "ABC"] == ["OK", "PAST", "FAILURE"]
    assert sum(1 for kind, _ in ch.calls if kind == "sleep") == 1


def test_playtones_by_name_list_zone_and_stop() -> None:
    text = """[test]
exten => 1,1,PlayTones(busy)
 same => n,PlayTones(425/200,0/200)
 same => n,Set(CHANNEL(tonezone)=uk)
 same => n,PlayTones(BUSY)
 same => n,Set(Z=${CHANNEL(tonezone)})
 same => n,StopPlayTones()
 same => n,Hangup()
"""
    diags: list = []
    ind = load_indications(REPO / "etc" / "indications.conf", diags)
    _, ch = call(text, "1", services=DialplanServices(indications=ind))
    tones = [arg for kind, arg in ch.calls if kind in ("tones", "stop_tones")]
    assert tones == ["480+620/500,0/500", "425/200,0/200", "400/375,0/375", None]
    assert ch.variables["Z"] == "uk"
    # Without indications.conf the built-in [us] zone still knows the tones.
    _, ch = call("[test]\nexten => 1,1,PlayTones(dial)\n same => n,Hangup()\n", "1")
    assert ("tones", "350+440") in ch.calls


def test_playtones_with_a_bad_list_ends_the_call() -> None:
    result, ch = call("[test]\nexten => 1,1,PlayTones(nosuch)\n same => n,Playback(x)\n", "1")
    assert result.reason == "error" and "not a tone of zone 'us'" in result.message
    assert ch.played() == []
    # An unknown zone is refused with a warning (as Asterisk's "Unknown country
    # code"); the call goes on in the zone it had.
    _, ch = call("[test]\nexten => 1,1,Set(CHANNEL(tonezone)=zz)\n"
                 " same => n,PlayTones(dial)\n same => n,Hangup()\n", "1")
    assert ch.tonezone == "" and ("tones", "350+440") in ch.calls


def test_read_with_a_tone_until_the_first_digit() -> None:
    text = """[test]
exten => 1,1,Read(NUM,dial,4,i,,7)
 same => n,Playback(got-${NUM}-${READSTATUS})
 same => n,Read(NUM,dial,,i,2)
 same => n,Playback(got-${NUM}-${READSTATUS})
 same => n,Hangup()
"""
    _, ch = call(text, "1", script=["5", "1", "2", "3", "_", "_"])
    kinds = [(k, a) for k, a in ch.calls if k in ("tones", "stop_tones", "wait_digit", "play")]
    # The tone plays, the first digit stops it, the next ones are read without it.
    assert kinds[:6] == [("tones", "350+440"), ("wait_digit", 7.0), ("stop_tones", None),
                         ("wait_digit", 7.0), ("wait_digit", 7.0), ("wait_digit", 7.0)]
    assert ch.played()[0] == "got-5123-OK"
    # Two attempts: the tone again each time; nothing pressed: TIMEOUT.
    assert ch.played()[1] == "got--TIMEOUT"
    assert sum(1 for k, _ in ch.calls if k == "tones") == 3


def test_read_i_with_an_unknown_tone_plays_a_prompt() -> None:
    _, ch = call("[test]\nexten => 1,1,Read(X,enter-number,,i)\n same => n,Hangup()\n", "1",
                 script="42#")
    assert ch.played() == ["enter-number"] and ch.variables["X"] == "42"
    assert not [c for c in ch.calls if c[0] == "tones"]


def test_read_terminators_and_e() -> None:
    text = """[test]
exten => 1,1,Read(A,,,t(*))
 same => n,Read(B,,3,t)
 same => n,Read(C,,,e)
 same => n,Read(D)
 same => n,Playback(${A}|${B}|${C}-${READSTATUS}|${D}-${READSTATUS})
 same => n,Hangup()
"""
    _, ch = call(text, "1", script="12*3#4##")
    # A: * ends it; B: no terminator at all, 3 digits ("3#4"); C: a lone # is
    # the value with `e`; D: a lone # is an empty value, READSTATUS OK.
    assert ch.played() == ["12|3#4|#-OK|-OK"]
