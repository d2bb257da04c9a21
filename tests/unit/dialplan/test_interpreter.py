"""The interpreter: control flow, fall-through, h/i/t/T, hangups, errors."""

from __future__ import annotations

import asyncio
import time

from dialplan.interpreter import Interpreter, RunResult, exists
from dialplan.model import Dialplan
from dialplan.parser import parse_dialplan_text
from dialplan.services import DialplanServices
from pbx.channel import CallerId, Channel, ChannelState, Hangup


class FakeChannel(Channel):
    """Records what the dialplan did; digits are scripted, time does not pass."""

    def __init__(self, *args: object, script: str = "", hang_up_on_play: bool = False,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.script = list(script)
        self.calls: list[tuple[str, object]] = []
        self.hang_up_on_play = hang_up_on_play

    async def answer(self) -> None:
        self.calls.append(("answer", None))
        await super().answer()

    async def busy(self) -> None:
        self.calls.append(("busy", None))
        await super().busy()

    async def congestion(self) -> None:
        self.calls.append(("congestion", None))
        await super().congestion()

    async def hangup(self, cause: int = 16) -> None:
        if self.state is not ChannelState.HUNGUP:
            self.calls.append(("hangup", cause))
        await super().hangup(cause)

    async def play(self, prompts: list[str], interrupt: str = "") -> str:
        self.check_hangup()
        self.calls.append(("play", list(prompts)))
        if self.hang_up_on_play:
            await super().hangup(16)
            raise Hangup(self.name)
        if interrupt and self.script and self.script[0] in interrupt:
            return self.script.pop(0)
        return ""

    async def wait_digit(self, timeout: float) -> str | None:
        self.check_hangup()
        self.calls.append(("wait_digit", timeout))
        return self.script.pop(0) if self.script else None

    async def sleep(self, seconds: float) -> None:
        self.check_hangup()
        self.calls.append(("sleep", seconds))

    async def echo(self) -> None:
        self.check_hangup()
        self.calls.append(("echo", None))

    def played(self) -> list[str]:
        return [p for kind, ps in self.calls if kind == "play" for p in ps]  # type: ignore[union-attr]


def dialplan(text: str) -> Dialplan:
    dp, diags = parse_dialplan_text(text)
    errors = [d for d in diags if d.severity == "error"]
    assert not errors, errors
    return dp


def run(text: str, exten: str, *, context: str = "test", script: str = "",
        callerid: str = "100", **kw: object) -> tuple[RunResult, FakeChannel, list[str]]:
    dp = dialplan(text)
    ch = FakeChannel("SIP/alice-00000001", context=context, exten=exten,
                     callerid=CallerId(num=callerid), script=script, **kw)
    lines: list[str] = []
    interp = Interpreter(dp, tracer=lines.append, max_steps=200)
    result = asyncio.run(interp.run(ch))
    return result, ch, lines


def test_simple_run_and_hangup_cause() -> None:
    r, ch, _ = run("[test]\nexten => 1,1,Answer()\n same => n,Playback(hello)\n"
                   " same => n,Hangup(17)\n", "1")
    assert r.reason == "hangup" and r.cause == 17 and r.priority == 3
    assert ch.calls[0] == ("answer", None) and ch.played() == ["hello"]
    assert ch.state is ChannelState.HUNGUP and ch.variables["HANGUPCAUSE"] == "17"
    assert ch.lastapp == "Hangup"


def test_goto_label_and_other_context() -> None:
    text = """[test]
exten => 1,1,Goto(skip)
 same => n,Playback(never)
 same => n(skip),Goto(other,2,1)
[other]
exten => 2,1,Playback(there)
 same => n,Hangup()
"""
    r, ch, _ = run(text, "1")
    assert ch.played() == ["there"] and (r.context, r.exten) == ("other", "2")


def test_goto_bad_label_is_an_error() -> None:
    r, ch, _lines = run("[test]\nexten => 1,1,Goto(nowhere)\n", "1")
    assert r.reason == "error" and "nowhere" in r.message
    assert ch.state is ChannelState.HUNGUP


def test_gotoif_both_branches() -> None:
    text = """[test]
exten => _X,1,GotoIf($[${EXTEN} > 5]?big:small)
 same => n(small),Playback(small)
 same => n,Hangup()
 same => n(big),Playback(big)
 same => n,Hangup()
"""
    assert run(text, "7")[1].played() == ["big"]
    _r, ch, lines = run(text, "3")
    assert ch.played() == ["small"]
    assert any("GotoIf: condition false -> test,3,small" in ln for ln in lines)


def test_gotoif_empty_branch_continues() -> None:
    _r, ch, _ = run("[test]\nexten => 1,1,GotoIf(0?x)\n same => n,Playback(next)\n"
                   " same => n,Hangup()\n", "1")
    assert ch.played() == ["next"]


def test_gosub_return_args_and_locals() -> None:
    text = """[test]
exten => 1,1,Set(ARG1=outer)
 same => n,Gosub(sub,s,1(a,b c))
 same => n,Playback(${GOSUB_RETVAL}-${ARG1})
 same => n,Hangup()
[sub]
exten => s,1,Set(LOCAL(TMP)=x)
 same => n,Playback(${ARG1}-${ARG2}-${ARGC})
 same => n,Return(ret)
"""
    _r, ch, _ = run(text, "1")
    assert ch.played() == ["a-b c-2", "ret-outer"]
    assert "TMP" not in ch.variables and "ARGC" not in ch.variables


def test_return_without_gosub_is_error() -> None:
    r, _, _ = run("[test]\nexten => 1,1,Return()\n", "1")
    assert r.reason == "error" and "stack is empty" in r.message


def test_autofallthrough_busy_congestion_normal() -> None:
    r, ch, _ = run("[test]\nexten => 1,1,Set(DIALSTATUS=BUSY)\n", "1")
    assert r.reason == "fell-through" and ("busy", None) in ch.calls and r.cause == 17
    r, ch, _ = run("[test]\nexten => 1,1,Set(DIALSTATUS=CHANUNAVAIL)\n", "1")
    assert ("congestion", None) in ch.calls
    r, ch, lines = run("[test]\nexten => 1,1,NoOp()\n", "1")
    assert r.reason == "fell-through" and ("hangup", 16) in ch.calls
    assert "-- fell off the end of test,1" in lines


def test_autofallthrough_no_waits_for_digits() -> None:
    text = ("[general]\nautofallthrough=no\n[test]\nexten => 1,1,NoOp()\n"
            "exten => 2,1,Playback(two)\n same => n,Hangup()\n")
    _r, ch, _ = run(text, "1", script="2")
    assert ch.played() == ["two"]


def test_h_extension_runs_after_hangup() -> None:
    text = """[test]
exten => 1,1,Hangup()
exten => h,1,Set(AFTER=${HANGUPCAUSE})
 same => n,Playback(cannot)
 same => n,Set(NEVER=1)
"""
    _r, ch, _lines = run(text, "1")
    assert ch.variables["AFTER"] == "16"
    assert "NEVER" not in ch.variables  # media in h raised Hangup, which ends h
    assert ch.played() == []


def test_caller_hangup_during_app_runs_h() -> None:
    text = "[test]\nexten => 1,1,Playback(x)\n same => n,Set(NO=1)\nexten => h,1,Set(H=1)\n"
    r, ch, _ = run(text, "1", hang_up_on_play=True)
    assert r.reason == "caller-hangup" and ch.variables.get("H") == "1"
    assert "NO" not in ch.variables


def test_invalid_goto_goes_to_i() -> None:
    text = ("[test]\nexten => 1,1,Goto(999,1)\nexten => i,1,Playback(invalid)\n"
            " same => n,Hangup()\n")
    _r, ch, _ = run(text, "1")
    assert ch.played() == ["invalid"] and ch.variables["INVALID_EXTEN"] == "999"


def test_invalid_without_i_ends() -> None:
    r, ch, _ = run("[test]\nexten => 1,1,Goto(999,1)\n", "1")
    assert r.reason == "invalid" and ch.state is ChannelState.HUNGUP


def test_background_selects_extension_by_digits() -> None:
    text = """[test]
exten => s,1,Background(menu)
 same => n,WaitExten(5)
exten => 1,1,Playback(one)
 same => n,Hangup()
exten => 12,1,Playback(twelve)
 same => n,Hangup()
exten => 21,1,Playback(twentyone)
 same => n,Hangup()
"""
    _, ch, _ = run(text, "s", script="12")
    assert ch.played() == ["menu", "twelve"]
    _, ch, _ = run(text, "s", script="21")
    assert ch.played() == ["menu", "twentyone"]
    # "1" could become "12": wait the digit timeout, then take "1".
    _, ch, _ = run(text, "s", script="1")
    assert ch.played() == ["menu", "one"]
    assert ("wait_digit", 5.0) in ch.calls


def test_waitexten_invalid_goes_to_i_and_timeout_to_t() -> None:
    text = """[test]
exten => s,1,WaitExten(3)
exten => 1,1,Playback(one)
exten => i,1,Playback(invalid)
exten => t,1,Playback(timeout)
"""
    _, ch, _ = run(text, "s", script="9")
    assert ch.played() == ["invalid"] and ch.variables["INVALID_EXTEN"] == "9"
    _, ch, _ = run(text, "s", script="")
    assert ch.played() == ["timeout"] and ("wait_digit", 3.0) in ch.calls


def test_waitexten_uses_response_timeout() -> None:
    text = ("[test]\nexten => s,1,Set(TIMEOUT(response)=4)\n same => n,WaitExten()\n"
            "exten => t,1,Hangup()\n")
    _, ch, _ = run(text, "s")
    assert ("wait_digit", 4.0) in ch.calls


def test_absolute_timeout_goes_to_T() -> None:
    text = """[test]
exten => 1,1,Set(TIMEOUT(absolute)=0.05)
 same => n(loop),Wait(1)
 same => n,Goto(loop)
exten => T,1,Playback(toolong)
 same => n,Hangup()
"""
    dp = dialplan(text)
    ch = FakeChannel("SIP/x-1", context="test", exten="1")
    real_sleep = ch.sleep

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0.01)  # let real time pass so the deadline is reached
        await real_sleep(seconds)

    ch.sleep = sleep  # type: ignore[method-assign]
    t0 = time.monotonic()
    r = asyncio.run(Interpreter(dp).run(ch))
    assert ch.played() == ["toolong"] and r.reason == "hangup"
    assert time.monotonic() - t0 < 5


def test_unknown_application_hangs_up_with_position() -> None:
    r, ch, _lines = run("[test]\nexten => 1,1,Frobnicate(1)\n", "1")
    assert r.reason == "error" and "Unknown application 'Frobnicate'" in r.message
    assert "<string>" in r.message or ":2:" in r.message
    assert ch.state is ChannelState.HUNGUP


def test_unknown_function_hangs_up() -> None:
    r, _, _ = run("[test]\nexten => 1,1,NoOp(${NOSUCH(1)})\n", "1")
    assert r.reason == "error" and "Unknown function: NOSUCH" in r.message


def test_includes_and_callerid_matching() -> None:
    text = """[test]
include => more
exten => 5/100,1,Playback(from100)
 same => n,Hangup()
exten => 5,1,Playback(anyone)
 same => n,Hangup()
[more]
exten => _6X,1,Playback(included-${EXTEN})
 same => n,Hangup()
"""
    assert run(text, "5", callerid="100")[1].played() == ["from100"]
    assert run(text, "5", callerid="200")[1].played() == ["anyone"]
    assert run(text, "61")[1].played() == ["included-61"]
    assert exists(dialplan(text), "test", "61") and not exists(dialplan(text), "test", "7")


def test_loop_guard() -> None:
    r, _, lines = run("[test]\nexten => 1,1,Goto(1)\n", "1")
    assert r.reason == "max-steps" and any("stopped after 200 steps" in ln for ln in lines)


def test_snapshot_and_globals() -> None:
    dp = dialplan("[globals]\nG=1\n[test]\nexten => 1,1,Set(GLOBAL(G)=2)\n"
                  " same => n,Playback(${G})\n same => n,Hangup()\n")
    services = DialplanServices()
    ch = FakeChannel("SIP/x-1", context="test", exten="1")
    asyncio.run(Interpreter(dp, services).run(ch))
    assert services.globals["G"] == "2" and ch.played() == ["2"] and ch.dialplan is dp
    # A second call of the same PBX sees GLOBAL() of the first ([globals] is
    # taken once per dialplan snapshot, as Asterisk keeps globals until a reload).
    ch = FakeChannel("SIP/x-2", context="test", exten="1")
    asyncio.run(Interpreter(dp, services).run(ch))
    assert ch.played() == ["2"]


def test_two_pbxs_do_not_share_globals() -> None:
    dp = dialplan("[globals]\nG=1\n[test]\nexten => 1,1,Playback(${G})\n"
                  " same => n,Set(GLOBAL(G)=${CHANNEL(name)})\n")
    one, two = DialplanServices(), DialplanServices()
    asyncio.run(Interpreter(dp, one).run(FakeChannel("SIP/one-1", context="test", exten="1")))
    ch = FakeChannel("SIP/two-1", context="test", exten="1")
    asyncio.run(Interpreter(dp, two).run(ch))
    assert ch.played() == ["1"]  # not what the other PBX's call set
    assert one.globals["G"] == "SIP/one-1" and two.globals["G"] == "SIP/two-1"


def test_reload_takes_globals_and_clearglobalvars() -> None:
    services = DialplanServices()
    old = dialplan("[globals]\nA=1\nB=1\n[test]\nexten => 1,1,Set(GLOBAL(C)=x)\n")
    asyncio.run(Interpreter(old, services).run(FakeChannel("SIP/x-1", context="test",
                                                           exten="1")))
    new = dialplan("[globals]\nA=2\n[test]\nexten => 1,1,NoOp()\n")
    asyncio.run(Interpreter(new, services).run(FakeChannel("SIP/x-2", context="test",
                                                           exten="1")))
    assert services.globals == {"A": "2", "B": "1", "C": "x"}
    cleared = dialplan("[general]\nclearglobalvars=yes\n[globals]\nA=3\n"
                       "[test]\nexten => 1,1,NoOp()\n")
    asyncio.run(Interpreter(cleared, services).run(FakeChannel("SIP/x-3", context="test",
                                                               exten="1")))
    assert services.globals == {"A": "3"}


def test_executing_lines_as_asterisk_prints_them(caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    with caplog.at_level(logging.INFO, logger="dialplan.exec"):
        run("[test]\nexten => 1,1,Set(X=${EXTEN}5)\n same => n,Playback(a&b,noanswer)\n", "1")
    lines = [r.getMessage() for r in caplog.records if r.name == "dialplan.exec"]
    assert lines == [
        'Executing [1@test:1] Set("SIP/alice-00000001", "X=15") in new stack',
        'Executing [1@test:2] Playback("SIP/alice-00000001", "a&b,noanswer") in new stack',
    ]
