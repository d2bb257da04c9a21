"""A bridge: two call legs talking, and what becomes of each when it ends.

Dial() joins the caller and the callee in a :class:`Bridge`; parking's
retrieval and transfers make bridges too. The bridge relays the media
(pbx.media.relay), watches each party's DTMF for its feature codes
(features.conf, :class:`~pbx.features.FeatureMatcher`; the timer of a code
in progress is on the SIP core's heap), and hands every leg an :class:`Exit`
when it leaves: it hung up, its peer hung up, it transferred the call away,
or a transfer sent it to an extension.

A leg whose dialplan waits in the bridge (the caller of a Dial, a parked call
brought back) gets its Exit through :meth:`Bridge.wait`; the application
then carries on (Dial's `g`, a transferee's new extension) or ends the call.
A leg nobody waits for (the callee of a Dial) is hung up when it leaves, or
started in the dialplan when a transfer sends it somewhere: the
:class:`BridgeHost` does that. Transfers change bridges with
:meth:`Bridge.replace` (attended transfer: the other call's party takes the
transferer's place, keeping whoever waits for it), :meth:`Bridge.leave` and
:meth:`Bridge.suspend`/:meth:`Bridge.resume` (a feature talks to one party
while the other waits on hold).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pbx.channel import ChannelState
from pbx.features import FeatureMatcher
from pbx.media.relay import Relay

if TYPE_CHECKING:
    from pbx.sip.timers import TimerHeap
    from pbx.sipchannel import SipChannel

log = logging.getLogger("pbx.bridge")

HANGUP = "hangup"  # the leg itself hung up
PEER_HANGUP = "peer-hangup"  # the other party hung up
TRANSFERRED = "transferred"  # the leg transferred the call and leaves it
GOTO = "goto"  # a transfer sends the leg to an extension of the dialplan


@dataclass(frozen=True, slots=True)
class Exit:
    """Why a leg left its bridge (and where a GOTO sends it)."""

    kind: str
    context: str = ""
    exten: str = ""
    priority: int = 1


class BridgeHost(Protocol):
    """What a bridge needs from the PBX (pbx.calls.CallManager provides it)."""

    timers: TimerHeap  # the SIP core's one heap: featuredigittimeout goes there

    def now(self) -> float: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task: ...

    def run_dialplan(self, leg: SipChannel, context: str, exten: str,
                     priority: int = 1) -> None: ...

    def run_feature(self, bridge: Bridge, leg: SipChannel, feature: str) -> None: ...

    def hold_music(self, leg: SipChannel, on: bool, music_class: str = "") -> None: ...


class Bridge:
    """Two legs joined; see the module docstring."""

    def __init__(self, a: SipChannel, b: SipChannel, *, host: BridgeHost,
                 features: dict[SipChannel, dict[str, str]] | None = None,
                 digit_timeout: float = 1.0) -> None:
        self.legs: list[SipChannel] = [a, b]
        self.host = host
        self._timers = host.timers  # featuredigittimeout: the one heap
        self.relay: Relay | None = None
        self._exits: dict[SipChannel, asyncio.Future[Exit]] = {}
        # Each party's feature codes (code -> feature name) and their matcher.
        self._digit_timeout = digit_timeout
        self._matchers: dict[SipChannel, FeatureMatcher] = {
            leg: FeatureMatcher(codes, digit_timeout)
            for leg, codes in (features or {}).items() if codes}
        self._timer: Any = None
        self.suspended_for: SipChannel | None = None  # a feature is talking to this party
        self._suspend_gone: Callable[[SipChannel], None] | None = None
        self.feature_task: asyncio.Task | None = None
        self.ended = False
        self.on_end: list[Callable[[Bridge], None]] = []  # called once when the bridge ends
        self._listeners: dict[SipChannel, Callable[[SipChannel], None]] = {}
        # Who runs a feature a code names: the PBX's (features.conf), or a feature in
        # progress that watches its own keys (an attended transfer's consultation).
        self._handlers: dict[SipChannel, Callable[[Bridge, SipChannel, str], None]] = {}

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Relay the two legs' media; each leg knows its bridge from now on."""
        for leg in self.legs:
            self._attach(leg)
        for leg in self.legs:
            self._match_hold(leg)
        self._start_relay()

    def other(self, leg: SipChannel) -> SipChannel | None:
        return next((x for x in self.legs if x is not leg), None)

    def wait(self, leg: SipChannel) -> asyncio.Future[Exit]:
        """The Exit of ``leg`` (its dialplan waits for it: it is not hung up by us)."""
        fut = self._exits.get(leg)
        if fut is None:
            fut = self._exits[leg] = asyncio.get_running_loop().create_future()
        return fut

    def adopt(self, leg: SipChannel, fut: Any) -> None:
        """``leg``'s dialplan already waits on ``fut`` (carried from another bridge)."""
        if fut is not None and not fut.done():
            self._exits[leg] = fut

    def watch_keys(self, leg: SipChannel, codes: dict[str, str],
                   handler: Callable[[Bridge, SipChannel, str], None] | None) -> None:
        """Watch ``leg``'s digits for ``codes`` (code -> name) and call ``handler``
        (None: the PBX's features) instead of the codes given at construction."""
        self._matchers[leg] = FeatureMatcher(codes, self._digit_timeout)
        if handler is None:
            self._handlers.pop(leg, None)
        else:
            self._handlers[leg] = handler
        if self.relay is not None and leg in self.legs:
            self.relay.intercept(leg.media, self._digit_watcher(leg))

    def has_waiter(self, leg: SipChannel) -> bool:
        fut = self._exits.get(leg)
        return fut is not None and not fut.done()

    def _attach(self, leg: SipChannel) -> None:
        leg.bridge = self
        leg.player.stop()  # a prompt or tones still playing to a party end as it joins
        listener = self._listeners[leg] = self.leg_gone
        leg.on_gone(listener)
        leg.bridge_changed(True)  # MixMonitor's `b` records from now on

    def _detach_leg(self, leg: SipChannel) -> None:
        listener = self._listeners.pop(leg, None)
        if listener is not None:
            leg.remove_gone(listener)
        if leg.bridge is self:
            leg.bridge = None
        leg.bridged_to = None
        leg.relay = None
        # MixMonitor's `b` stops; music the leg heard because its party held ends.
        leg.bridge_changed(False)
        matcher = self._matchers.pop(leg, None)
        if matcher is not None:
            matcher.reset()
        self._handlers.pop(leg, None)
        self.legs.remove(leg)

    def _start_relay(self) -> None:
        self._stop_relay()
        if len(self.legs) != 2 or self.suspended_for is not None:
            return
        a, b = self.legs
        if a.state is ChannelState.HUNGUP or b.state is ChannelState.HUNGUP:
            return
        a.stop_tones()  # as Asterisk's bridge ends a channel's generator (PlayTones)
        b.stop_tones()
        relay = self.relay = Relay(a.media, b.media,
                                   digits_to=(a.digit_sender(b), b.digit_sender(a)))
        a.relay = b.relay = relay
        a.bridged_to, b.bridged_to = b, a
        a.bridge = b.bridge = self  # back from a consultation in another bridge
        for leg in self.legs:
            if leg in self._matchers:
                relay.intercept(leg.media, self._digit_watcher(leg))
        relay.start()

    def _stop_relay(self) -> None:
        relay = self.relay
        if relay is not None:
            relay.stop()
            self.relay = None
            for leg in self.legs:
                if leg.relay is relay:
                    leg.relay = None
                    leg.bridged_to = None

    def _match_hold(self, leg: SipChannel) -> None:
        """A leg joining a party that holds hears music on hold (or, pjsip's
        moh_passthrough, is offered the hold), as if that party had just held; one
        that heard the music of a former party's hold (or was offered its hold) talks
        again: an attended transfer from a held call."""
        other = self.other(leg)
        if other is None or leg.state is not ChannelState.UP:
            return
        if other.holding:
            leg.peer_hold(True, other)
            return
        leg.match_direction("sendrecv")  # (moh_passthrough: a former party's hold offered)
        if leg.features.moh_by_hold:  # the music of a former party's hold ends
            leg.peer_hold(False, other)

    # ---------------------------------------------------------------- leaving

    def leg_gone(self, leg: SipChannel) -> None:
        """A leg hung up: it leaves; its peer is told (or hung up if nobody waits for it).
        While a feature holds the bridge, the feature decides (an attended transfer
        goes on without its transferer)."""
        if leg not in self.legs:
            return
        handler = self._suspend_gone
        if self.suspended_for is not None and handler is not None:
            handler(leg)
            return
        if self.feature_task is not None and not self.feature_task.done():
            self.feature_task.cancel()
        self.leave(leg, Exit(HANGUP))

    def leave(self, leg: SipChannel, exit_: Exit) -> None:
        """``leg`` leaves the bridge with ``exit_`` (the bridge ends with fewer than two)."""
        if leg not in self.legs:
            return
        self._stop_relay()
        if self.suspended_for is not None:
            self._unsuspend()
        self._detach_leg(leg)
        self._deliver(leg, exit_)
        if len(self.legs) < 2:
            self._end()
        else:
            self._start_relay()

    def dissolve(self, exits: dict[SipChannel, Exit | None]) -> dict[SipChannel, Any]:
        """Every leg leaves at once (a transfer): with its Exit, or, for a leg mapped
        to None, without one. Returns, for those, the future their dialplan waits on
        (None when nobody waits), for the caller to resolve or carry along."""
        self._stop_relay()
        if self.suspended_for is not None:
            self._unsuspend()
        carried: dict[SipChannel, Any] = {}
        delivered: list[tuple[SipChannel, Exit]] = []
        for leg in list(self.legs):
            exit_ = exits.get(leg)
            self._detach_leg(leg)
            if exit_ is None:
                carried[leg] = self._exits.pop(leg, None)
            else:
                delivered.append((leg, exit_))
        for leg, exit_ in delivered:
            self._deliver(leg, exit_)
        self._end()
        return carried

    def replace(self, old: SipChannel, new: SipChannel, old_exit: Exit,
                carried: Any = None) -> None:
        """``new`` takes ``old``'s place (attended transfer, INVITE with Replaces).
        ``new`` is in no bridge (dissolve its own first); ``carried`` is the future
        its dialplan waits on, if any: it now waits on this bridge."""
        self._stop_relay()
        if self.suspended_for is not None:
            self._unsuspend()
        index = self.legs.index(old)
        self._detach_leg(old)
        self.legs.insert(index, new)
        if carried is not None and not carried.done():
            self._exits[new] = carried
        self._attach(new)
        self._deliver(old, old_exit)
        for leg in self.legs:
            self._match_hold(leg)
        self._start_relay()

    def _deliver(self, leg: SipChannel, exit_: Exit) -> None:
        fut = self._exits.pop(leg, None)
        if fut is not None and not fut.done():
            fut.set_result(exit_)
            return
        # Nobody waits for this leg: it is ours to end or to send on.
        if exit_.kind == GOTO:
            self.host.run_dialplan(leg, exit_.context, exit_.exten, exit_.priority)
        elif exit_.kind != HANGUP and leg.state is not ChannelState.HUNGUP:
            self.host.spawn(leg.hangup())

    def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        self._stop_relay()
        self._cancel_timer()
        if self.suspended_for is not None:
            self._unsuspend()
        for leg in list(self.legs):
            # The last leg alone: its waiter is told its peer is gone.
            self._detach_leg(leg)
            self._deliver(leg, Exit(PEER_HANGUP))
        for cb in self.on_end:
            try:
                cb(self)
            except Exception:
                log.exception("bridge end callback failed")

    # ---------------------------------------------------------- features and hold

    def suspend(self, active: SipChannel,
                on_gone: Callable[[SipChannel], None] | None = None) -> bool:
        """A feature talks to ``active`` (prompts, digits): the relay stops and the
        other party hears music on hold until :meth:`resume`. ``on_gone`` is called
        instead of the usual ending when either party hangs up meanwhile."""
        if self.suspended_for is not None or active not in self.legs or self.ended:
            return False
        self.suspended_for = active
        self._suspend_gone = on_gone
        self._stop_relay()
        matcher = self._matchers.get(active)
        if matcher is not None:
            matcher.reset()
        other = self.other(active)
        if other is not None:
            self.host.hold_music(other, True)
        return True

    def _unsuspend(self) -> None:
        active = self.suspended_for
        self.suspended_for = None
        self._suspend_gone = None
        if active is not None:
            active.player.stop()
            other = self.other(active)
            if other is not None and other.state is not ChannelState.HUNGUP:
                self.host.hold_music(other, False)

    def resume(self) -> None:
        """Back to talking (the feature gave up, or was aborted)."""
        if self.suspended_for is None:
            return
        self._unsuspend()
        if not self.ended:
            for leg in self.legs:
                self._match_hold(leg)
            self._start_relay()

    def _digit_watcher(self, leg: SipChannel) -> Callable[[str], None]:
        def watch(digit: str) -> None:
            self._on_digit(leg, digit)
        return watch

    def _on_digit(self, leg: SipChannel, digit: str) -> None:
        matcher = self._matchers.get(leg)
        if matcher is None or self.suspended_for is not None:
            return
        now = self.host.now()  # the clock of the heap the timer is on
        feature, passed = matcher.feed(digit, now)
        self._after_match(leg, feature, passed)
        self._arm_timer()

    def _after_match(self, leg: SipChannel, feature: str | None, passed: str) -> None:
        other = self.other(leg)
        if passed and other is not None:
            for d in passed:  # not a code: the other party gets the digits after all
                other.send_digit(d)  # as its DTMF mode says (RFC 4733, INFO, tones)
        if feature is not None:
            log.info("%s: feature %s", leg.name, feature)
            # After this digit's callbacks: the code's last digit must not reach the
            # party's digit queue once the relay is stopped for the feature.
            handler = self._handlers.get(leg, self.host.run_feature)
            asyncio.get_running_loop().call_soon(handler, self, leg, feature)

    def _arm_timer(self) -> None:
        self._cancel_timer()
        deadlines = [m.deadline for m in self._matchers.values() if m.deadline is not None]
        if deadlines and not self.ended:
            self._timer = self._timers.schedule(min(deadlines), self, "feature-digit")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timers.cancel(self._timer)
        self._timer = None

    def on_timer(self, kind: str, now: float) -> None:
        """featuredigittimeout passed for a party's held digits."""
        self._timer = None
        for leg, matcher in list(self._matchers.items()):
            feature, passed = matcher.expire(now)
            if feature is not None or passed:
                self._after_match(leg, feature, passed)
        self._arm_timer()
