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

from dialplan.options import parse_options
from pbx import q850
from pbx.call_limits import CallLimitReached
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
# Asterisk's max_forwards (max_forwards.c): each Local channel hop takes one.
MAX_FORWARDS = 20


@dataclass(slots=True)
class PickedUp:
    """A ringing leg of this Dial was picked up (pbx.pickup): ``picker`` (answered)
    takes its place; the Dial sets ``accepted`` True when it takes the picker."""

    picker: SipChannel
    accepted: asyncio.Future[bool]


@dataclass(slots=True)
class Destination:
    peer: Peer
    uri: str  # Request-URI
    to_uri: str
    address: Address  # where the INVITE goes (a host name is resolved by originate)
    route: str | None = None  # Route header: the outbound proxy it goes through


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
        self.opts = parse_options(options)
        # m[(class)]: the caller hears music on hold instead of ringback while it rings.
        self.music = "m" in self.opts

    def _on_leg_event(self, leg: SipChannel, ev: Any) -> None:
        self._events.put_nowait((leg, ev))

    async def run(self) -> DialResult:
        """Ring, bridge, and report how it went (DIALSTATUS and times)."""
        started = time.monotonic()
        a = self.caller
        if getattr(a, "max_forwards", MAX_FORWARDS) <= 0:
            # Asterisk's max_forwards: a Local channel dialing itself stops here.
            log.warning("Dial: cannot place outbound call from %s: max forwards exceeded",
                        a.name)
            return DialResult(status="BUSY")
        destinations = self.factory.resolve(self.targets)
        if not destinations:
            return DialResult(status="CHANUNAVAIL")
        for dest in destinations:
            try:
                leg = await self.factory.originate(a, dest, self._on_leg_event)
            except PortsExhausted as exc:
                log.error("Dial: %s", exc)
                continue
            except CallLimitReached as exc:
                log.info("Dial: %s", exc)
                self._failed(q850.USER_BUSY)  # chan_sip: busy over call-limit
                continue
            except OSError as exc:
                log.warning("Dial: cannot reach %s: %s", dest.peer.name, exc)
                self._failed(q850.NO_ROUTE_DESTINATION)
                continue
            self.legs.append(leg)
        if not self.legs:
            return DialResult(status=q850.dialstatus(self.causes) if self.causes
                              else "CONGESTION")
        self.pending = set(self.legs)
        # The CDR names the dialed channel even when nobody answers (Asterisk does too).
        a.dst_channel = self.legs[0]
        if self.music and a.state is not ChannelState.HUNGUP:
            # As app_dial: the music starts, then progress (183) lets the caller hear it.
            await a.progress()
            await a.start_moh(self.opts["m"] or None, force=bool(self.opts["m"]))
        elif "r" in self.opts and a.state is not ChannelState.HUNGUP:
            await a.ringing()
        try:
            winner, status = await self._wait_answer()
        finally:
            if self.early is not None:
                self.early.stop()
            if self.music:
                a.stop_moh()
            for leg in self.legs:
                leg.dial_events = None
            self._refuse_late_pickups()
        # A caller answered elsewhere (a Local channel's `;2` whose `;1` lost) passes
        # that on, so its phones log no missed call either.
        elsewhere = winner is not None or a.hangup_cause == q850.CAUSE_NAMES["ANSWERED_ELSEWHERE"]
        for leg in self.legs:
            if leg is not winner and leg.state is not ChannelState.HUNGUP:
                leg.cancel(COMPLETED_ELSEWHERE if elsewhere else None)
        if winner is None:
            return DialResult(status=status, dialed_time=int(time.monotonic() - started))
        a.dst_channel = winner
        await answer_caller(a, winner)
        answered = time.monotonic()
        callee_hungup = await bridge(a, winner)
        end = time.monotonic()
        return DialResult(status="ANSWER", dialed_time=int(end - started),
                          answered_time=int(end - answered),
                          peer_number=winner.peer.name if winner.peer else
                          getattr(winner, "dialed", ""),
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
                    # The leg's cause: the Reason header's Q.850 cause, else the status's.
                    self._failed(leg.hangup_cause or q850.cause_from_sip(ev.status))
                elif kind is PickedUp and not ev.accepted.done():
                    ev.accepted.set_result(True)  # the picker is committed from here on
                    return ev.picker, "ANSWER"
        finally:
            gone.cancel()
        return None, q850.dialstatus(self.causes)

    def _failed(self, cause: int) -> None:
        """One callee failed with ``cause``: counted for DIALSTATUS and, as app_dial
        does, made the caller's HANGUPCAUSE (a later Hangup() passes it on)."""
        self.causes.append(cause)
        self.caller.variables["HANGUPCAUSE"] = str(cause)

    def _refuse_late_pickups(self) -> None:
        """A pickup that arrived after the Dial decided does not happen."""
        while not self._events.empty():
            _, ev = self._events.get_nowait()
            if type(ev) is PickedUp and not ev.accepted.done():
                ev.accepted.set_result(False)

    async def _progress(self, leg: SipChannel, ev: Progress) -> None:
        a = self.caller
        if self.music:
            return  # the caller hears music: no ringback, no callee's early media
        if leg.early and a.state is not ChannelState.UP and self.early is None:
            if leg.sdp.negotiated is not None:
                a.prefer_codec(leg.sdp.negotiated.format)
            await a.progress()
            if a.early:
                a.stop_tones()  # the callee's early media replaces PlayTones' ring
                self.early = Relay(a.media, leg.media)
                self.early.start()
        elif ev.response.status != 183 and a.state is ChannelState.RING:
            await a.ringing()


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
    a.stop_tones()  # as Asterisk's bridge ends a channel's generator (PlayTones)
    b.stop_tones()
    relay = Relay(a.media, b.media, digits_to=(a.digit_sender(b), b.digit_sender(a)))
    a.relay = b.relay = relay
    a.bridged_to, b.bridged_to = b, a
    relay.start()
    for ch in (a, b):
        ch.bridge_changed(True)  # MixMonitor's `b`; music on hold of a hold
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
        for ch in (a, b):
            ch.bridge_changed(False)
    if gb in done and a.state is not ChannelState.HUNGUP:
        return True
    await b.hangup(q850.NORMAL_CLEARING)
    return False
