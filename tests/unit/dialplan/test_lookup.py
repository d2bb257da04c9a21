"""Lookups as Asterisk's pbx_find_extension: priorities and labels searched through
includes (the stdexten pattern), timed includes on the interpreter's clock."""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt

from dialplan import patterns
from dialplan.interpreter import Interpreter, exists
from dialplan.services import DialplanServices
from pbx.channel import CallerId
from tests.unit.dialplan.test_interpreter import FakeChannel, dialplan


class FakeClock:
    """Wall and monotonic time that tests set."""

    def __init__(self, wall: float) -> None:
        self.wall = wall
        self.mono = 1000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


def utc(y: int, mo: int, d: int, h: int, mi: int) -> float:
    return float(calendar.timegm(dt.datetime(y, mo, d, h, mi).timetuple()))


# Asterisk's extensions.conf.sample, [demo] and [stdexten], reduced.
STDEXTEN = """\
[demo]
include => stdexten
exten => 1234,1,Playback(transfer,skip)
 same => n,Gosub(${EXTEN},stdexten(SIP/1234))
 same => n,Playback(back-in-demo)
 same => n,Hangup()
exten => 5555,1,Goto(demo,5555,stdexten)
[stdexten]
exten => _X.,50000(stdexten),NoOp(Start stdexten)
 same => n,Set(LOCAL(dev)=${ARG1})
 same => n,Playback(ringing-${dev}-${EXTEN})
 same => n,Return()
"""


def test_find_searches_every_matching_extension_then_includes() -> None:
    dp = dialplan(STDEXTEN)
    # Plain lookup: the context's own literal wins.
    ctx, ext = patterns.find(dp, "demo", "1234")  # type: ignore[misc]
    assert (ctx.name, ext.name) == ("demo", "1234")
    # Looking for the label (or its priority) goes on to the included _X.
    ctx, ext = patterns.find(dp, "demo", "1234", label="stdexten")  # type: ignore[misc]
    assert (ctx.name, ext.name, ext.labels["stdexten"]) == ("stdexten", "_X.", 50000)
    ctx, ext = patterns.find(dp, "demo", "1234", priority=50002)  # type: ignore[misc]
    assert (ctx.name, ext.name) == ("stdexten", "_X.")
    assert patterns.find(dp, "demo", "1234", priority=4) is not None
    assert patterns.find(dp, "demo", "1234", priority=99) is None
    assert patterns.find(dp, "demo", "1234", label="nolabel") is None


def test_several_matching_patterns_in_one_context() -> None:
    # Asterisk tries each matching extension in order for the priority.
    dp = dialplan("[c]\nexten => _1X,1,NoOp(first)\nexten => _1.,1,NoOp(second)\n"
                  " same => n(two),NoOp(second-2)\n")
    assert patterns.find(dp, "c", "12")[1].name == "_1X"  # type: ignore[index]
    assert patterns.find(dp, "c", "12", priority=2)[1].name == "_1."  # type: ignore[index]
    assert patterns.find(dp, "c", "12", label="two")[1].name == "_1."  # type: ignore[index]


def test_gosub_to_a_label_of_an_included_context_runs_and_returns() -> None:
    dp = dialplan(STDEXTEN)
    ch = FakeChannel("SIP/alice-1", context="demo", exten="1234", callerid=CallerId(num="100"))
    lines: list[str] = []
    result = asyncio.run(Interpreter(dp, tracer=lines.append).run(ch))
    # (Playback(transfer,skip) is skipped: the call is not answered yet)
    assert ch.played() == ["ringing-SIP/1234-1234", "back-in-demo"], lines
    assert result.reason == "hangup"
    assert "[demo,1234,50000] NoOp(Start stdexten)" in lines


def test_goto_label_in_an_included_context() -> None:
    dp = dialplan(STDEXTEN)
    ch = FakeChannel("SIP/alice-1", context="demo", exten="5555")
    asyncio.run(Interpreter(dp).run(ch))
    assert ch.played() == ["ringing--5555"]


TIMED = """\
[office]
include => daytime,09:00-17:00,mon-fri,*,*
include => nights|17:01-08:59|*|*|*
include => weekend,*,sat-sun,*,*
exten => 1,1,Playback(always)
[daytime]
exten => 100,1,Playback(reception)
[nights]
exten => 100,1,Playback(night-service)
[weekend]
exten => 100,1,Playback(weekend-service)
"""


def run_at(when: float, exten: str = "100") -> FakeChannel:
    dp = dialplan(TIMED)
    services = DialplanServices(clock=FakeClock(when))
    ch = FakeChannel("SIP/alice-1", context="office", exten=exten)
    asyncio.run(Interpreter(dp, services).run(ch))
    return ch


def test_timed_includes_follow_the_interpreters_clock(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    try:
        assert run_at(utc(2024, 3, 4, 10, 0)).played() == ["reception"]  # Monday 10:00
        assert run_at(utc(2024, 3, 4, 17, 0)).played() == ["reception"]  # end minute included
        assert run_at(utc(2024, 3, 4, 17, 1)).played() == ["night-service"]
        assert run_at(utc(2024, 3, 5, 3, 30)).played() == ["night-service"]  # wraps midnight
        # Saturday noon: daytime and nights are both off, weekend is on.
        assert run_at(utc(2024, 3, 2, 12, 0)).played() == ["weekend-service"]
        assert run_at(utc(2024, 3, 2, 12, 0), "1").played() == ["always"]
    finally:
        monkeypatch.undo()
        time.tzset()


def test_exists_honours_timed_includes() -> None:
    dp = dialplan("[c]\ninclude => d,09:00-10:00,*,*,*,UTC\n[d]\nexten => 7,1,NoOp()\n")
    assert exists(dp, "c", "7", now=utc(2024, 1, 1, 9, 30))
    assert not exists(dp, "c", "7", now=utc(2024, 1, 1, 11, 0))
    assert exists(dp, "c", "7")  # no time given: every include (pbx check, tools)


def test_an_inactive_include_makes_the_extension_invalid() -> None:
    dp = dialplan("[c]\ninclude => d,09:00-10:00,*,*,*,UTC\nexten => i,1,Playback(invalid)\n"
                  "[d]\nexten => 7,1,Playback(open)\n")
    ch = FakeChannel("SIP/a-1", context="c", exten="7")
    services = DialplanServices(clock=FakeClock(utc(2024, 1, 1, 11, 0)))
    asyncio.run(Interpreter(dp, services).run(ch))
    assert ch.played() == ["invalid"] and ch.variables["INVALID_EXTEN"] == "7"
