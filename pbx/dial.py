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
from pbx.bridge import GOTO, PEER_HANGUP, TRANSFERRED, Bridge, Exit
from pbx.call_limits import CallLimitReached
from pbx.channel import ChannelState, DialResult, DialTarget
from pbx.features import dial_features
from pbx.features_conf import FeaturesConfig
from pbx.media.ports import PortsExhausted
from pbx.media.relay import Relay
from pbx.sip.address import Address
from pbx.sip.invite import Accepted, Failed, Progress
from pbx.sip.timers import TimerHeap

if TYPE_CHECKING:
    from pbx.config import Peer
    from pbx.indications import ToneList
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

    def ring_tone(self, zone: str) -> ToneList | None:
        """The `ring` tone of indications.conf's zone (the [general] country's for "")."""


class Dial:
    """One Dial() of one caller: ring, pick the winner, bridge.

    While it rings, a transfer may change who waits for the answer (an attended
    transfer to this ringing call: :meth:`hand_over`), and a phone may take the
    call of a ringing leg (pbx.pickup: Pickup(), *8, INVITE with Replaces): the
    ``PickedUp`` event."""

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
        self.opts = parse_options(options)
        # m[(class)]: the caller hears music on hold instead of ringback while it rings.
        self.music = "m" in self.opts
        self._deadline: float | None = None
        # Set while ringing: ("handover", new caller, its future) or ("abort",).
        self._handover: asyncio.Future[tuple[Any, ...]] | None = None
        self._ringback = False  # an answered caller hears the ring tone in band

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

    # --- the call -------------------------------------------------------------------
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
        for leg in self.legs:
            leg.linkedid = a.linkedid
            leg.in_dial = self
        self.pending = set(self.legs)
        # The CDR names the dialed channel even when nobody answers (Asterisk does too).
        a.dst_channel = self.legs[0]
        if self.music and a.state is not ChannelState.HUNGUP:
            # As app_dial: the music starts, then progress (183) lets the caller hear it.
            await a.progress()
            await a.start_moh(self.opts["m"] or None, force=bool(self.opts["m"]))
        elif "r" in self.opts and a.state is not ChannelState.HUNGUP:
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
            if self.music:
                a.stop_moh()
            await self._ring_in_band(a, False)
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
        await answer_caller(a, winner)
        a.observe(200)  # a transferee dialing its target: the target answered
        answered = time.monotonic()
        exit_ = await self.bridge(winner)
        end = time.monotonic()
        return DialResult(status="ANSWER", dialed_time=int(end - started),
                          answered_time=int(end - answered),
                          peer_number=winner.peer.name if winner.peer else
                          getattr(winner, "dialed", ""),
                          peer_channel=winner.name, callee_hungup=exit_.kind == PEER_HANGUP,
                          transferred=exit_.kind == TRANSFERRED,
                          goto=(exit_.context, exit_.exten, exit_.priority)
                          if exit_.kind == GOTO else None)

    async def _settle(self, winner: SipChannel | None) -> SipChannel | None:
        """Ringing is over: stop early media, music and ringback, cancel the losers."""
        a = self.caller
        if self.early is not None:
            self.early.stop()
            self.early = None
        if self.music:
            a.stop_moh()
        await self._ring_in_band(a, False)
        for leg in self.legs:
            leg.dial_events = None
            leg.in_dial = None
        self._refuse_late_pickups()
        # A caller answered elsewhere (a Local channel's `;2` whose `;1` lost) passes
        # that on, so its phones log no missed call either.
        elsewhere = winner is not None or a.hangup_cause == q850.CAUSE_NAMES["ANSWERED_ELSEWHERE"]
        for leg in self.legs:
            if leg is not winner and leg.state is not ChannelState.HUNGUP:
                leg.cancel(COMPLETED_ELSEWHERE if elsewhere else None)
        return winner

    async def _continue_for(self, caller: SipChannel, carried: Any) -> None:
        """After a hand-over: ring on for the transferee, then bridge it with the
        answer (or tell it the call failed)."""
        self.caller = caller
        self._handover = None
        caller.dialing = self
        early = next((leg for leg in self.pending if leg.early), None)
        if self.music and caller.state is not ChannelState.HUNGUP:
            # Dial's m: the transferee hears the music too
            await caller.start_moh(self.opts["m"] or None, force=bool(self.opts["m"]))
        elif early is not None:  # the transferee hears what the target's phone sends
            self.early = Relay(caller.media, early.media)
            self.early.start()
        elif any(leg.state is ChannelState.RINGING for leg in self.pending):
            await self._ring_in_band(caller, True)
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

    async def _ring_in_band(self, caller: SipChannel, on: bool) -> None:
        """An answered caller cannot be sent a 180: while the callee rings it hears
        the ring tone of its zone (indications.conf), as Asterisk plays on an up
        channel indicated ringing."""
        if not on:
            if self._ringback:
                self._ringback = False
                caller.stop_tones()
            return
        if caller.state is not ChannelState.UP or self._ringback:
            return
        tones = self.factory.ring_tone(caller.tonezone)
        if tones is not None:
            self._ringback = True
            await caller.start_tones(tones)

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
        br = make_bridge(self.caller, winner, self.options)
        if consult and self.consult is not None:
            # The transferer's keys are the attended transfer's (atxfercomplete...).
            br.watch_keys(self.caller, self.consult.codes, self.consult.on_key)
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
        if leg.early and self.early is None and (a.state is not ChannelState.UP or
                                                 not self._ringback):
            if a.state is not ChannelState.UP:
                if leg.sdp.negotiated is not None:
                    a.prefer_codec(leg.sdp.negotiated.format)
                await a.progress()
            if a.early or a.state is ChannelState.UP:
                # An answered caller (a transferee) hears the callee's early media too.
                a.stop_tones()  # the callee's early media replaces PlayTones' ring
                self.early = Relay(a.media, leg.media)
                self.early.start()
        elif ev.response.status != 183 and a.state is ChannelState.RING:
            await a.ringing()
        elif ev.response.status == 180 and a.state is ChannelState.UP and self.early is None:
            await self._ring_in_band(a, True)  # a transferee waiting for its target


async def answer_caller(a: SipChannel, callee: SipChannel) -> None:
    """Answer the caller for the callee that answered (also Queue's): with the
    callee's codec when the caller's answer is not out yet, so the bridge needs no
    transcoding."""
    if a.state is not ChannelState.UP:
        if callee.sdp.negotiated is not None:
            a.prefer_codec(callee.sdp.negotiated.format)
        await a.answer()


def make_bridge(a: SipChannel, b: SipChannel, options: str) -> Bridge:
    """A bridge of caller ``a`` and callee ``b`` with the features ``options``
    allow (t/T, k/K, x/X, h/H from features.conf), as Dial() and Queue() make it."""
    calls = getattr(a.services, "calls", None)
    cfg = calls.features_config() if calls is not None else FeaturesConfig()
    caller_f, callee_f = dial_features(options)
    return Bridge(a, b, host=calls.bridge_host() if calls is not None else _NoHost(),
                  features={a: cfg.codes(caller_f), b: cfg.codes(callee_f)},
                  digit_timeout=cfg.featuredigittimeout)


async def bridge(a: SipChannel, b: SipChannel, options: str = "") -> Exit:
    """Join ``a`` (its dialplan waits here) and ``b`` until ``a`` leaves; its Exit."""
    br = make_bridge(a, b, options)
    fut = br.wait(a)
    br.start()
    return await fut


_HANDED_OVER = "HANDED_OVER"


def _tell(leg: SipChannel, carried: Any, exit_: Exit, spawn: Callable[[Any], Any]) -> None:
    """Give a leg outside any bridge its exit: to its waiting dialplan, or hang it up."""
    if carried is not None and not carried.done():
        carried.set_result(exit_)
    elif leg.state is not ChannelState.HUNGUP:
        spawn(leg.hangup())


class _NoHost:
    """Bridges of legs made without a PBX around them: no features (their timer heap
    is never driven), a leg sent elsewhere is hung up."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()
        self.timers = TimerHeap()

    def now(self) -> float:
        return time.monotonic()

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
