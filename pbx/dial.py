"""Dial(): ring every contact of every target at once; bridge the first to answer.

A :class:`Dial` owns its outbound legs and everything only outbound calling
needs: which legs still ring, the early-media bridge, why each one failed.
Each leg reports its INVITE's progress (``Progress``, ``Accepted``, ``Failed``)
into the Dial's queue; the Dial coroutine is the only task. Losers get a
CANCEL that says the call was completed elsewhere, so phones do not log a
missed call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pbx import q850
from pbx.channel import ChannelState, DialResult, DialTarget
from pbx.media.ports import PortsExhausted
from pbx.media.relay import Relay
from pbx.sip.address import Address
from pbx.sip.invite import Accepted, Failed, Progress

if TYPE_CHECKING:
    from pbx.config import Peer
    from pbx.sipchannel import SipChannel

log = logging.getLogger("pbx.dial")

# RFC 3326: the CANCEL to a fork that lost (a phone then logs no missed call).
COMPLETED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'


@dataclass(slots=True)
class Destination:
    peer: Peer
    uri: str  # Request-URI
    to_uri: str
    address: Address  # where the INVITE goes


class LegFactory(Protocol):
    """What a Dial needs from the PBX: where targets are, and new outbound legs."""

    def resolve(self, targets: list[DialTarget]) -> list[Destination]: ...

    async def originate(self, caller: SipChannel, dest: Destination,
                        events: Callable[[SipChannel, Any], None]) -> SipChannel: ...


class Dial:
    """One Dial() of one caller: ring, pick the winner, bridge."""

    def __init__(self, caller: SipChannel, factory: LegFactory, targets: list[DialTarget],
                 timeout: float | None, options: str) -> None:
        self.caller = caller
        self.factory = factory
        self.targets = targets
        self.timeout = timeout
        self.options = options
        self.legs: list[SipChannel] = []
        self.pending: set[SipChannel] = set()
        self.causes: list[int] = []
        self.early: Relay | None = None
        self._events: asyncio.Queue[tuple[SipChannel, Any]] = asyncio.Queue()

    def _on_leg_event(self, leg: SipChannel, ev: Any) -> None:
        self._events.put_nowait((leg, ev))

    async def run(self) -> DialResult:
        """Ring, bridge, and report how it went (DIALSTATUS and times)."""
        started = time.monotonic()
        a = self.caller
        destinations = self.factory.resolve(self.targets)
        if not destinations:
            return DialResult(status="CHANUNAVAIL")
        for dest in destinations:
            try:
                leg = await self.factory.originate(a, dest, self._on_leg_event)
            except PortsExhausted as exc:
                log.error("Dial: %s", exc)
                continue
            self.legs.append(leg)
        if not self.legs:
            return DialResult(status="CONGESTION")
        self.pending = set(self.legs)
        # The CDR names the dialed channel even when nobody answers (Asterisk does too).
        a.dst_channel = self.legs[0]
        if "r" in self.options:
            await a.ringing()
        try:
            winner, status = await self._wait_answer()
        finally:
            if self.early is not None:
                self.early.stop()
            for leg in self.legs:
                leg.dial_events = None
        for leg in self.legs:
            if leg is not winner and leg.state is not ChannelState.HUNGUP:
                leg.cancel(COMPLETED_ELSEWHERE if winner is not None else None)
        if winner is None:
            return DialResult(status=status, dialed_time=int(time.monotonic() - started))
        a.dst_channel = winner
        await answer_caller(a, winner)
        answered = time.monotonic()
        callee_hungup = await bridge(a, winner)
        end = time.monotonic()
        return DialResult(status="ANSWER", dialed_time=int(end - started),
                          answered_time=int(end - answered),
                          peer_number=winner.peer.name if winner.peer else "",
                          peer_channel=winner.name, callee_hungup=callee_hungup)

    async def _wait_answer(self) -> tuple[SipChannel | None, str]:
        """Read leg events until one answers, all fail, the timeout, or A hangs up."""
        a = self.caller
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout if self.timeout else None
        gone = asyncio.ensure_future(a.hungup.wait())
        try:
            while self.pending:
                wait_for = None if deadline is None else max(0.0, deadline - loop.time())
                get = asyncio.ensure_future(self._events.get())
                done, _ = await asyncio.wait({get, gone}, timeout=wait_for,
                                             return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    return None, "CANCEL" if gone in done else "NOANSWER"
                leg, ev = get.result()
                if leg not in self.pending:
                    continue
                kind = type(ev)
                if kind is Progress:
                    await self._progress(leg, ev)
                elif kind is Accepted:
                    return leg, "ANSWER"
                elif kind is Failed:
                    self.pending.discard(leg)
                    self.causes.append(q850.cause_from_sip(ev.status))
        finally:
            gone.cancel()
        return None, _dialstatus(self.causes)

    async def _progress(self, leg: SipChannel, ev: Progress) -> None:
        a = self.caller
        if leg.early and a.state is not ChannelState.UP and self.early is None:
            if leg.sdp.negotiated is not None:
                a.prefer_codec(leg.sdp.negotiated.format)
            await a.progress()
            if a.early:
                self.early = Relay(a.media, leg.media)
                self.early.start()
        elif ev.response.status != 183 and a.state is ChannelState.RING:
            await a.ringing()


def _dialstatus(causes: list[int]) -> str:
    """Asterisk reports BUSY if any callee was busy, else the last failure."""
    statuses = [q850.dialstatus_from_cause(c) for c in causes]
    for preferred in ("BUSY", "NOANSWER", "CONGESTION"):
        if preferred in statuses:
            return preferred
    return statuses[-1] if statuses else "CHANUNAVAIL"


async def answer_caller(a: SipChannel, callee: SipChannel) -> None:
    """Answer the caller for the callee that answered (also Queue's): with the
    callee's codec when the caller's answer is not out yet, so the bridge needs no
    transcoding."""
    if a.state is not ChannelState.UP:
        if callee.sdp.negotiated is not None:
            a.prefer_codec(callee.sdp.negotiated.format)
        await a.answer()


async def bridge(a: SipChannel, b: SipChannel) -> bool:
    """Relay media until either side hangs up; True when the callee hung up first."""
    relay = Relay(a.media, b.media)
    a.relay = b.relay = relay
    a.bridged_to, b.bridged_to = b, a
    relay.start()
    ga = asyncio.ensure_future(a.hungup.wait())
    gb = asyncio.ensure_future(b.hungup.wait())
    try:
        done, _ = await asyncio.wait({ga, gb}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ga.cancel()
        gb.cancel()
        relay.stop()
        a.relay = b.relay = None
        a.bridged_to = b.bridged_to = None
    if gb in done and a.state is not ChannelState.HUNGUP:
        return True
    await b.hangup(q850.NORMAL_CLEARING)
    return False
