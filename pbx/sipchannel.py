"""SipChannel: one call leg as the dialplan sees it, on SIP.

The SIP side of the leg is an :class:`~pbx.sip.invite_usage.InviteUsage`
(sans-I/O); this class is its edge. It carries out the usage's actions through
the :class:`~pbx.signalling.Signalling` port and maps the usage's events to
media (:class:`~pbx.offer_answer.LegSdp`, the media session, the bridge) and
to the dialplan (hangup). Dialplan applications only see the Channel methods.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pbx import dtmf_mode, q850
from pbx.channel import Channel, ChannelState, DialResult, DialTarget
from pbx.channel_media import ChannelMedia, FeatureServices, MediaFeatures
from pbx.leg_media import LegMedia
from pbx.media.dtmf import parse_dtmf_info
from pbx.media.inband import DtmfDetector, InbandSender
from pbx.media.player import Player
from pbx.media.tones import tone_audio
from pbx.offer_answer import LegSdp
from pbx.sip.address import Address
from pbx.sip.invite import (
    Accepted,
    AckReceived,
    AckTimeout,
    Cancelled,
    Challenged,
    Failed,
    InviteSettings,
    OfferAnswered,
    OfferFailed,
    OfferReceived,
    OtherRequest,
    Progress,
    RemoteBye,
    Respond,
    SendRequest,
    SendStateless,
    SessionExpired,
    UsageState,
)
from pbx.sip.message import Request, Response, make_response
from pbx.sip.refer import ReferError, ReferFinished, ReferNotifier, ReferRequest, parse_refer
from pbx.sip.sdp import Format, NoCommonCodec, SdpError

if TYPE_CHECKING:
    from pbx.bridge import Bridge, BridgeHost
    from pbx.config import Peer
    from pbx.features_conf import FeaturesConfig
    from pbx.indications import ToneList
    from pbx.media.prompts import PromptLibrary
    from pbx.media.relay import Relay
    from pbx.media.session import MediaSession
    from pbx.signalling import Signalling
    from pbx.sip.invite_usage import InviteUsage

log = logging.getLogger("pbx.channel")

IN_DIALOG_METHODS = "INVITE, ACK, BYE, CANCEL, INFO, UPDATE, REFER, NOTIFY"
# After the final NOTIFY of a REFER the transferer's phone hangs up by itself;
# the PBX sends its own BYE only if it has not within this time.
REFER_BYE_GRACE = 2.0


class DialogIndex(Protocol):
    """Where in-dialog requests find their leg: (Call-ID, our tag) -> leg."""

    def add(self, call_id: str, local_tag: str, leg: SipChannel) -> None: ...

    def remove(self, call_id: str, local_tag: str) -> None: ...


class LegWatcher(Protocol):
    """Who hears that a leg changed what busy lamps show: created, ringing, answered,
    held or resumed, ended (pbx.sip_devstate.SipDevices reads the leg's peer,
    inbound, state, held, callerid and created_at)."""

    def leg_changed(self, leg: SipChannel) -> None: ...


class Dialer(Protocol):
    """What Dial() needs from the PBX (pbx.dial)."""

    async def dial(self, caller: SipChannel, targets: list[DialTarget], timeout: float | None,
                   options: str, consult: Any = None) -> DialResult: ...


class CallControl(Protocol):
    """What a leg asks of the PBX beyond its own call: transfers (pbx.transfer) and
    what bridges need (pbx.bridge.BridgeHost)."""

    def refer(self, leg: SipChannel, request: ReferRequest,
              report: Callable[[int, bool], None]) -> None: ...

    def bridge_host(self) -> BridgeHost: ...

    def features_config(self) -> FeaturesConfig: ...


@dataclass(slots=True)
class LegServices:
    """What a leg needs from the PBX, and nothing more."""

    signalling: Signalling
    dialogs: DialogIndex
    prompts: Callable[[], PromptLibrary]  # the current library (a reload replaces it)
    spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task]
    settings: InviteSettings
    dialer: Dialer
    devices: LegWatcher | None = None  # device state (busy lamps); None: nobody watches
    features: FeatureServices | None = None  # music on hold, MixMonitor (pbx.channel_media)
    calls: CallControl | None = None  # transfers, bridges (pbx.calls.CallManager)


class SipChannel(MediaFeatures, LegMedia, Channel):
    """A call leg on SIP. Inbound legs come from pbx.calls, outbound ones from pbx.dial."""

    # Legs are identities, not values: Dial keeps them in sets and dicts, and the
    # dataclass __eq__ of Channel would compare every field (and unset __hash__).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(self, name: str, *, services: LegServices, inbound: bool, peer: Peer | None,
                 media: MediaSession, local: Address, sdp_address: str,
                 session_id: int, codec_names: list[str]) -> None:
        super().__init__(name=name)
        self.services = services
        self.inbound = inbound
        self.peer = peer
        self.media = media
        self.local = local  # our SIP transport address for this leg
        self.sdp = LegSdp(media, sdp_address, session_id, codec_names=codec_names, peer=peer,
                          transport=local.transport, label=name)
        self.usage: InviteUsage | None = None
        self.held = False  # the phone of this leg put the call on hold (device ONHOLD)
        self.call_id = ""
        self.local_tag = ""
        self.ended_at: float | None = None
        self.stats: Any = None  # MediaStats at hangup, for the CDR
        self.early = False  # early media flows (183 with SDP sent or received)
        self.player = Player(media)
        self.relay: Relay | None = None
        self.bridged_to: SipChannel | None = None
        self.bridge: Bridge | None = None  # the pbx.bridge.Bridge this leg is in
        self.offered_direction = "sendrecv"  # what our last offer said (hold reflected)
        self.refer: ReferNotifier | None = None  # a REFER from this leg's phone, in progress
        self._refers = 0  # REFERs received in this dialog (Event id of the later ones)
        self._refer_done: asyncio.Future | None = None  # a hangup waiting for the REFER
        self.dialing: Any = None  # the pbx.dial.Dial this leg waits in, while it rings
        self.in_dial: Any = None  # the pbx.dial.Dial ringing this outbound leg
        self.dst_channel: SipChannel | None = None  # the CDR's dstchannel
        # The Dial that owns this outbound leg hears Progress/Accepted/Failed here.
        self.dial_events: Callable[[SipChannel, Any], None] | None = None
        self._offer_in_2xx = False  # our offer went in a 2xx: the ACK brings the answer
        self._invite_headers: Any = None  # the inbound INVITE's Headers (PJSIP_HEADER(read))
        self._indexed = False
        self._invites: list[Any] = []  # our INVITEs' client transactions
        # DTMF: dtmfmode= / dtmf_mode= of the peer (pbx/dtmf_mode.py).
        self.dtmf_mode = peer.dtmfmode if peer is not None else "rfc2833"
        self.sdp.telephone_event = dtmf_mode.offers_telephone_event(self.dtmf_mode)
        self.sdp.applied = self._dtmf_setup
        self._detector: DtmfDetector | None = None
        self._tones: InbandSender | None = None
        self.features = ChannelMedia(self, media, services.features)
        media.on_dtmf = self.on_digit
        media.on_timeout = self._rtp_timeout

    # --- device state: every change of state is reported (busy lamps) ----------
    # A property, so a state set anywhere (Channel's answer()/ringing(), Dial,
    # transfer, parking) reaches the device-state registry without each place
    # having to remember it.
    @property  # type: ignore[override]
    def state(self) -> ChannelState:
        return self._state

    @state.setter
    def state(self, value: ChannelState) -> None:
        if getattr(self, "_state", None) is value:
            return
        self._state = value
        self._report()

    def set_held(self, held: bool) -> None:
        """This leg's phone held (True) or resumed (False) the call."""
        if held != self.held:
            self.held = held
            self._report()

    def _report(self) -> None:
        services = getattr(self, "services", None)  # unset while Channel.__init__ runs
        if services is not None and services.devices is not None:
            services.devices.leg_changed(self)

    # --- the edge: the usage's actions out, its events in ----------------------
    def attach(self, usage: InviteUsage, call_id: str, local_tag: str) -> None:
        """Give the leg its INVITE usage; in-dialog requests find it from now on."""
        self.usage = usage
        self.call_id = call_id
        self.local_tag = local_tag
        self.services.dialogs.add(call_id, local_tag, self)
        self._indexed = True
        self._report()  # the device has a new call

    def now(self) -> float:
        return self.services.signalling.now()

    def run(self, actions: list[Any]) -> None:
        """Carry out what the usage returned: wire actions, then its events."""
        sig = self.services.signalling
        for action in actions:
            kind = type(action)
            if kind is Respond:
                sig.respond(action.tx, action.response)
            elif kind is SendStateless:
                sig.send_bytes(action.data, action.dest)
            elif kind is SendRequest:
                req = action.request
                tx = sig.send_request(req, action.dest, self._on_response,
                                      functools.partial(self._on_failure, req.method,
                                                        req.cseq[0]))
                if req.method == "INVITE":
                    # An answered INVITE's transaction lingers 32 s for 2xx
                    # retransmissions: let go of it once the call is over.
                    self._invites.append(tx)
            else:
                self._event(action)
        if self._indexed and self.state is ChannelState.HUNGUP and self.usage is not None \
                and self.usage.state is UsageState.TERMINATED:
            self.services.dialogs.remove(self.call_id, self.local_tag)
            self._indexed = False
            for tx in self._invites:
                sig.forget(tx)
            self._invites.clear()
            self.usage.release()

    def _on_response(self, resp: Response | None) -> None:
        if resp is None:
            return
        if resp.cseq[1] == "NOTIFY":
            if self.refer is not None:
                self.run(self.refer.on_response(resp, self.now()))
            return
        if self.usage is not None:
            self.run(self.usage.on_response(resp, self.now()))

    def _on_failure(self, method: str, cseq: int, status: int) -> None:
        if method == "NOTIFY":
            if self.refer is not None:
                self.run(self.refer.on_failure(cseq, self.now()))
            return
        if self.usage is not None:
            self.run(self.usage.on_failure(method, cseq, self.now(), status))

    def on_timer(self, kind: str, now: float) -> None:
        """A usage timer fired (this leg owns its entries on the core's heap)."""
        if kind.startswith("refer"):
            if self.refer is not None:
                self.run(self.refer.on_timer(kind, now))
            return
        if self.usage is not None:
            self.run(self.usage.on_timer(kind, now))

    def on_request(self, req: Request, tx: Any) -> None:
        """An in-dialog request (BYE, re-INVITE, UPDATE, INFO...)."""
        if self.usage is not None:
            self.run(self.usage.on_request(req, tx, self.now()))

    def on_ack(self, ack: Request) -> None:
        if self.usage is not None:
            self.run(self.usage.on_ack(ack, self.now()))

    def on_cancel(self) -> None:
        if self.usage is not None:
            self.run(self.usage.on_cancel(self.now()))

    def on_stray_response(self, resp: Response) -> None:
        """A response whose transaction is over (a retransmitted 2xx to re-ACK)."""
        self._on_response(resp)

    def _event(self, ev: Any) -> None:
        kind = type(ev)
        if kind is AckReceived:
            self._ack_received(ev.ack)
        elif kind is OfferReceived:
            self._offer_received(ev.request)
        elif kind is OfferAnswered:
            self._offer_answered(ev.response)
        elif kind is OfferFailed:
            log.info("%s: our re-INVITE failed (%d)", self.name, ev.status)
        elif kind is RemoteBye:
            # RFC 3326: the cause in the remote's Reason header, if any (as chan_pjsip).
            self._gone(q850.reason_cause(ev.request.headers.get_all("Reason"))
                       or q850.NORMAL_CLEARING)
        elif kind is Cancelled:
            self._gone(q850.NORMAL_CLEARING)
        elif kind is AckTimeout:
            log.warning("%s: no ACK for our 200 OK, hanging up", self.name)
            self._gone(q850.TEMPORARY_FAILURE)
        elif kind is SessionExpired:
            log.warning("%s: session timer expired (no refresh), hanging up", self.name)
            self._gone(q850.TEMPORARY_FAILURE)
        elif kind is OtherRequest:
            self._other_request(ev.request, ev.tx)
        elif kind is Progress:
            self._progress(ev.response)
        elif kind is Accepted:
            self._accepted(ev.response)
        elif kind is Failed:
            self._failed(ev.status, ev.response)
        elif kind is Challenged:
            log.info("%s: answered the %d challenge of realm %r with %s's credentials",
                     self.name, ev.status, ev.realm, self.peer.name if self.peer else "?")
        elif kind is ReferFinished:
            self._refer_finished()

    # --- inbound: the INVITE we answer -----------------------------------------
    def keep_invite_headers(self, headers: Any) -> None:
        """Keep the inbound INVITE's headers (the parsed list, not the request)."""
        self._invite_headers = headers

    def invite_headers(self) -> list[tuple[str, str]]:
        return self._invite_headers.items() if self._invite_headers is not None else []

    def take_offer(self, body: bytes) -> None:
        """The initial INVITE's offer; raises NoCommonCodec/SdpError."""
        self.sdp.answer(body)

    def _respond(self, status: int, reason: str, body: bytes = b"") -> None:
        assert self.usage is not None
        self.run(self.usage.respond(status, reason, self.now(), body=body))

    async def ringing(self) -> None:
        if self.inbound and self.state in (ChannelState.RING, ChannelState.RINGING):
            self._respond(180, "Ringing")
        await super().ringing()

    async def progress(self) -> None:
        self.check_hangup()
        # On a late offer there is no SDP to put in a 183 (no 100rel): no early media.
        if (self.inbound and self.state is not ChannelState.UP and not self.early
                and self.sdp.negotiated is not None):
            self._respond(183, "Session Progress", self.sdp.local)
            self.early = True

    async def answer(self) -> None:
        self.check_hangup()
        if not self.inbound or self.state is ChannelState.UP:
            return
        if self.sdp.negotiated is not None:
            body = self.sdp.local
        else:  # late offer: ours goes in the 200, the answer comes in the ACK
            body = self.sdp.offer()
            self._offer_in_2xx = True
        self._respond(200, "OK", body)
        await super().answer()

    @property
    def codec_open(self) -> bool:
        """An inbound leg whose SDP answer has not gone out: its codec may still change."""
        return (self.inbound and self.sdp.remote_offer is not None and not self.early
                and self.state is not ChannelState.UP)

    def prefer_codec(self, callee: Format) -> None:
        """Take the callee's codec if our answer is not out yet (no transcoding)."""
        if self.codec_open:
            self.sdp.prefer(callee)

    def _ack_received(self, ack: Request) -> None:
        if self._offer_in_2xx:
            self._offer_in_2xx = False
            if ack.body:
                self._take_answer(ack.body)

    # --- outbound: the INVITE Dial sent ---------------------------------------
    def _progress(self, resp: Response) -> None:
        if resp.status == 183 and resp.body and not self.early:
            try:
                self.sdp.take_answer(resp.body)
                self.early = True
            except SdpError as exc:
                log.info("%s: unusable early SDP: %s", self.name, exc)
        if self.state is ChannelState.RING:
            self.state = ChannelState.RINGING
        self._tell_dial(Progress(resp))

    def _accepted(self, resp: Response) -> None:
        if not self.early or resp.body:
            try:
                self.sdp.take_answer(resp.body)
            except SdpError as exc:
                log.warning("%s: unusable SDP answer: %s", self.name, exc)
                self.services.spawn(self.hangup(q850.BEARER_NOT_AVAIL))
                self._tell_dial(Failed(488, resp))
                return
        self.state = ChannelState.UP
        self.answered_at = time.time()
        self._tell_dial(Accepted(resp))

    def _failed(self, status: int, resp: Response | None) -> None:
        reasons = resp.headers.get_all("Reason") if resp is not None else ()
        self._gone(q850.cause_of_response(status, reasons))
        self._tell_dial(Failed(status, resp))

    def _tell_dial(self, ev: Any) -> None:
        if self.dial_events is not None:
            self.dial_events(self, ev)

    def cancel(self, reason: str | None = None) -> None:
        """Give up an outbound leg still ringing (Dial's losers: CANCEL with Reason)."""
        if self.usage is not None and self.state is not ChannelState.HUNGUP:
            self.run(self.usage.hangup(self.now(), reason=reason))
        self._gone(q850.NORMAL_CLEARING)

    # --- mid-call offers: hold, resume, refresh ---------------------------------
    def _offer_received(self, req: Request) -> None:
        usage = self.usage
        assert usage is not None
        now = self.now()
        if not req.body:
            # A re-INVITE without SDP: we offer in the 2xx, the ACK answers.
            body = self.sdp.offer()
            self._offer_in_2xx = req.method == "INVITE"
            self.run(usage.answer_offer(200, now, body=body))
            return
        was_holding = self.holding
        try:
            body = self.sdp.answer(req.body)
        except NoCommonCodec:
            self.run(usage.answer_offer(488, now))
            return
        except SdpError as exc:
            self.run(usage.answer_offer(400, now, reason=f"Bad Request - {exc}"))
            return
        if self.relay is not None:
            self.relay.refresh()
        self.features.media_changed()
        self.run(usage.answer_offer(200, now, body=body))
        self._hold_changed(was_holding)

    def _hold_changed(self, was_holding: bool) -> None:
        # moh: a hold (sendonly/inactive or c=0.0.0.0) gives the other party music on
        # hold, Asterisk's default; resuming stops it (pbx.channel_media).
        self.set_held(self.holding)  # the device shows ONHOLD (busy lamps)
        if self.holding != was_holding and self.bridged_to is not None:
            log.info("%s: %s; %s", self.name, "on hold" if self.holding else "resumed",
                     self.bridged_to.name)
            self.bridged_to.peer_hold(self.holding, self)

    @property
    def holding(self) -> bool:
        """The phone of this leg holds the call (it does not want our media)."""
        negotiated = self.sdp.negotiated
        return negotiated is not None and negotiated.on_hold

    def reflect_hold(self, direction: str) -> None:
        """The other leg of our bridge holds or resumes: offer the same direction
        (pjsip.conf moh_passthrough=yes, instead of music on hold)."""
        if self.usage is None or self.state is not ChannelState.UP:
            return
        self.offered_direction = direction
        self.run(self.usage.offer(self.sdp.offer(direction), self.now()))

    def match_direction(self, direction: str) -> None:
        """A new party (a transfer): offer its direction if ours differs (a leg
        held while its transferer called someone else is resumed)."""
        if direction != self.offered_direction:
            self.reflect_hold(direction)

    def _offer_answered(self, resp: Response) -> None:
        if resp.body:
            self._take_answer(resp.body)

    def _take_answer(self, body: bytes) -> None:
        was_holding = self.holding
        try:
            self.sdp.take_answer(body)
        except SdpError as exc:
            log.warning("%s: unusable SDP answer: %s", self.name, exc)
            return
        if self.relay is not None:
            self.relay.refresh()
        self.features.media_changed()
        self._hold_changed(was_holding)  # a hold or resume by a re-INVITE without SDP

    def _other_request(self, req: Request, tx: Any) -> None:
        sig = self.services.signalling
        if req.method == "INFO":
            digit = parse_dtmf_info(req.content_type or "", req.body)
            if digit is None and req.body:
                sig.respond(tx, make_response(req, 415, "Unsupported Media Type", headers=[
                    ("Accept", "application/dtmf-relay, application/dtmf")]))
                return
            sig.respond(tx, make_response(req, 200, "OK"))
            if digit:
                self.media.digit_detected(digit)
            return
        if req.method == "REFER":
            self._refer_received(req, tx)
            return
        if req.method == "NOTIFY":  # we subscribe to nothing in a call
            sig.respond(tx, make_response(req, 481, "Subscription does not exist"))
            return
        sig.respond(tx, make_response(req, 405, "Method Not Allowed",
                                      headers=[("Allow", IN_DIALOG_METHODS)]))

    # --- transfer: REFER from this leg's phone -------------------------------------
    def _refer_received(self, req: Request, tx: Any) -> None:
        """RFC 3515: accept, then tell the phone how the transfer goes (NOTIFY)."""
        sig = self.services.signalling
        usage = self.usage
        calls = self.services.calls
        if usage is None or calls is None or self.state is not ChannelState.UP:
            sig.respond(tx, make_response(req, 603, "Declined"))
            return
        if self.refer is not None and not self.refer.finished:
            sig.respond(tx, make_response(req, 500, "Server Internal Error",
                                          headers=[("Retry-After", "1")]))
            return
        try:
            request = parse_refer(req)
        except ReferError as exc:
            log.info("%s: REFER refused: %s", self.name, exc.reason)
            sig.respond(tx, make_response(req, exc.status, exc.reason))
            return
        self._refers += 1
        self.refer = ReferNotifier(req, tx, request=request, contact=usage.contact,
                                   make_request=usage.request, timers=sig.timers,
                                   timer_owner=self,
                                   event_id=None if self._refers == 1 else req.cseq[0])
        self.run(self.refer.accept(self.now()))
        notifier = self.refer
        calls.refer(self, request, lambda status, final: self._refer_report(
            notifier, status, final))

    def _refer_report(self, notifier: ReferNotifier, status: int, final: bool) -> None:
        """The transfer's progress (pbx.transfer), as NOTIFYs to the transferer."""
        if notifier is not self.refer:
            return
        now = self.now()
        self.run(notifier.finish(status, None, now) if final
                 else notifier.progress(status, None, now))

    def _refer_finished(self) -> None:
        waiter = self._refer_done
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- hangup ------------------------------------------------------------------
    async def hangup(self, cause: int = q850.NORMAL_CLEARING) -> None:
        """End this leg: a final response if unanswered inbound, CANCEL if
        ringing outbound, BYE once up."""
        if self.state is ChannelState.HUNGUP:
            return
        if self.refer is not None and self.state is ChannelState.UP:
            await self._after_refer()
            if self.state is ChannelState.HUNGUP:
                return  # the phone hung up itself, as phones do after a transfer
        if self.usage is not None:
            status, phrase = q850.sip_from_cause(cause)
            self.run(self.usage.hangup(self.now(), status=status, reason_phrase=phrase))
        self._gone(cause)

    async def _after_refer(self) -> None:
        """A transferer's hangup waits for the REFER's outcome to reach its phone
        (the final NOTIFY), then, when the transfer worked, a moment for the
        phone's own BYE (Asterisk's deferred termination)."""
        notifier = self.refer
        if notifier is None:
            return
        if not notifier.finished:
            fut = self._refer_done = asyncio.get_running_loop().create_future()
            gone = asyncio.ensure_future(self.hungup.wait())
            try:
                # Bounded like Asterisk's deferred termination: 64*T1.
                await asyncio.wait({fut, gone}, timeout=64 * self.services.settings.t1,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                gone.cancel()
        if self.state is not ChannelState.HUNGUP and 200 <= notifier.final < 300:
            try:
                await asyncio.wait_for(self.hungup.wait(), REFER_BYE_GRACE)
            except TimeoutError:
                pass

    def _gone(self, cause: int) -> None:
        """Local state when the leg ends, however it ended."""
        if not self._end_leg(cause):
            return
        if self.refer is not None:
            self.refer.stop()
            self._refer_finished()
        # Break the session -> leg references (callbacks), so a finished leg is
        # freed at once by reference counting, not by a later collection.
        self.media.on_dtmf = self.media.on_timeout = None
        self.hungup.set()
        self._notify_gone()
        self.run([])  # leaves the dialog index once the usage is over too

    def abandon_refer(self) -> None:
        """Shutting down: a hangup does not wait for a REFER's outcome."""
        if self.refer is not None:
            self.refer.stop()
            self._refer_finished()
            self.refer = None

    def _rtp_timeout(self) -> None:
        log.warning("%s: no RTP for %.0f s, hanging up", self.name, self.media.rtp_timeout)
        self.services.spawn(self.hangup(q850.TEMPORARY_FAILURE))

    # --- DTMF ----------------------------------------------------------------------
    def _dtmf_setup(self) -> None:
        """After each negotiation: listen for tones only when this leg's mode says so."""
        media = self.media
        if dtmf_mode.detects_inband(self.dtmf_mode, media.dtmf_pt):
            if self._detector is None:
                detector = self._detector = DtmfDetector(media.codec.clock_rate)

                def tap(payload: bytes) -> None:
                    for digit in detector.feed(media.codec.decode(payload)):
                        media.digit_detected(digit)

                media.set_tap(tap)
        elif self._detector is not None:
            self._detector = None
            media.set_tap(None)

    def digit_sender(self, source: SipChannel) -> Callable[[str], None] | None:
        """How a bridge sends ``source``'s digits to this leg: None to relay its RFC
        4733 packets as they are, else a sender (SIP INFO, tones). Tones heard in
        ``source``'s audio reach an in-band leg in the audio itself."""
        method = dtmf_mode.send_method(self.dtmf_mode, self.media.dtmf_pt)
        if method == dtmf_mode.RFC4733:
            return None
        if method == dtmf_mode.INBAND and source._detector is not None:
            return _ignore_digit
        return self.send_digit

    def send_digit(self, digit: str) -> None:
        """Send one digit to this leg the way its DTMF mode says."""
        method = dtmf_mode.send_method(self.dtmf_mode, self.media.dtmf_pt)
        if method == dtmf_mode.RFC4733:
            self.media.send_dtmf(digit)
        elif method == dtmf_mode.INBAND:
            if self._tones is None:
                self._tones = InbandSender(self.media, on_busy=lambda: self._hear_tones(True),
                                           on_idle=lambda: self._hear_tones(False))
            self._tones.send(digit)
        elif self.usage is not None:
            ctype, body = dtmf_mode.info_body(method, digit)
            self.run(self.usage.send_info(body, ctype, self.now()))

    def _hear_tones(self, on: bool) -> None:
        if self.relay is not None:  # the bridge's audio would mix with the tones
            self.relay.pause_into(self.media, on)

    # --- media: play, echo, record (pbx.leg_media.LegMedia) ------------------------
    def prompts(self) -> PromptLibrary:
        return self.services.prompts()

    async def start_tones(self, tones: ToneList) -> None:
        self.check_hangup()
        if self.state is not ChannelState.UP and not self.early:
            await self.progress()
        try:
            audio = tone_audio(tones, self.media.codec)
        except ValueError as exc:  # a pass-through codec (Opus): nothing to send
            log.warning("%s: tones not played: %s", self.name, exc)
            return
        self.player.play_tone(audio.intro, audio.loop)

    def stop_tones(self) -> None:
        self.player.stop_tone()


    async def dial(self, targets: list[DialTarget], timeout: float | None,
                   options: str) -> DialResult:
        return await self.services.dialer.dial(self, targets, timeout, options)


def _ignore_digit(digit: str) -> None:
    """A digit that needs no sending: it is in the audio already."""
