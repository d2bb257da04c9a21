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

from pbx import q850
from pbx.channel import Channel, ChannelState, DialResult, DialTarget
from pbx.channel_media import ChannelMedia, FeatureServices, MediaFeatures
from pbx.leg_media import LegMedia
from pbx.media.dtmf import parse_dtmf_info
from pbx.media.player import Player
from pbx.offer_answer import LegSdp
from pbx.sip.address import Address
from pbx.sip.invite import (
    Accepted,
    AckReceived,
    AckTimeout,
    Cancelled,
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
from pbx.sip.sdp import Format, NoCommonCodec, SdpError

if TYPE_CHECKING:
    from pbx.config import Peer
    from pbx.media.prompts import PromptLibrary
    from pbx.media.relay import Relay
    from pbx.media.session import MediaSession
    from pbx.signalling import Signalling
    from pbx.sip.invite_usage import InviteUsage

log = logging.getLogger("pbx.channel")

IN_DIALOG_METHODS = "INVITE, ACK, BYE, CANCEL, INFO, UPDATE"


class DialogIndex(Protocol):
    """Where in-dialog requests find their leg: (Call-ID, our tag) -> leg."""

    def add(self, call_id: str, local_tag: str, leg: SipChannel) -> None: ...

    def remove(self, call_id: str, local_tag: str) -> None: ...


class Dialer(Protocol):
    """What Dial() needs from the PBX (pbx.dial)."""

    async def dial(self, caller: SipChannel, targets: list[DialTarget], timeout: float | None,
                   options: str) -> DialResult: ...


@dataclass(slots=True)
class LegServices:
    """What a leg needs from the PBX, and nothing more."""

    signalling: Signalling
    dialogs: DialogIndex
    prompts: Callable[[], PromptLibrary]  # the current library (a reload replaces it)
    spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task]
    settings: InviteSettings
    dialer: Dialer
    features: FeatureServices | None = None  # music on hold, MixMonitor (pbx.channel_media)


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
        self.call_id = ""
        self.local_tag = ""
        self.ended_at: float | None = None
        self.stats: Any = None  # MediaStats at hangup, for the CDR
        self.early = False  # early media flows (183 with SDP sent or received)
        self.player = Player(media)
        self.relay: Relay | None = None
        self.bridged_to: SipChannel | None = None
        self.dst_channel: SipChannel | None = None  # the CDR's dstchannel
        # The Dial that owns this outbound leg hears Progress/Accepted/Failed here.
        self.dial_events: Callable[[SipChannel, Any], None] | None = None
        self._offer_in_2xx = False  # our offer went in a 2xx: the ACK brings the answer
        self._indexed = False
        self.features = ChannelMedia(self, media, services.features)
        media.on_dtmf = self.on_digit
        media.on_timeout = self._rtp_timeout

    # --- the edge: the usage's actions out, its events in ----------------------
    def attach(self, usage: InviteUsage, call_id: str, local_tag: str) -> None:
        """Give the leg its INVITE usage; in-dialog requests find it from now on."""
        self.usage = usage
        self.call_id = call_id
        self.local_tag = local_tag
        self.services.dialogs.add(call_id, local_tag, self)
        self._indexed = True

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
                sig.send_request(req, action.dest, self._on_response,
                                 functools.partial(self._on_failure, req.method, req.cseq[0]))
            else:
                self._event(action)
        if self._indexed and self.state is ChannelState.HUNGUP and self.usage is not None \
                and self.usage.state is UsageState.TERMINATED:
            self.services.dialogs.remove(self.call_id, self.local_tag)
            self._indexed = False

    def _on_response(self, resp: Response | None) -> None:
        if resp is not None and self.usage is not None:
            self.run(self.usage.on_response(resp, self.now()))

    def _on_failure(self, method: str, cseq: int, status: int) -> None:
        if self.usage is not None:
            self.run(self.usage.on_failure(method, cseq, self.now(), status))

    def on_timer(self, kind: str, now: float) -> None:
        """A usage timer fired (this leg owns its entries on the core's heap)."""
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
        elif kind is RemoteBye or kind is Cancelled:
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
            self._failed(ev.status)

    # --- inbound: the INVITE we answer -----------------------------------------
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

    def _failed(self, status: int) -> None:
        self._gone(q850.cause_from_sip(status))
        self._tell_dial(Failed(status, None))

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
        self.run(self.usage.offer(self.sdp.offer(direction), self.now()))

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
                self.media.digit_received(digit)
            return
        sig.respond(tx, make_response(req, 405, "Method Not Allowed",
                                      headers=[("Allow", IN_DIALOG_METHODS)]))

    # --- hangup ------------------------------------------------------------------
    async def hangup(self, cause: int = q850.NORMAL_CLEARING) -> None:
        """End this leg: a final response if unanswered inbound, CANCEL if
        ringing outbound, BYE once up."""
        if self.state is ChannelState.HUNGUP:
            return
        if self.usage is not None:
            status, phrase = q850.sip_from_cause(cause)
            self.run(self.usage.hangup(self.now(), status=status, reason_phrase=phrase))
        self._gone(cause)

    def _gone(self, cause: int) -> None:
        """Local state when the leg ends, however it ended."""
        if self.state is ChannelState.HUNGUP:
            return
        self.hangup_cause = cause or q850.NORMAL_CLEARING
        self.state = ChannelState.HUNGUP
        self.variables.setdefault("HANGUPCAUSE", str(self.hangup_cause))
        self.ended_at = time.time()
        self.player.stop()
        self.features.stop_moh()
        if self.relay is not None:
            self.relay.stop()
        self.stats = self.media.stats()
        self.media.close()
        self.hungup.set()
        self.run([])  # leaves the dialog index once the usage is over too

    def _rtp_timeout(self) -> None:
        log.warning("%s: no RTP for %.0f s, hanging up", self.name, self.media.rtp_timeout)
        self.services.spawn(self.hangup(q850.TEMPORARY_FAILURE))

    # --- media: play, echo, record (pbx.leg_media.LegMedia) ------------------------
    def prompts(self) -> PromptLibrary:
        return self.services.prompts()

    async def dial(self, targets: list[DialTarget], timeout: float | None,
                   options: str) -> DialResult:
        return await self.services.dialer.dial(self, targets, timeout, options)
