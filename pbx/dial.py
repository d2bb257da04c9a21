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
from pbx.bridge import GOTO, PEER_HANGUP, TRANSFERRED, Bridge, Exit
from pbx.channel import ChannelState, DialResult, DialTarget
from pbx.features import FeaturesConfig, dial_features
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


class Consult(Protocol):
    """An attended transfer watching its consultation call (pbx.feature_calls)."""

    codes: dict[str, str]  # the transferer's keys while it talks to the target

    def connected(self, bridge: Bridge, target: SipChannel) -> None: ...

    def on_key(self, bridge: Bridge, leg: SipChannel, key: str) -> None: ...


class LegFactory(Protocol):
    """What a Dial needs from the PBX: where targets are, and new outbound legs."""

    def resolve(self, targets: list[DialTarget]) -> list[Destination]: ...

    async def originate(self, caller: SipChannel, dest: Destination,
                        events: Callable[[SipChannel, Any], None]) -> SipChannel: ...


class Dial:
    """One Dial() of one caller: ring, pick the winner, bridge.

    While it rings, a transfer may change who waits for the answer (an attended
    transfer to this ringing call: :meth:`hand_over`), and a phone may take the
    call of a ringing leg (INVITE with Replaces: :meth:`pick_up`)."""

    def __init__(self, caller: SipChannel, factory: LegFactory, targets: list[DialTarget],
                 timeout: float | None, options: str, consult: Consult | None = None) -> None:
        self.caller = caller
        self.consult = consult  # an attended transfer's consultation call (pbx.consult)
        self.factory = factory
        self.targets = targets
        self.timeout = timeout
        self.options = options
        self.legs: list[SipChannel] = []
        self.pending: set[SipChannel] = set()
        self.causes: list[int] = []
        self.early: Relay | None = None
        self._events: asyncio.Queue[tuple[SipChannel, Any]] = asyncio.Queue()
        self._deadline: float | None = None
        # Set while ringing: ("handover", new caller, its future) or ("abort",).
        self._handover: asyncio.Future[tuple[Any, ...]] | None = None
        self._ringback = False

    def _on_leg_event(self, leg: SipChannel, ev: Any) -> None:
        self._events.put_nowait((leg, ev))

    # --- changes while ringing ----------------------------------------------------
    def hand_over(self, new_caller: SipChannel, carried: Any) -> bool:
        """An attended transfer to this ringing call: ``new_caller`` (the transferee)
        waits for the answer instead of the caller, whose Dial returns at once
        (transferred). ``carried`` is the future the transferee's dialplan waits on."""
        fut = self._handover
        if fut is None or fut.done():
            return False
        fut.set_result(("handover", new_caller, carried))
        return True

    def abort(self) -> bool:
        """Stop ringing now (an attended transfer aborted before the answer)."""
        fut = self._handover
        if fut is None or fut.done():
            return False
        fut.set_result(("abort",))
        return True

    def pick_up(self, ringing: SipChannel, taker: SipChannel) -> bool:
        """``taker`` (an answered inbound leg, INVITE with Replaces) takes the call
        ``ringing`` was alerting: it wins, and every leg that rang is cancelled."""
        if ringing not in self.pending:
            return False
        self._events.put_nowait((ringing, _PickedUp(taker)))
        return True

    # --- the call -------------------------------------------------------------------
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
        for leg in self.legs:
            leg.linkedid = a.linkedid
            leg.in_dial = self
        self.pending = set(self.legs)
        # The CDR names the dialed channel even when nobody answers (Asterisk does too).
        a.dst_channel = self.legs[0]
        if "r" in self.options:
            await a.ringing()
        if self.timeout:
            self._deadline = asyncio.get_running_loop().time() + self.timeout
        self._handover = asyncio.get_running_loop().create_future()
        a.dialing = self
        try:
            winner, status = await self._wait_answer()
        finally:
            a.dialing = None
        if status == _HANDED_OVER and self._handover.result()[0] == "abort":
            winner, status = None, "CANCEL"
        elif status == _HANDED_OVER:
            if self.early is not None:  # the early media went to the old caller
                self.early.stop()
                self.early = None
            if self._ringback:
                self._ringback = False
                a.ringback(False)
            _, new_caller, carried = self._handover.result()
            log.info("%s: ringing call handed over to %s", a.name, new_caller.name)
            spawn = a.services.spawn
            spawn(self._continue_for(new_caller, carried))
            return DialResult(status="CANCEL", dialed_time=int(time.monotonic() - started),
                              transferred=True)
        self._handover.cancel()
        winner = await self._settle(winner)
        if winner is None:
            return DialResult(status=status, dialed_time=int(time.monotonic() - started))
        a.dst_channel = winner
        if a.state is not ChannelState.UP:
            if winner.sdp.negotiated is not None:  # the callee's codec, if the caller has it
                a.prefer_codec(winner.sdp.negotiated.format)
            await a.answer()
        a.observe(200)  # a transferee dialing its target: the target answered
        answered = time.monotonic()
        exit_ = await self.bridge(winner)
        end = time.monotonic()
        return DialResult(status="ANSWER", dialed_time=int(end - started),
                          answered_time=int(end - answered),
                          peer_number=winner.peer.name if winner.peer else "",
                          peer_channel=winner.name, callee_hungup=exit_.kind == PEER_HANGUP,
                          transferred=exit_.kind == TRANSFERRED,
                          goto=(exit_.context, exit_.exten, exit_.priority)
                          if exit_.kind == GOTO else None)

    async def _settle(self, winner: SipChannel | None) -> SipChannel | None:
        """Ringing is over: stop early media and ringback, cancel the losers."""
        a = self.caller
        if self.early is not None:
            self.early.stop()
            self.early = None
        if self._ringback:
            self._ringback = False
            a.ringback(False)
        for leg in self.legs:
            leg.dial_events = None
            leg.in_dial = None
        for leg in self.legs:
            if leg is not winner and leg.state is not ChannelState.HUNGUP:
                leg.cancel(COMPLETED_ELSEWHERE if winner is not None else None)
        return winner

    async def _continue_for(self, caller: SipChannel, carried: Any) -> None:
        """After a hand-over: ring on for the transferee, then bridge it with the
        answer (or tell it the call failed)."""
        self.caller = caller
        self._handover = None
        caller.dialing = self
        early = next((leg for leg in self.pending if leg.early), None)
        if early is not None:  # the transferee hears what the target's phone sends
            self.early = Relay(caller.media, early.media)
            self.early.start()
        elif any(leg.state is ChannelState.RINGING for leg in self.pending):
            self._ringback = caller.ringback(True)
        try:
            winner, status = await self._wait_answer()
        finally:
            caller.dialing = None
        winner = await self._settle(winner)
        if winner is None:
            log.info("%s: the transfer target did not answer (%s)", caller.name, status)
            _tell(caller, carried, Exit(PEER_HANGUP), self.caller.services.spawn)
            return
        caller.dst_channel = winner
        br = self._make_bridge(winner, consult=False)
        if carried is not None and not carried.done():
            br.adopt(caller, carried)
        br.start()

    def bridge(self, winner: SipChannel) -> Any:
        """Join the caller and the winner with the features the options allow (t/T,
        k/K, x/X, h/H from features.conf); the caller's pbx.bridge.Exit, awaitable."""
        br = self._make_bridge(winner, consult=self.consult is not None)
        fut = br.wait(self.caller)
        br.start()
        if self.consult is not None:
            self.consult.connected(br, winner)
        return fut

    def _make_bridge(self, winner: SipChannel, *, consult: bool) -> Bridge:
        a = self.caller
        calls = a.services.calls
        cfg = calls.features_config() if calls is not None else FeaturesConfig()
        caller_f, callee_f = dial_features(self.options)
        br = Bridge(a, winner, host=calls.bridge_host() if calls is not None else _NoHost(),
                    features={a: cfg.codes(caller_f), winner: cfg.codes(callee_f)},
                    digit_timeout=cfg.featuredigittimeout)
        if consult and self.consult is not None:
            # The transferer's keys are the attended transfer's (atxfercomplete...).
            br.watch_keys(a, self.consult.codes, self.consult.on_key)
        return br

    async def _wait_answer(self) -> tuple[SipChannel | None, str]:
        """Read leg events until one answers, all fail, the timeout, A hangs up, or
        the call is handed over to a transferee."""
        a = self.caller
        loop = asyncio.get_running_loop()
        deadline = self._deadline
        gone = asyncio.ensure_future(a.hungup.wait())
        handover = self._handover
        try:
            while self.pending:
                wait_for = None if deadline is None else max(0.0, deadline - loop.time())
                get = asyncio.ensure_future(self._events.get())
                waits = {get, gone} if handover is None else {get, gone, handover}
                done, _ = await asyncio.wait(waits, timeout=wait_for,
                                             return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    if handover is not None and handover in done:
                        return None, _HANDED_OVER
                    return None, "CANCEL" if gone in done else "NOANSWER"
                leg, ev = get.result()
                if leg not in self.pending:
                    continue
                kind = type(ev)
                if kind is Progress:
                    a.observe(ev.response.status)  # a transferee's target rings
                    await self._progress(leg, ev)
                elif kind is Accepted:
                    return leg, "ANSWER"
                elif kind is _PickedUp:
                    self.pending.discard(leg)
                    self.legs.append(ev.taker)
                    leg.cancel(COMPLETED_ELSEWHERE)  # RFC 3891: the replaced INVITE ends
                    return ev.taker, "ANSWER"
                elif kind is Failed:
                    self.pending.discard(leg)
                    self.causes.append(q850.cause_from_sip(ev.status))
        finally:
            gone.cancel()
        return None, _dialstatus(self.causes)

    async def _progress(self, leg: SipChannel, ev: Progress) -> None:
        a = self.caller
        if leg.early and self.early is None and (a.state is not ChannelState.UP or
                                                 not self._ringback):
            if a.state is not ChannelState.UP:
                if leg.sdp.negotiated is not None:
                    a.prefer_codec(leg.sdp.negotiated.format)
                await a.progress()
            if a.early or a.state is ChannelState.UP:
                # An answered caller (a transferee) hears the callee's early media too.
                self.early = Relay(a.media, leg.media)
                self.early.start()
        elif ev.response.status != 183 and a.state is ChannelState.RING:
            await a.ringing()
        elif (ev.response.status == 180 and a.state is ChannelState.UP and self.early is None
              and not self._ringback):
            # An answered caller cannot be sent a 180: it hears ringback in band (as
            # Asterisk plays on an up channel that is indicated ringing).
            self._ringback = a.ringback(True)


_HANDED_OVER = "HANDED_OVER"


@dataclass(slots=True)
class _PickedUp:
    """A phone took the call of a ringing leg (INVITE with Replaces)."""

    taker: SipChannel


def _tell(leg: SipChannel, carried: Any, exit_: Exit, spawn: Callable[[Any], Any]) -> None:
    """Give a leg outside any bridge its exit: to its waiting dialplan, or hang it up."""
    if carried is not None and not carried.done():
        carried.set_result(exit_)
    elif leg.state is not ChannelState.HUNGUP:
        spawn(leg.hangup())


def _dialstatus(causes: list[int]) -> str:
    """Asterisk reports BUSY if any callee was busy, else the last failure."""
    statuses = [q850.dialstatus_from_cause(c) for c in causes]
    for preferred in ("BUSY", "NOANSWER", "CONGESTION"):
        if preferred in statuses:
            return preferred
    return statuses[-1] if statuses else "CHANUNAVAIL"


class _NoHost:
    """Bridges of legs made without a PBX around them (unit tests of Dial alone)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def run_dialplan(self, leg: SipChannel, context: str, exten: str, priority: int = 1) -> None:
        self.spawn(leg.hangup())

    def run_feature(self, bridge: Bridge, leg: SipChannel, feature: str) -> None:
        log.warning("%s: feature %s needs the PBX's call control", leg.name, feature)

    def hold_music(self, leg: SipChannel, on: bool, music_class: str = "") -> None:
        pass
