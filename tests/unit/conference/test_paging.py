"""Page() on fake legs: auto-answer headers, the caller's own device skipped,
`s` skips busy phones, `q` no beep, unanswered phones cancelled at the timeout,
paged phones muted (one way) unless `d`, everyone hung up with the caller."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pbx.channel import ChannelState, DialTarget
from pbx.conference.paging import Pager, originator, parse_options
from pbx.media.clock import MediaClock
from pbx.sip.address import Address
from pbx.sip.invite import Accepted, Failed
from tests.unit.conference.test_participant import Caller, service, until


class Leg(Caller):
    def __init__(self, name: str, clock: MediaClock) -> None:
        super().__init__(name, clock)
        self.state = ChannelState.RINGING
        self.cancelled = False
        self.dial_events: Any = None

    def cancel(self, reason: str | None = None) -> None:
        self.cancelled = True
        self.state = ChannelState.HUNGUP
        self.hungup.set()


class Dest:
    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.uri = f"sip:{peer}@127.0.0.1:5070"
        self.address = Address("udp", "127.0.0.1", 5070)


class Legs:
    """resolve/originate/local_for as LegMaker; `answers`: peer -> 'answer'|'busy'|'ring'."""

    def __init__(self, clock: MediaClock, answers: dict[str, str]) -> None:
        self.clock = clock
        self.answers = answers
        self.resolved: list[str] = []
        self.headers: dict[str, list[tuple[str, str]]] = {}
        self.legs: dict[str, Leg] = {}

    def resolve(self, targets: list[DialTarget]) -> list[Dest]:
        self.resolved = [t.peer for t in targets]
        return [Dest(t.peer) for t in targets]

    def local_for(self, address: Address) -> Address:
        return Address("udp", "127.0.0.1", 5060)

    async def originate(self, caller: Any, dest: Dest, events: Any,
                        headers: list[tuple[str, str]]) -> Leg:
        leg = Leg(f"SIP/{dest.peer}-9", self.clock)
        self.legs[dest.peer] = leg
        self.headers[dest.peer] = list(headers)
        leg.dial_events = events
        what = self.answers[dest.peer]
        loop = asyncio.get_running_loop()
        if what == "answer":
            def answer() -> None:
                leg.state = ChannelState.UP
                events(leg, Accepted(None))  # type: ignore[arg-type]
            loop.call_later(0.05, answer)
        elif what == "busy":
            loop.call_later(0.05, events, leg, Failed(486, None))
        return leg


def test_options_and_originator() -> None:
    assert parse_options("dqA(hello)n") == ({"d", "q", "A", "n"}, {"A": "hello"})
    assert originator("SIP/6001-0000002a") == "SIP/6001"


async def test_page_rings_with_auto_answer_headers_one_way(tmp_path: Path) -> None:
    clock = MediaClock(asyncio.get_running_loop())
    svc = service(tmp_path)
    legs = Legs(clock, {"6002": "answer", "6003": "answer", "6004": "busy", "6005": "ring"})
    pager = Pager(svc, legs, in_use=lambda peer: peer == "6006")
    caller = Caller("SIP/6001-1", clock)
    targets = [DialTarget("SIP", p) for p in ("6001", "6002", "6003", "6004", "6005", "6006")]
    task = asyncio.ensure_future(pager.page(caller, targets, "s", 0.5))
    await until(lambda: len([r for r in svc.rooms.values() if len(r.room.members) == 3]) == 1)
    assert legs.resolved == ["6002", "6003", "6004", "6005"]  # not itself, not the busy 6006
    assert legs.headers["6002"] == [("Call-Info", "<sip:127.0.0.1:5060>;answer-after=0"),
                                    ("Alert-Info", "info=alert-autoanswer")]
    assert caller.played[0] == "beep"
    room = next(iter(svc.rooms.values())).room
    paged = [m for m in room.members if m.channel != caller.name]
    assert all(m.talk_muted and m.profile.end_marked for m in paged)
    leader = next(m for m in room.members if m.channel == caller.name)
    assert leader.profile.marked and not leader.talk_muted
    await until(lambda: legs.legs["6005"].cancelled)  # rang 0.5 s, nobody answered
    await caller.hang_up()
    await asyncio.wait_for(task, 3)
    for peer in ("6002", "6003"):
        assert legs.legs[peer].state is ChannelState.HUNGUP
    assert not svc.rooms
    clock.stop()


async def test_duplex_and_quiet(tmp_path: Path) -> None:
    clock = MediaClock(asyncio.get_running_loop())
    svc = service(tmp_path)
    legs = Legs(clock, {"6002": "answer"})
    pager = Pager(svc, legs, in_use=lambda peer: False)
    caller = Caller("SIP/6001-1", clock)
    task = asyncio.ensure_future(pager.page(caller, [DialTarget("SIP", "6002")], "dq", 5))
    await until(lambda: any(len(r.room.members) == 2 for r in svc.rooms.values()))
    room = next(iter(svc.rooms.values())).room
    assert not any(m.talk_muted for m in room.members)
    assert "beep" not in caller.played
    await caller.hang_up()
    await asyncio.wait_for(task, 3)
    clock.stop()
