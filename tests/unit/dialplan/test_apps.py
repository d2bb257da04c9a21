"""Applications: registry, Read, Say*, Playback, GotoIfTime, Busy/Congestion, ..."""

from __future__ import annotations

import pytest

from dialplan.apps import known_apps
from pbx.say import digits as digit_prompts
from pbx.say import number as number_prompts
from tests.unit.dialplan.test_interpreter import run


def test_registry_knows_every_app() -> None:
    names = known_apps()
    for app in ("goto", "gotoif", "gotoiftime", "gosub", "return", "set", "noop", "verbose",
                "log", "wait", "answer", "hangup", "busy", "congestion", "ringing", "progress",
                "playback", "background", "waitexten", "read", "saydigits", "saynumber",
                "echo", "dial", "voicemail", "voicemailmain"):
        assert app in names


def test_app_names_are_case_insensitive() -> None:
    _, ch, _ = run("[test]\nexten => 1,1,PLAYBACK(x)\n same => n,hangup()\n", "1")
    assert ch.played() == ["x"]


def test_read_collects_until_hash() -> None:
    text = ("[test]\nexten => 1,1,Read(PIN,enter-pin,,,,3)\n"
            " same => n,Playback(${PIN}-${READSTATUS})\n same => n,Hangup()\n")
    _, ch, _ = run(text, "1", script="123#9")
    assert ch.played() == ["enter-pin", "123-OK"]
    assert ("wait_digit", 3.0) in ch.calls


def test_read_maxdigits_and_timeout() -> None:
    text = ("[test]\nexten => 1,1,Read(PIN,,2)\n same => n,Playback(${PIN}-${READSTATUS})\n"
            " same => n,Read(X)\n same => n,Playback(${X}-${READSTATUS})\n same => n,Hangup()\n")
    _, ch, _ = run(text, "1", script="4567")
    # maxdigits=2 stops after "45"; the second Read gets "67" then times out.
    assert ch.played() == ["45-OK", "67-OK"]
    _, ch, _ = run(text, "1", script="")
    assert ch.played() == ["-TIMEOUT", "-TIMEOUT"]


def test_read_attempts_replay_prompt() -> None:
    _, ch, _ = run("[test]\nexten => 1,1,Read(V,prompt,,,3)\n same => n,Hangup()\n", "1")
    assert ch.played() == ["prompt", "prompt", "prompt"]


def test_saydigits_and_saynumber_prompts() -> None:
    # Asterisk's ast_get_digit_str: digits, *, # and - only (letters are SayAlpha's)
    assert digit_prompts("12*#-a") == ["digits/1", "digits/2", "digits/star", "digits/pound",
                                       "digits/minus"]
    assert number_prompts(0) == ["digits/0"]
    assert number_prompts(15) == ["digits/15"]
    assert number_prompts(42) == ["digits/40", "digits/2"]
    assert number_prompts(305) == ["digits/3", "digits/hundred", "digits/5"]
    assert number_prompts(1999) == ["digits/1", "digits/thousand", "digits/9", "digits/hundred",
                                    "digits/90", "digits/9"]
    assert number_prompts(-2_000_000) == ["digits/minus", "digits/2", "digits/million"]
    _, ch, _ = run("[test]\nexten => 1,1,SayNumber(21)\n same => n,SayDigits(07)\n"
                   " same => n,Hangup()\n", "1")
    assert ch.played() == ["digits/20", "digits/1", "digits/0", "digits/7"]


def test_playback_answers_and_sets_status() -> None:
    _, ch, _ = run("[test]\nexten => 1,1,Playback(a&b)\n same => n,Hangup()\n", "1")
    assert ch.calls[0] == ("answer", None) and ch.played() == ["a", "b"]
    assert ch.variables["PLAYBACKSTATUS"] == "SUCCESS"
    _, ch, _ = run("[test]\nexten => 1,1,Playback(a,noanswer)\n same => n,Hangup()\n", "1")
    assert ("answer", None) not in ch.calls


@pytest.mark.parametrize(("app", "kind", "cause"), [("Busy", "busy", 17),
                                                   ("Congestion", "congestion", 34)])
def test_busy_and_congestion_end_the_call(app: str, kind: str, cause: int) -> None:
    r, ch, _ = run(f"[test]\nexten => 1,1,{app}()\n same => n,Set(NO=1)\n", "1")
    assert (kind, None) in ch.calls and r.reason == "hangup" and r.cause == cause
    assert "NO" not in ch.variables


def test_wait_answer_ringing_progress_echo_noop_verbose_log() -> None:
    text = """[test]
exten => 1,1,Ringing()
 same => n,Progress()
 same => n,Answer(500)
 same => n,Wait(1.5)
 same => n,NoOp(hello)
 same => n,Verbose(2,hello ${EXTEN})
 same => n,Log(NOTICE,logged)
 same => n,Echo()
 same => n,Hangup()
"""
    r, ch, _ = run(text, "1")
    assert ("sleep", 0.5) in ch.calls and ("sleep", 1.5) in ch.calls and ("echo", None) in ch.calls
    assert r.reason == "hangup"


def test_gotoiftime_always_and_never() -> None:
    text = """[test]
exten => 1,1,GotoIfTime(*,*,*,*?open:closed)
 same => n(open),Playback(open)
 same => n,Hangup()
 same => n(closed),Playback(closed)
 same => n,Hangup()
exten => 2,1,GotoIfTime(00:00-00:00,*,31,feb?open:closed)
 same => n(open),Playback(open)
 same => n,Hangup()
 same => n(closed),Playback(closed)
 same => n,Hangup()
"""
    assert run(text, "1")[1].played() == ["open"]
    assert run(text, "2")[1].played() == ["closed"]


def test_set_keeps_commas_and_inheritance_prefix() -> None:
    _, ch, _ = run("[test]\nexten => 1,1,Set(__X=a,b)\n same => n,Set(Y=${X})\n"
                   " same => n,Playback(${X})\n same => n,Hangup()\n", "1")
    assert ch.variables["__X"] == "a,b" and ch.variables["Y"] == "a,b"
    assert ch.played() == ["a"]  # as in Asterisk, the comma splits Playback's arguments


def test_hangup_cause_by_name() -> None:
    r, ch, _ = run("[test]\nexten => 1,1,Hangup(USER_BUSY)\n", "1")
    assert r.cause == 17 and ch.variables["HANGUPCAUSE"] == "17"


def test_sayalpha_sayphonetic_and_sayunixtime() -> None:
    _, ch, _ = run("[test]\nexten => 1,1,SayAlpha(Ab1)\n same => n,SayPhonetic(z9)\n"
                   " same => n,SayUnixTime(0,UTC,ABdY)\n same => n,SayUnixTime(,UTC,IMp)\n"
                   " same => n,Hangup()\n", "1")
    played = ch.played()
    assert played[:7] == ["letters/a", "letters/b", "digits/1", "phonetic/z_p", "phonetic/9_p",
                          "digits/day-4", "digits/mon-0"]  # Thursday, January ...
    assert played[7:10] == ["digits/h-1", "digits/19", "digits/70"]  # first, nineteen seventy
    assert played[-1] in ("digits/a-m", "digits/p-m")  # now, by the interpreter's clock


@pytest.mark.parametrize(("arg", "cause"), [("", 16), ("17", 17), ("USER_BUSY", 17),
                                            ("AST_CAUSE_CALL_REJECTED", 21), ("busy", 17),
                                            ("NOSUCHCAUSE", 16)])
def test_hangup_causes_by_number_or_name(arg: str, cause: int) -> None:
    r, ch, _ = run(f"[test]\nexten => 1,1,Hangup({arg})\n", "1")
    assert r.cause == cause and ch.hangup_cause == cause


def test_registries_belong_to_their_pbx() -> None:
    import asyncio

    from dialplan.apps import AppContext, AppRegistry
    from dialplan.interpreter import Interpreter
    from dialplan.services import DialplanServices
    from tests.unit.dialplan.test_interpreter import FakeChannel, dialplan

    async def custom(ctx: AppContext, args: list[str]) -> None:
        await ctx.channel.play([f"custom-{args[0]}"])

    one = DialplanServices()
    one.apps.add("Custom", custom)
    one.functions.add("TWICE", lambda scope, args: args * 2)
    two = DialplanServices()
    assert "custom" in one.apps and "custom" not in two.apps
    assert "custom" not in AppRegistry.builtin()
    dp = dialplan("[test]\nexten => 1,1,Custom(${TWICE(ab)})\n")
    ch = FakeChannel("SIP/a-1", context="test", exten="1")
    asyncio.run(Interpreter(dp, one).run(ch))
    assert ch.played() == ["custom-abab"]
    ch = FakeChannel("SIP/a-2", context="test", exten="1")
    result = asyncio.run(Interpreter(dp, two).run(ch))
    assert result.reason == "error" and ch.played() == []
