"""In-call DTMF features: what happens when a party presses a features.conf code.

Each feature runs as a task of its own; the bridge is suspended for the party
who pressed (the other party waits with music on hold), as Asterisk's
bridge_basic.c does:

* ``blindxfer``: ``pbx-transfer``, then the target extension in the transfer
  context (``transferdigittimeout`` between digits, ``transferdialattempts``
  tries with ``pbx-invalid`` between them and ``privacy-incorrect`` after the
  last); the peer is sent there and the transferer's call ends. A park
  extension parks the peer and the transferer first hears the space.
* ``atxfer``: the same prompt and digits; the target is called through the
  dialplan on a consultation channel (pbx.consult) while the peer waits. Then
  ``atxfercomplete`` joins the peer and the target (also while the target
  still rings, and when the transferer hangs up), ``atxferabort`` (or the
  target hanging up, or ``atxfernoanswertimeout``) returns to the peer,
  ``atxferswap`` talks to the other one, ``atxferthreeway`` joins all three
  (pbx.threeway: mixed; when one leaves, the other two go on).
* ``disconnect``: the party who pressed leaves the call, as if it hung up.
* ``parkcall``: the peer is parked in the party's lot (PARKINGLOT, else
  ``default``), the party hears the space and its call ends.
* ``automixmon``: MixMonitor on the party's channel, started or stopped
  (TOUCH_MIXMONITOR, TOUCH_MIXMONITOR_FORMAT, TOUCH_MIXMONITOR_OPTIONS).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from pbx.bridge import PEER_HANGUP, TRANSFERRED, Exit
from pbx.channel import AppError, ChannelState, Hangup
from pbx.consult import ConsultChannel
from pbx.features import FeatureMatcher
from pbx.threeway import ThreeWay
from pbx.transfer import set_transfer_variables, transfer_context

if TYPE_CHECKING:
    from pbx.bridge import Bridge
    from pbx.calls import CallManager
    from pbx.features_conf import FeaturesConfig
    from pbx.sipchannel import SipChannel

log = logging.getLogger("pbx.features")

DIGITS = "0123456789*#"
AUTOMIXMON = "automixmon"  # the channel datastore holding the running monitor's id
PARK_ANNOUNCE_WAIT = 30.0  # seconds a transferer may wait to hear the parking space


def run_feature(calls: CallManager, bridge: Bridge, leg: SipChannel, feature: str) -> None:
    """Start the feature ``leg`` pressed in ``bridge`` (called by the bridge)."""
    fn = _FEATURES.get(feature)
    if fn is None:
        log.warning("%s: feature %s is not supported", leg.name, feature)
        return
    if bridge.ended or leg not in bridge.legs:
        return
    bridge.feature_task = calls.spawn(_guarded(fn(calls, bridge, leg), leg, feature))


async def _guarded(coro: Any, leg: SipChannel, feature: str) -> None:
    try:
        await coro
    except (Hangup, asyncio.CancelledError):
        pass  # a party hung up: the bridge has dealt with it
    except Exception:
        log.exception("%s: feature %s failed", leg.name, feature)


# ------------------------------------------------------------------- the target


async def collect_target(calls: CallManager, leg: SipChannel, context: str,
                         cfg: FeaturesConfig) -> str | None:
    """bridge_basic.c grab_transfer(): the prompt, then an extension that exists in
    ``context``, with retries; None when every attempt failed."""
    first = ""
    if cfg.transferannouncesound:
        first = await leg.play([cfg.transferannouncesound], interrupt=DIGITS)
    attempts = max(1, cfg.transferdialattempts)
    for attempt in range(attempts):
        exten = await _read_exten(calls, leg, context, first, cfg.transferdigittimeout)
        first = ""
        if exten and calls.extension_exists(context, exten, leg.callerid.num):
            return exten
        log.info("%s: transfer to '%s@%s': no such extension", leg.name, exten, context)
        last = attempt == attempts - 1
        sound = cfg.transferinvalidsound if last else cfg.transferretrysound
        if sound:
            first = await leg.play([sound], interrupt="" if last else DIGITS)
    return None


async def _read_exten(calls: CallManager, leg: SipChannel, context: str, first: str,
                      timeout: float) -> str:
    digits = first
    if not digits:
        digit = await leg.wait_digit(timeout)
        if digit is None:
            return ""
        digits = digit
    while calls.extension_matches_more(context, digits):
        digit = await leg.wait_digit(timeout)
        if digit is None or digit == "#":
            break
        digits += digit
    return digits


# ----------------------------------------------------------------------- blind


async def _blind(calls: CallManager, bridge: Bridge, leg: SipChannel) -> None:
    cfg = calls.features_config()
    if not bridge.suspend(leg):
        return
    target = await _target(calls, bridge, leg, cfg)
    if target is not None:
        await blind_to(calls, leg, *target)


async def _target(calls: CallManager, bridge: Bridge, leg: SipChannel,
                  cfg: FeaturesConfig) -> tuple[str, str] | None:
    """A transfer key's (context, extension): TRANSFER_EXTEN, or the digits the
    transferer dials while the bridge is suspended; None (the bridge resumed) when
    nothing came or the bridge ended meanwhile."""
    context = transfer_context(leg)
    exten = leg.variables.get("TRANSFER_EXTEN", "") or \
        await collect_target(calls, leg, context, cfg)
    if not exten or bridge.ended:
        bridge.resume()
        return None
    return context, exten


async def blind_to(calls: CallManager, leg: SipChannel, context: str, exten: str) -> bool:
    """Send ``leg``'s peer to exten@context and end ``leg``'s part; to a park
    extension, ``leg`` first hears where the call was parked."""
    parked: asyncio.Future[int] | None = None
    report = None
    if calls.is_park_exten(context, exten):
        parked = asyncio.get_running_loop().create_future()

        def report(status: int, final: bool) -> None:
            if final and not parked.done():
                parked.set_result(status)
    carried = calls.transfers.blind(leg, context, exten, report=report)
    if carried is False:
        return False
    if parked is not None:  # Park() announces the space to us, then reports
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(parked, PARK_ANNOUNCE_WAIT)
    calls.transfers.finish_transferer(leg, carried)
    return True


# ------------------------------------------------------------------ disconnect, park


async def _disconnect(calls: CallManager, bridge: Bridge, leg: SipChannel) -> None:
    other = bridge.other(leg)
    log.info("%s: disconnect key", leg.name)
    exits: dict[SipChannel, Exit | None] = {leg: Exit(TRANSFERRED)}
    if other is not None:
        exits[other] = Exit(PEER_HANGUP)
    bridge.dissolve(exits)


async def _parkcall(calls: CallManager, bridge: Bridge, leg: SipChannel) -> None:
    name = leg.variables.get("PARKINGLOT", "") or "default"
    lot = calls.parking.lot(name)
    if lot is None or not lot.cfg.parkext:
        log.warning("%s: parkcall: lot '%s' has no parkext in res_parking.conf", leg.name,
                    name)
        return
    if not bridge.suspend(leg):
        return
    if not await blind_to(calls, leg, lot.cfg.context, lot.cfg.parkext):
        bridge.resume()


# ---------------------------------------------------------------------- automixmon


async def _automixmon(calls: CallManager, bridge: Bridge, leg: SipChannel) -> None:
    """Start or stop recording the call as MixMonitor does (bridge_features.c's
    automixmon): TOUCH_MIXMONITOR names the file (else auto-TIME-PEER-SELF),
    TOUCH_MIXMONITOR_FORMAT its format (wav), TOUCH_MIXMONITOR_OPTIONS MixMonitor's
    options; the channel's MixMonitor API (pbx.channel_media) does the work."""
    from dialplan.apps.mixmonitor import parse_spec
    from dialplan.substitute import DialplanError

    running = leg.datastores.pop(AUTOMIXMON, None)
    if running is not None and leg.stop_mixmonitor(running):  # (False: it had ended)
        log.info("%s: automixmon stopped", leg.name)
        return
    peer = bridge.other(leg)
    base = leg.variables.get("TOUCH_MIXMONITOR") or "auto-{}-{}-{}".format(
        int(time.time()), (peer.callerid.num if peer else "") or "peer",
        leg.callerid.num or "self")
    fmt = leg.variables.get("TOUCH_MIXMONITOR_FORMAT") or "wav"
    filename = f"{base}.{fmt}"
    try:
        spec, _ = parse_spec(filename, leg.variables.get("TOUCH_MIXMONITOR_OPTIONS", ""))
        leg.datastores[AUTOMIXMON] = await leg.start_mixmonitor(spec)
    except (AppError, DialplanError) as exc:
        log.warning("%s: automixmon: %s", leg.name, exc)
        sound = calls.features_config().recordingfailsound
        if sound:
            with contextlib.suppress(Hangup):
                await leg.play([sound])
        return
    log.info("%s: automixmon recording to %s", leg.name, filename)


# ------------------------------------------------------------------------ attended


async def _atxfer(calls: CallManager, bridge: Bridge, leg: SipChannel) -> None:
    cfg = calls.features_config()
    xfer = AttendedTransfer(calls, bridge, leg, cfg)
    if not bridge.suspend(leg, on_gone=xfer.party_gone):
        return
    target = await _target(calls, bridge, leg, cfg)
    if target is not None:
        await xfer.run(*target)


class AttendedTransfer:
    """One attended transfer by DTMF: the transferer consults the target while the
    transferee (its peer in the original bridge) waits; see the module docstring."""

    def __init__(self, calls: CallManager, bridge: Bridge, transferer: SipChannel,
                 cfg: FeaturesConfig) -> None:
        self.calls = calls
        self.bridge = bridge  # the original call: transferer and transferee
        self.transferer = transferer
        self.transferee = bridge.other(transferer)
        self.cfg = cfg
        self.codes = cfg.atxfer_codes()  # code -> abort/complete/threeway/swap
        self.dial: Any = None  # the consultation's Dial (set by the dialer)
        self.consult_bridge: Bridge | None = None
        self.target: SipChannel | None = None
        self.talking_to_target = False
        self.done = False
        self.channel: ConsultChannel | None = None
        self._events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        # When the transferee hung up, the consultation became the call: the
        # transferer's part ends with it (its dialplan's wait, if it has one).
        self._orphaned = False
        self._carried_transferer: Any = None

    # --- events from the bridges and the consultation ------------------------------
    def connected(self, bridge: Bridge, target: SipChannel) -> None:
        self._events.put_nowait(("connected", (bridge, target)))

    def on_key(self, bridge: Bridge, leg: SipChannel, key: str) -> None:
        self._events.put_nowait(("key", key))

    def party_gone(self, leg: SipChannel) -> None:
        """A party of the original call hung up while the transfer is in progress.
        Runs inside the leg's hangup, before the consultation's Dial sees it."""
        if self.done:
            return
        if leg is self.transferer:
            self._complete(hung_up=True)
        else:
            self._transferee_gone()

    # --- the procedure ----------------------------------------------------------------
    async def run(self, context: str, exten: str) -> None:
        r = self.transferer
        channel = self.channel = ConsultChannel(r, self, context, exten)
        log.info("%s: attended transfer: consulting %s@%s", r.name, exten, context)
        saved_dst = r.dst_channel
        consult = self.calls.spawn(self._consultation(channel, context, exten))
        matcher = FeatureMatcher(self.codes, self.cfg.featuredigittimeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.atxfernoanswertimeout
        try:
            while not self.done:
                digit = None
                if not self.talking_to_target and self.target is None:
                    # Ringing: the transferer's keys arrive as plain digits.
                    digit = asyncio.ensure_future(r.digits.get())
                get = asyncio.ensure_future(self._events.get())
                waits = {get} | ({digit} if digit is not None else set())
                timeout = max(0.0, deadline - loop.time()) if self.target is None else None
                done, _ = await asyncio.wait(waits, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                for fut in waits - done:
                    fut.cancel()
                if not done:
                    log.info("%s: the transfer target did not answer", r.name)
                    await self._abort(fail=True)
                    continue
                if digit is not None and digit in done:
                    key, _ = matcher.feed(digit.result(), loop.time())
                    if key is not None:
                        await self._key(key)
                if get in done:
                    kind, value = get.result()
                    if kind == "connected":
                        self.consult_bridge, self.target = value
                        self.talking_to_target = True
                        self.consult_bridge.on_end.append(self._consult_ended)
                    elif kind == "key":
                        await self._key(value)
                    elif kind == "consult-ended":
                        await self._abort(fail=True)
        finally:
            if not self.done:
                self.done = True
            if r.state is not ChannelState.HUNGUP and r.dst_channel is not saved_dst and \
                    self.bridge.other(r) is self.transferee:
                r.dst_channel = saved_dst
            if not self._orphaned and not consult.done() and self.consult_bridge is None:
                channel.end()  # the consultation's dialplan stops

    async def _consultation(self, channel: ConsultChannel, context: str, exten: str) -> None:
        from dialplan.interpreter import Interpreter

        try:
            await Interpreter(self.calls.config.dialplan, self.calls.dialplan_services).run(
                channel, context, exten, 1)
        except Exception:
            log.exception("%s: the consultation's dialplan failed", channel.name)
        finally:
            self._events.put_nowait(("consult-ended", None))
            if self._orphaned:
                self.calls.transfers.finish_transferer(self.transferer,
                                                       self._carried_transferer)

    def _consult_ended(self, bridge: Bridge) -> None:
        if bridge is self.consult_bridge and not self.done:
            self._events.put_nowait(("consult-ended", None))

    async def _key(self, key: str) -> None:
        if key == "complete":
            self._complete(hung_up=False)
        elif key == "abort":
            await self._abort(fail=False)
        elif key == "swap":
            self._swap()
        elif key == "threeway":
            await self._threeway()

    def _complete(self, *, hung_up: bool) -> None:
        """The transferee and the target talk; the transferer leaves."""
        if self.done:
            return
        self.done = True
        r, t = self.transferer, self.transferee
        log.info("%s: attended transfer complete%s", r.name,
                 " (the transferer hung up)" if hung_up else "")
        set_transfer_variables(r, [t] if t is not None else [], attended=True)
        if t is None or self.bridge.ended:
            return
        carried = self.bridge.dissolve({t: None, r: None})
        info = {"type": "attended", "transferer": r.name, "role": "transferee",
                "transferee": t.name}
        if self.target is not None and self.consult_bridge is not None \
                and not self.consult_bridge.ended:
            target = self.target
            set_transfer_variables(r, [target], attended=True)
            t.variables["ATTENDEDTRANSFER"] = r.name
            r.transfer = dict(info, role="transferer", target=target.name)
            self._record(t, carried.get(t), dict(info, target=target.name))
            t.dst_channel = target
            self.consult_bridge.replace(r, t, Exit(TRANSFERRED), carried.get(t))
        elif self.dial is not None and self.dial.hand_over(t, carried.get(t)):
            r.transfer = dict(info, role="transferer", target="ringing")
            self._record(t, carried.get(t), info)
        else:  # nothing to join the transferee with
            fut = carried.get(t)
            if fut is not None and not fut.done():
                fut.set_result(Exit(PEER_HANGUP))
            else:
                self.calls.spawn(t.hangup())
        self.calls.transfers.finish_transferer(r, carried.get(r))

    async def _threeway(self) -> None:
        """All three talk (pbx.threeway); the transfer is over."""
        cb, r, t, c = self.consult_bridge, self.transferer, self.transferee, self.target
        if cb is None or cb.ended or c is None or t is None or self.bridge.ended:
            if self.cfg.xferfailsound:  # nobody answered yet: nothing to join
                with contextlib.suppress(Hangup):
                    await r.play([self.cfg.xferfailsound])
            return
        if not ThreeWay.can_mix([r, t, c]):
            log.warning("%s: atxferthreeway: a party's codec cannot be mixed", r.name)
            return
        self.done = True
        mine = self.bridge.dissolve({t: None, r: None})
        theirs = cb.dissolve({r: Exit(TRANSFERRED), c: None})  # the consultation ends
        for leg in (t, c):
            leg.variables["ATTENDEDTRANSFER"] = r.name
        r.transfer = {"type": "threeway", "role": "transferer", "transferee": t.name,
                      "target": c.name}
        ThreeWay(self.calls, [r, t, c], {r: mine.get(r), t: mine.get(t),
                                          c: theirs.get(c)}).start()

    def _record(self, t: SipChannel, carried: Any, info: dict[str, str]) -> None:
        if carried is not None:
            self.calls.fork_cdr(t, info)
        else:
            self.calls.track_cdr(t, info)

    async def _abort(self, *, fail: bool) -> None:
        """Back to the transferee: the consultation ends."""
        if self.done:
            return
        self.done = True
        r = self.transferer
        log.info("%s: attended transfer %s", r.name, "failed" if fail else "aborted")
        if self.channel is not None:
            self.channel.end()  # before its Dial returns: nothing else of it runs
        if self.dial is not None:
            self.dial.abort()
        cb = self.consult_bridge
        if cb is not None and not cb.ended:
            exits: dict[SipChannel, Exit | None] = {r: Exit(PEER_HANGUP)}
            if self.target is not None:
                exits[self.target] = Exit(PEER_HANGUP)
            cb.dissolve(exits)
        if fail and self.cfg.xferfailsound and r.state is ChannelState.UP:
            with contextlib.suppress(Hangup):
                await r.play([self.cfg.xferfailsound])
        if self.bridge.ended:
            return
        self.bridge.resume()

    def _swap(self) -> None:
        """Talk to the other party; the one left waits on hold."""
        cb, r = self.consult_bridge, self.transferer
        if cb is None or cb.ended:
            return
        if self.talking_to_target:
            cb.suspend(r, on_gone=self._consult_party_gone)
            self.bridge.resume()
            self.bridge.watch_keys(r, self.codes, self.on_key)
        else:
            self.bridge.watch_keys(r, {}, None)
            self.bridge.suspend(r, on_gone=self.party_gone)
            cb.resume()
        self.talking_to_target = not self.talking_to_target

    def _consult_party_gone(self, leg: SipChannel) -> None:
        """While swapped to the transferee, the waiting target hung up."""
        cb = self.consult_bridge
        if cb is not None and leg is self.target:
            self.target = None
            cb.dissolve({self.transferer: Exit(PEER_HANGUP), leg: Exit(PEER_HANGUP)})
        elif leg is self.transferer:
            self._complete(hung_up=True)

    def _transferee_gone(self) -> None:
        """The transferee hung up: the transferer and the target go on as a call."""
        self.done = True
        r = self.transferer
        log.info("%s: the transferee hung up: the consultation goes on as the call", r.name)
        carried = self.bridge.dissolve({r: None})
        self._orphaned = True
        self._carried_transferer = carried.get(r)
        cb = self.consult_bridge
        if cb is not None and not cb.ended:
            cb.resume()
            cb.watch_keys(r, {}, None)
        self._events.put_nowait(("stop", None))


_FEATURES = {"blindxfer": _blind, "atxfer": _atxfer, "disconnect": _disconnect,
             "parkcall": _parkcall, "automixmon": _automixmon}
