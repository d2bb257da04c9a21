"""Calls: the B2BUA's front door. Every new INVITE becomes an inbound leg running
the dialplan; in-dialog requests, ACKs, CANCELs and stray 2xx retransmissions
go to the leg whose dialog they belong to. One task per call (the dialplan),
none per message or packet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from pbx import q850
from pbx.call_limits import CallLimits
from pbx.cdr import cdr_row
from pbx.channel import CallerId, ChannelState
from pbx.channel_media import FeatureServices
from pbx.features_conf import FeaturesConfig
from pbx.identify import LineLookup, caller_id, identify
from pbx.legs import LegMaker
from pbx.media.clock import MediaClock
from pbx.media.moh import MusicOnHold
from pbx.media.ports import PortAllocator, PortsExhausted
from pbx.media.prompts import PromptLibrary, default_path
from pbx.parking import Parking
from pbx.parking_conf import ParkingConfig
from pbx.pickup import Pickups
from pbx.sip.address import Address
from pbx.sip.message import Request, Response, make_response
from pbx.sip.replaces import Replaces, ReplacesError, parse_replaces
from pbx.sip.sdp import NoCommonCodec, SdpError
from pbx.sip.transaction import CancelReceived, ServerTransaction
from pbx.transfer import Transfers

if TYPE_CHECKING:
    from pbx.bridge import Bridge
    from pbx.config import Config, Peer
    from pbx.location import Location
    from pbx.sip.auth import DigestAuthenticator
    from pbx.sip.refer import ReferRequest
    from pbx.sip.timers import TimerHeap
    from pbx.sipchannel import SipChannel
    from pbx.sipcore import SipCore
    from pbx.store import Store

log = logging.getLogger("pbx.calls")


class CallManager:
    """Routes call requests to legs and runs inbound calls through the dialplan."""

    def __init__(self, *, core: SipCore, config: Config, location: Location,
                 auth: DigestAuthenticator, store: Store | None,
                 unreachable: Callable[[Peer], bool] = lambda peer: False,
                 dialplan_services: Any = None,
                 line_endpoint: LineLookup | None = None, devices: Any = None,
                 pickups: Any = None) -> None:
        self.core = core
        self.config = config
        self.location = location
        self.auth = auth
        self.store = store
        self.channels: dict[str, SipChannel] = {}
        self.dialogs: dict[tuple[str, str], SipChannel] = {}
        self.by_invite_tx: dict[int, SipChannel] = {}
        self.tasks: set[asyncio.Task] = set()
        self.prompts = _prompt_library(config)
        self.legs: LegMaker | None = None
        self.moh: MusicOnHold | None = None  # the music-on-hold classes playing
        self.features: FeatureServices | None = None
        self.unreachable = unreachable  # qualify's verdict on a static peer
        # What the dialplan runs with (dialplan.services.DialplanServices: apps,
        # functions, globals, clock, AstDB, voicemail), one per PBX.
        self.dialplan_services = dialplan_services
        self.line_endpoint = line_endpoint  # pjsip line=yes: token -> endpoint
        self.limits = CallLimits(config.settings.max_calls)
        self.devices = devices  # pbx.sip_devstate.SipDevices: legs report to it (busy lamps)
        self.pickups = pickups  # pbx.pickup.Pickups: features.conf pickupexten (*8)
        # INVITE with Replaces naming a ringing leg picks it up as Pickup() does.
        self._replaces_pickups = pickups if pickups is not None else \
            Pickups(lambda: self.channels.values())
        self.transfers = Transfers(self, self)
        self.parking = Parking(config.parking or ParkingConfig(), self, self.channels.get)
        if dialplan_services is not None:
            dialplan_services.parking = self.parking

    async def start(self) -> None:
        lo, hi = self.config.settings.rtp_ports
        clock = MediaClock(asyncio.get_running_loop())
        self.moh = MusicOnHold(clock, self.config.moh or _no_moh())
        self.features = FeatureServices(moh=self.moh, clock=clock,
                                        monitor_dir=_monitor_dir(self.config))
        self.legs = LegMaker(signalling=self.core, config=lambda: self.config,
                             location=self.location, ports=PortAllocator(lo, hi),
                             media_clock=clock,
                             dialogs=self, prompts=lambda: self.prompts, spawn=self.spawn,
                             unreachable=self.unreachable, limits=self.limits,
                             devices=self.devices, features=self.features,
                             run_local=self._local_call, calls=self)
        core = self.core
        core.handlers["INVITE"] = self.on_invite
        for method in ("BYE", "INFO", "UPDATE", "REFER", "NOTIFY"):
            core.handlers[method] = self.on_in_dialog
        core.ack_handler = self.on_ack
        core.cancel_handler = self.on_cancel
        core.stray_response_handler = self.on_stray_response

    async def stop(self) -> None:
        """Hang up every call (BYE/final answers go out), then stop."""
        for ch in list(self.channels.values()):
            ch.abandon_refer()
            await ch.hangup(q850.NORMAL_CLEARING)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=1.0)

    def reload(self, config: Config, auth: DigestAuthenticator) -> None:
        """New calls use the new config and dialplan; calls in progress keep theirs."""
        self.config = config
        self.auth = auth
        self.prompts = _prompt_library(config)
        self.limits.max_calls = config.settings.max_calls
        if self.moh is not None and config.moh is not None:
            self.moh.reload(config.moh)
        if self.features is not None:
            self.features.monitor_dir = _monitor_dir(config)
        self.parking.reload(config.parking or ParkingConfig())

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run a coroutine as a task the manager keeps (and cancels at stop)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # --- DialogIndex: (Call-ID, our tag) -> leg ---------------------------------------
    def add(self, call_id: str, local_tag: str, leg: SipChannel) -> None:
        self.dialogs[(call_id, local_tag)] = leg
        self.channels[leg.name] = leg

    def remove(self, call_id: str, local_tag: str) -> None:
        leg = self.dialogs.pop((call_id, local_tag), None)
        if leg is not None and self.channels.get(leg.name) is leg:
            del self.channels[leg.name]

    def channel_rows(self) -> list[dict]:
        return [{"name": c.name, "context": c.context, "exten": c.exten,
                 "priority": c.priority, "state": c.state.value, "lastapp": c.lastapp,
                 "lastdata": c.lastdata, "bridged": c.bridged_to.name if c.bridged_to else ""}
                for c in self.channels.values()]

    # --- routing ----------------------------------------------------------------------
    def _leg_for(self, msg: Request) -> SipChannel | None:
        tag = msg.to_addr.tag
        return self.dialogs.get((msg.call_id, tag)) if tag else None

    def on_in_dialog(self, req: Request, tx: ServerTransaction, source: Address) -> None:
        leg = self._leg_for(req)
        if leg is None:
            self.core.respond(tx, make_response(req, 481, "Call/Transaction Does Not Exist"))
            return
        leg.on_request(req, tx)

    def on_ack(self, ack: Request, invite_tx: ServerTransaction | None, source: Address) -> None:
        leg = self._leg_for(ack)
        if leg is not None:
            leg.on_ack(ack)

    def on_cancel(self, action: CancelReceived) -> None:
        leg = self.by_invite_tx.get(id(action.invite_tx))
        if leg is not None:
            leg.on_cancel()

    def on_stray_response(self, resp: Response) -> None:
        # Our requests carry our tag in From: that names the leg.
        leg = self.dialogs.get((resp.call_id, resp.from_addr.tag or ""))
        if leg is not None:
            leg.on_stray_response(resp)

    # --- new calls ------------------------------------------------------------------
    def on_invite(self, req: Request, tx: ServerTransaction, source: Address) -> None:
        if req.to_addr.tag:
            self.on_in_dialog(req, tx, source)
            return
        # No 100 Trying here: the transaction sends one if no answer goes out in 200 ms.
        peer, refusal = self.identify(req, source)
        if refusal is not None:
            self.core.respond(tx, refusal)
            return
        limits = self.limits
        if not limits.take_call():
            log.warning("call from %s refused: sip.max_calls (%d) calls in progress", source,
                        limits.max_calls)
            self.core.respond(tx, make_response(req, 503, "Service Unavailable"))
            return
        if not limits.take_peer(peer):
            limits.end_call()
            assert peer is not None
            log.warning("call from %s refused: it has its call-limit of %d calls", peer.name,
                        peer.call_limit)
            self.core.respond(tx, make_response(req, 480, "Temporarily Unavailable (Call limit)"))
            return
        self.spawn(self._inbound_call(req, tx, source, peer))

    def identify(self, req: Request, source: Address) -> tuple[Peer | None, Response | None]:
        """Who is calling: (peer, None) to go on, or (None, response) to refuse
        (pbx/identify.py: line, source address, From user, 407 digest, guests)."""
        return identify(req, source, self.config.sip, self.auth, self.core.now(),
                        self.line_endpoint)

    async def _inbound_call(self, req: Request, tx: ServerTransaction, source: Address,
                            peer: Peer | None) -> None:
        config = self.config  # the snapshot this call keeps
        try:
            await self._run_call(req, tx, source, peer, config)
        finally:
            self.limits.end_call()
            self.limits.end_peer(peer)

    async def _run_call(self, req: Request, tx: ServerTransaction, source: Address,
                        peer: Peer | None, config: Config) -> None:
        dialplan = config.dialplan
        context = peer.context if peer else config.sip.general.context
        # A provider sends its DID, or the user of the contact it registered
        # (sip.conf register => .../extension, pjsip contact_user).
        exten = req.uri.user or "s"
        callerid = caller_id(req, peer)
        from dialplan.interpreter import exists

        replaces: Replaces | None = None
        if "Replaces" in req.headers:
            try:
                replaces = parse_replaces(req.headers.get("Replaces") or "")
            except ReplacesError as exc:
                self.core.respond(tx, make_response(req, 400, f"Bad Request - {exc}"))
                return
            old, status = self.transfers.check_replaces(replaces)
            if old is None:
                log.info("INVITE with Replaces from %s refused (%d)", source, status)
                self.core.respond(tx, make_response(req, status))
                return
        clock = getattr(self.dialplan_services, "clock", None)
        now = clock.time() if clock is not None else None
        # features.conf pickupexten: a group pickup before any dialplan (chan_pjsip).
        pickup = self.pickups is not None and exten == config.features.pickupexten
        if replaces is None and not pickup and \
                not exists(dialplan, context, exten, callerid.num, now=now):
            log.info("call from %s to %s@%s: no such extension", source, exten, context)
            self.core.respond(tx, make_response(req, 404, "Not Found"))
            return
        assert self.legs is not None
        try:
            leg = await self.legs.new_leg(peer.name if peer else source.host, inbound=True,
                                          peer=peer, local=self.legs.local_for(source),
                                          remote_host=source.host)
        except (PortsExhausted, OSError) as exc:
            log.error("call to %s refused: %s", exten, exc)
            self.core.respond(tx, make_response(req, 503, "Service Unavailable"))
            return
        self.legs.answer_invite(leg, req, tx, source)
        self.by_invite_tx[id(tx)] = leg
        try:
            leg.context, leg.exten, leg.priority = context, exten, 1
            leg.callerid = callerid
            leg.language = peer.language if peer and peer.language else config.settings.language
            leg.tonezone = (peer.tonezone if peer else None) or ""  # indications.conf zone
            if req.body:
                try:
                    leg.take_offer(req.body)
                except NoCommonCodec:
                    await leg.hangup(q850.BEARER_NOT_AVAIL)  # 488 Not Acceptable Here
                    return
                except SdpError as exc:
                    log.info("%s: bad SDP from %s: %s", leg.name, source, exc)
                    await leg.hangup(q850.INTERWORKING)
                    return
            if replaces is not None:
                await self._replacing_call(leg, replaces)
                return
            log.info("%s: call from %s to %s@%s", leg.name, callerid.num or "?", exten, context)
            if pickup:
                features = config.features
                await self._run_to_end(leg, self.pickups.pickup_call(
                    leg, sound=features.pickupsound, fail_sound=features.pickupfailsound))
            else:
                await self._run_to_end(leg, self._interpret(dialplan, leg))
        finally:
            self.by_invite_tx.pop(id(tx), None)

    async def _replacing_call(self, leg: SipChannel, replaces: Replaces) -> None:
        """INVITE with Replaces (RFC 3891): take the old leg's place, stay until the
        call ends. No dialplan runs for it (as in Asterisk). A leg that still rings
        is picked up (pbx.pickup, as Pickup() does); an answered one is replaced in
        its bridge, or taken out of its parking space."""
        old, status = self.transfers.check_replaces(replaces)  # still there?
        if old is None:
            await leg.hangup(q850.cause_from_sip(status))
            return
        if old.state is not ChannelState.UP:
            dial = old.in_dial
            if not await self._replaces_pickups.pickup(leg, old):
                await leg.hangup(q850.cause_from_sip(481))  # it stopped ringing meanwhile
                return
            log.info("%s picks up the call ringing %s (INVITE with Replaces)", leg.name,
                     old.name)
            if dial is not None:
                leg.dst_channel = dial.caller
                leg.transfer = {"type": "replaces", "role": "transferee",
                                "replaced": old.name, "target": dial.caller.name}
            await leg.hungup.wait()
            await self.write_cdr(leg)
            return
        await leg.answer()
        taken = self.transfers.take_over(old, leg)
        if taken is False:
            await leg.hangup(q850.NORMAL_CLEARING)
            return
        if taken is not True:  # a parked call: our exit from the bridge with it
            await taken
            await leg.hangup(q850.NORMAL_CLEARING)
        await leg.hungup.wait()
        await self.write_cdr(leg)

    # --- CallControl: what legs ask of the PBX beyond their own call ----------------
    def refer(self, leg: SipChannel, request: ReferRequest,
              report: Callable[[int, bool], None]) -> None:
        self.transfers.refer(leg, request, report)

    def bridge_host(self) -> CallManager:
        return self

    def features_config(self) -> FeaturesConfig:
        return getattr(self.config, "features", None) or FeaturesConfig()

    # --- BridgeHost ---------------------------------------------------------------------
    @property
    def timers(self) -> TimerHeap:
        """The SIP core's one heap: a bridge's featuredigittimeout goes there."""
        return self.core.timers

    def now(self) -> float:
        return self.core.now()

    def run_dialplan(self, leg: SipChannel, context: str, exten: str, priority: int = 1) -> None:
        """Start a leg that has no dialplan of its own (a transferee) at exten@context."""
        self.spawn(self._run_leg(leg, context, exten, priority))

    async def _run_leg(self, leg: SipChannel, context: str, exten: str, priority: int) -> None:
        log.info("%s: sent to %s@%s", leg.name, exten, context)
        _new_record(leg)
        if not leg.inbound and leg.peer is not None:
            # It calls on as itself: the caller ID it was shown was the other party's.
            leg.callerid = _peer_caller_id(leg.peer)
            leg.language = leg.peer.language or self.config.settings.language
        await self._run_to_end(leg, self._interpret(self.config.dialplan, leg, context, exten,
                                                    priority))

    async def _interpret(self, dialplan: Any, leg: Any, *where: Any) -> int | None:
        """Run ``leg`` through ``dialplan`` (at ``where``: context, exten, priority);
        the cause it ended with."""
        from dialplan.interpreter import Interpreter

        result = await Interpreter(dialplan, self.dialplan_services).run(leg, *where)
        return getattr(result, "cause", None)

    async def _run_to_end(self, leg: Any, run: Awaitable[int | None]) -> None:
        """Await a leg's dialplan (or pickup), then hang the leg up with the cause it
        ended with and write its CDR."""
        try:
            cause = await run or q850.NORMAL_CLEARING
        except Exception:
            log.exception("%s: dialplan failed", leg.name)
            cause = q850.TEMPORARY_FAILURE
        await leg.hangup(cause)
        await self.write_cdr(leg)

    def run_feature(self, bridge: Bridge, leg: SipChannel, feature: str) -> None:
        from pbx.feature_calls import run_feature

        run_feature(self, bridge, leg, feature)

    def hold_music(self, leg: SipChannel, on: bool, music_class: str = "") -> None:
        """A party that waits hears music on hold from the classes of musiconhold.conf
        (pbx.media.moh): a parked call (``music_class``: its lot's parkedmusicclass),
        the transferee while its transferer dials or consults. The class is chosen
        as Asterisk's holding bridge does (pbx.channel_media): CHANNEL(musicclass)
        first while musiconhold.conf's preferchannelclass=yes (the default), then
        ``music_class``, then the leg's mohinterpret, then `default`."""
        features = getattr(leg, "features", None)
        if features is None:
            return
        if on:
            peer = getattr(leg, "peer", None)
            features.start_moh(music_class or None, getattr(peer, "mohinterpret", None))
        else:
            features.stop_moh()

    # --- TransferHost -------------------------------------------------------------------
    def leg_by_dialog(self, call_id: str, tag: str) -> SipChannel | None:
        return self.dialogs.get((call_id, tag))

    def extension_exists(self, context: str, exten: str, callerid: str | None) -> bool:
        from dialplan.interpreter import exists

        clock = getattr(self.dialplan_services, "clock", None)
        now = clock.time() if clock is not None else None
        dialplan = self.config.dialplan
        return dialplan is not None and exists(dialplan, context, exten, callerid, now=now)

    def extension_matches_more(self, context: str, digits: str) -> bool:
        """Whether more digits could still make an extension (collecting a target)."""
        from dialplan import patterns

        clock = getattr(self.dialplan_services, "clock", None)
        now = clock.time() if clock is not None else None
        dialplan = self.config.dialplan
        return dialplan is not None and patterns.find_can_match_more(dialplan, context, digits,
                                                                     now)

    def is_park_exten(self, context: str, exten: str) -> bool:
        """Whether exten@context reaches a parking lot's parkext (through includes)."""
        from dialplan import patterns

        dialplan = self.config.dialplan
        parking = self.config.parking
        if dialplan is None or parking is None:
            return False
        found = patterns.find(dialplan, context, exten, None, priority=1)
        return found is not None and parking.lot_for_exten(found[0].name, found[1].name) \
            is not None

    def take_parked(self, leg: SipChannel, taker: SipChannel | None) -> Any:
        """``leg`` parked? With a ``taker``, it takes it (the taker's bridge exit,
        awaitable); without, whether it is parked (None if not)."""
        call = self.parking.parked(leg)
        if call is None or taker is None:
            return call
        return self.parking.retrieve(call, taker)

    def fork_cdr(self, leg: SipChannel, transfer: dict[str, str]) -> None:
        """A transfer ends the record a leg's own dialplan keeps: write it now, start anew."""
        if self.store is not None and not leg.cdr.disabled:
            row = cdr_row(leg, time.time())
            if row is not None:
                self.spawn(self._add_cdr(row, leg.name))
        _new_record(leg)
        leg.transfer = transfer

    def track_cdr(self, leg: SipChannel, transfer: dict[str, str]) -> None:
        """A leg without a dialplan starts a record of its own, written when it ends."""
        _new_record(leg)
        leg.transfer = transfer

        def written(ch: SipChannel) -> None:
            self.spawn(self.write_cdr(ch))
        leg.on_gone(written)

    async def _add_cdr(self, row: dict, name: str) -> None:
        assert self.store is not None
        try:
            await self.store.add_cdr(row)
        except Exception:
            log.exception("could not write the CDR of %s", name)

    # --- Local channels -------------------------------------------------------------
    async def _local_call(self, leg: Any) -> None:
        """The `;2` half of a Local channel runs the dialplan like an inbound call."""
        halves = [leg, leg.other] if leg.other is not None else [leg]
        for half in halves:  # `pbx channels` lists both halves while the call lasts
            self.channels[half.name] = half

        async def run() -> int | None:
            try:
                return await self._interpret(self.config.dialplan, leg)
            finally:
                for half in halves:
                    if self.channels.get(half.name) is half:
                        del self.channels[half.name]

        await self._run_to_end(leg, run())

    # --- CDR -------------------------------------------------------------------------
    async def write_cdr(self, ch: SipChannel) -> None:
        """One record per call, written when the calling leg ends (pbx.cdr builds it)."""
        if self.store is None:
            return
        row = cdr_row(ch, time.time())
        if row is None:
            return  # CDR_PROP(disable)=1 / NoCDR()
        try:
            await self.store.add_cdr(row)
        except Exception:
            log.exception("could not write the CDR of %s", ch.name)


def _new_record(leg: SipChannel) -> None:
    """The CDR fields of a leg start again (a transfer gave it a new call)."""
    now = time.time()
    leg.created_at = now
    leg.answered_at = now if leg.state is ChannelState.UP else None
    leg.dst_channel = None
    leg.lastapp = leg.lastdata = ""


def _peer_caller_id(peer: Peer) -> CallerId:
    return CallerId(num=peer.callerid.num or peer.name, name=peer.callerid.name)


def _monitor_dir(config: Config) -> str:
    """Where MixMonitor puts relative file names (Asterisk: /var/spool/asterisk/monitor)."""
    return str(config.settings.storage_dir / "monitor")


def _no_moh() -> Any:
    from pbx.moh_conf import MohConfig

    return MohConfig()


def _prompt_library(config: Config) -> PromptLibrary:
    from pbx.dialplan_loader import _repo_root

    settings = config.settings
    return PromptLibrary(settings.sounds_path or default_path(_repo_root()), settings.language)


