"""Calls: the B2BUA's front door. Every new INVITE becomes an inbound leg running
the dialplan; in-dialog requests, ACKs, CANCELs and stray 2xx retransmissions
go to the leg whose dialog they belong to. One task per call (the dialplan),
none per message or packet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from pbx import q850
from pbx.call_limits import CallLimits
from pbx.cdr import cdr_row
from pbx.channel_media import FeatureServices
from pbx.identify import LineLookup, caller_id, identify
from pbx.legs import LegMaker
from pbx.media.clock import MediaClock
from pbx.media.moh import MusicOnHold
from pbx.media.ports import PortAllocator, PortsExhausted
from pbx.media.prompts import PromptLibrary, default_path
from pbx.sip.address import Address
from pbx.sip.message import Request, Response, make_response
from pbx.sip.sdp import NoCommonCodec, SdpError
from pbx.sip.transaction import CancelReceived, ServerTransaction

if TYPE_CHECKING:
    from pbx.config import Config, Peer
    from pbx.location import Location
    from pbx.sip.auth import DigestAuthenticator
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
                             run_local=self._local_call)
        core = self.core
        core.handlers["INVITE"] = self.on_invite
        for method in ("BYE", "INFO", "UPDATE"):
            core.handlers[method] = self.on_in_dialog
        core.ack_handler = self.on_ack
        core.cancel_handler = self.on_cancel
        core.stray_response_handler = self.on_stray_response

    async def stop(self) -> None:
        """Hang up every call (BYE/final answers go out), then stop."""
        for ch in list(self.channels.values()):
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
        from dialplan.interpreter import Interpreter, exists

        clock = getattr(self.dialplan_services, "clock", None)
        now = clock.time() if clock is not None else None
        # features.conf pickupexten: a group pickup before any dialplan (chan_pjsip).
        pickup = self.pickups is not None and exten == config.features.pickupexten
        if not pickup and not exists(dialplan, context, exten, callerid.num, now=now):
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
            log.info("%s: call from %s to %s@%s", leg.name, callerid.num or "?", exten, context)
            try:
                if pickup:
                    features = config.features
                    cause = await self.pickups.pickup_call(
                        leg, sound=features.pickupsound, fail_sound=features.pickupfailsound)
                else:
                    result = await Interpreter(dialplan, self.dialplan_services).run(leg)
                    cause = getattr(result, "cause", None) or q850.NORMAL_CLEARING
            except Exception:
                log.exception("%s: dialplan failed", leg.name)
                cause = q850.TEMPORARY_FAILURE
            await leg.hangup(cause)
            await self.write_cdr(leg)
        finally:
            self.by_invite_tx.pop(id(tx), None)

    async def _local_call(self, leg: Any) -> None:
        """The `;2` half of a Local channel runs the dialplan like an inbound call."""
        from dialplan.interpreter import Interpreter

        halves = [leg, leg.other] if leg.other is not None else [leg]
        for half in halves:  # `pbx channels` lists both halves while the call lasts
            self.channels[half.name] = half
        try:
            result = await Interpreter(self.config.dialplan, self.dialplan_services).run(leg)
            cause = getattr(result, "cause", None) or q850.NORMAL_CLEARING
        except Exception:
            log.exception("%s: dialplan failed", leg.name)
            cause = q850.TEMPORARY_FAILURE
        finally:
            for half in halves:
                if self.channels.get(half.name) is half:
                    del self.channels[half.name]
        await leg.hangup(cause)
        await self.write_cdr(leg)

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


