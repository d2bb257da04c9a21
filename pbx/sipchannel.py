"""SipChannel: one call leg = a SIP dialog + a media session, as a Channel.

Inbound legs answer an INVITE (100, 180, 183, 200 retransmitted until ACK);
outbound legs (made by Dial) send one. Dialplan applications only see the
Channel methods; everything SIP stays here and in pbx.calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from pbx import leg_codecs, q850
from pbx.channel import Channel, ChannelState, Hangup, RecordResult
from pbx.media.codecs import CannotTranscode
from pbx.media.echo import Echo
from pbx.media.player import Player
from pbx.media.recorder import Recorder
from pbx.sip.address import Address
from pbx.sip.dialog import Dialog, new_via
from pbx.sip.message import Request, Response, make_response
from pbx.sip.requests import host_port, new_tag
from pbx.sip.sdp import (
    Answer,
    Format,
    NoCommonCodec,
    SdpError,
    SessionDescription,
    negotiate,
    parse_sdp,
)

if TYPE_CHECKING:
    from pbx.calls import CallManager
    from pbx.config import Peer
    from pbx.media.relay import Relay
    from pbx.media.session import MediaSession
    from pbx.sip.transaction import ServerTransaction

log = logging.getLogger("pbx.channel")

SDP = "application/sdp"


class SipChannel(Channel):
    """A call leg on SIP. Create through CallManager, not directly."""

    # Legs are identities, not values: Dial keeps them in sets and dicts, and the
    # dataclass __eq__ of Channel would compare every field (and unset __hash__).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(self, manager: CallManager, name: str, *, inbound: bool, peer: Peer | None,
                 media: MediaSession, local: Address, destination: Address) -> None:
        super().__init__(name=name)
        self.manager = manager
        self.inbound = inbound
        self.peer = peer
        self.media = media
        self.local = local  # our SIP transport address for this leg
        self.destination = destination  # where in-dialog requests go (NAT-safe)
        self.dialog: Dialog | None = None
        self.invite: Request | None = None
        self.server_tx: ServerTransaction | None = None
        self.local_tag = new_tag()
        self.remote_offer: SessionDescription | None = None
        self.negotiated: Answer | None = None
        self.local_sdp_offer: SessionDescription | None = None  # ours: outbound or late offer
        self.ended_at: float | None = None
        self.stats: Any = None  # MediaStats at hangup, for the CDR
        self.sdp_version = 0
        self.sdp_session_id = manager.session_id()
        self.sdp_ip = media.local_ip  # external_ip of pbx.yaml when set (NAT)
        self.client_tx: Any = None
        self.ack_bytes = b""
        self.cancelled = False
        # Outbound: a provisional arrived (RFC 3261 9.1: no CANCEL before one);
        # a CANCEL asked for before it waits in cancel_pending.
        self.provisional = False
        self.cancel_pending = False
        self.dial_done = False  # Dial stopped reading this leg's responses
        self.early = False  # 183 with SDP sent: media flows before answer
        self.acked = asyncio.Event()
        self.player = Player(media)
        self.relay: Relay | None = None
        self.bridged_to: SipChannel | None = None
        self._retransmit: asyncio.TimerHandle | None = None
        self._ok_bytes: bytes | None = None
        self.dial_status = ""
        self.dialed_peer = ""
        self.dst_channel: SipChannel | None = None
        media.on_dtmf = self.on_digit
        media.on_timeout = self._rtp_timeout

    # --- helpers -----------------------------------------------------------
    @property
    def contact(self) -> str:
        user = self.exten if self.inbound else "pbx"
        transport = "" if self.local.transport == "udp" else f";transport={self.local.transport}"
        return f"<sip:{user or 'pbx'}@{host_port(self.local)}{transport}>"

    def via(self) -> str:
        return new_via(self.local.transport, host_port(self.local))

    def on_digit(self, digit: str) -> None:
        """A DTMF digit from RFC 4733 or SIP INFO."""
        if self.bridged_to is None:  # in a bridge the relay passes DTMF on
            self.digits.put_nowait(digit)

    def _rtp_timeout(self) -> None:
        log.warning("%s: no RTP for %.0f s, hanging up", self.name, self.media.rtp_timeout)
        self.manager.spawn(self.hangup(q850.TEMPORARY_FAILURE))

    def _local_sdp(self, direction: str = "sendrecv") -> SessionDescription:
        """Our answer (or offer, on late offer) for the current negotiation."""
        from pbx.sip.sdp import make_offer

        self.sdp_version += 1
        if self.negotiated is not None:
            sdp = self.negotiated.sdp
            sdp.origin.session_version = self.sdp_version
            return sdp
        if self.local_sdp_offer is None:  # late offer: ours goes in the 200
            self.local_sdp_offer = make_offer(self.sdp_ip, self.media.local_port, dtmf_pt=101,
                                              codecs=leg_codecs.offer_formats(self.codec_names),
                                              direction=direction,
                                              session_id=self.sdp_session_id,
                                              version=self.sdp_version)
        return self.local_sdp_offer

    def take_offer(self, body: bytes) -> None:
        """Negotiate an SDP offer from the remote; raises NoCommonCodec/SdpError."""
        offer = parse_sdp(body)
        answer = negotiate(offer, local_addr=self.sdp_ip,
                           local_port=self.media.local_port,
                           formats=leg_codecs.answer_formats(self.codec_names),
                           session_id=self.sdp_session_id, version=self.sdp_version)
        self.remote_offer = offer
        self.negotiated = answer
        self._apply(answer)

    def _apply(self, answer: Answer) -> None:
        leg_codecs.apply_answer(self.media, answer)

    # --- codecs (branch wideband; policy in pbx/leg_codecs.py) ------------------
    @property
    def codec_names(self) -> list[str]:
        """The peer's allow list (Asterisk names, in order), else [general]'s."""
        return leg_codecs.peer_codecs(self.peer, self.manager.config.sip.general)

    @property
    def codec_open(self) -> bool:
        """An inbound leg whose SDP answer has not gone out: its codec may still change."""
        return (self.inbound and self.remote_offer is not None and not self.early
                and self.state is not ChannelState.UP)

    def prefer_codec(self, callee: Format) -> None:
        """Before our SDP answer goes out, re-answer the caller's offer with the
        callee's codec first (no transcoding; Opus passes through)."""
        if not self.codec_open:
            return
        assert self.remote_offer is not None
        try:
            self.negotiated = negotiate(
                self.remote_offer, local_addr=self.sdp_ip, local_port=self.media.local_port,
                formats=leg_codecs.caller_formats(callee, self.codec_names),
                session_id=self.sdp_session_id, version=self.sdp_version)
        except NoCommonCodec:
            return  # keep the first answer; the bridge transcodes (or reports it cannot)
        self._apply(self.negotiated)

    # --- inbound signalling ------------------------------------------------
    def _respond(self, status: int, reason: str | None = None, *, sdp: bool = False,
                 extra: list[tuple[str, str]] = ()) -> Response:
        assert self.invite is not None and self.server_tx is not None
        body = self._local_sdp().to_bytes() if sdp else b""
        headers = list(extra)
        if 100 < status < 300:
            headers.append(("Contact", self.contact))
        resp = make_response(self.invite, status, reason, to_tag=self.local_tag, headers=headers,
                             body=body, content_type=SDP if sdp else None)
        self.manager.core.respond(self.server_tx, resp)
        return resp

    async def ringing(self) -> None:
        if self.inbound and self.state in (ChannelState.RING, ChannelState.RINGING):
            self._respond(180, "Ringing")
        await super().ringing()

    async def progress(self) -> None:
        self.check_hangup()
        # On a late offer there is no SDP to put in a 183 (no 100rel): no early media.
        if (self.inbound and self.state is not ChannelState.UP and not self.early
                and self.negotiated is not None):
            self._respond(183, "Session Progress", sdp=True)
            self.early = True

    async def answer(self) -> None:
        self.check_hangup()
        if not self.inbound or self.state is ChannelState.UP:
            return
        resp = self._respond(200, "OK", sdp=True)
        self.dialog = Dialog.as_uas(self.invite, self.local_tag)  # type: ignore[arg-type]
        self.manager.add_dialog(self)
        self._ok_bytes = resp.to_bytes()
        self._start_2xx_retransmit()
        await super().answer()

    def _start_2xx_retransmit(self) -> None:
        """RFC 3261 13.3.1.4: resend the 2xx until the ACK; give up after 64*T1."""
        if self.destination.transport != "udp":
            self._schedule_ack_timeout(64 * self.manager.t1)
            return
        loop = asyncio.get_running_loop()
        t1, t2 = self.manager.t1, 4.0
        start = loop.time()

        def resend(interval: float) -> None:
            if self.acked.is_set() or self.state is ChannelState.HUNGUP:
                return
            if loop.time() - start >= 64 * t1:
                log.warning("%s: no ACK for our 200 OK, hanging up", self.name)
                self.manager.spawn(self.hangup(q850.TEMPORARY_FAILURE))
                return
            assert self._ok_bytes is not None
            self.manager.core.send_bytes(self._ok_bytes, self.destination)
            self._retransmit = loop.call_later(min(interval * 2, t2), resend, min(interval * 2, t2))

        self._retransmit = loop.call_later(t1, resend, t1)

    def _schedule_ack_timeout(self, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def check() -> None:
            if not self.acked.is_set() and self.state is not ChannelState.HUNGUP:
                self.manager.spawn(self.hangup(q850.TEMPORARY_FAILURE))

        self._retransmit = loop.call_later(delay, check)

    def on_ack(self, ack: Request) -> None:
        """ACK for our 2xx: stop retransmitting; a late offer's answer is in it."""
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None
        if ack.body and self.negotiated is None and self.local_sdp_offer is not None:
            from pbx.sip.sdp import accept_answer

            try:
                answer = accept_answer(self.local_sdp_offer, ack.body)
            except SdpError as exc:
                log.warning("%s: bad SDP answer in ACK: %s", self.name, exc)
                self.manager.spawn(self.hangup(q850.BEARER_NOT_AVAIL))
                return
            self.negotiated = answer
            self._apply(answer)
        self.acked.set()


    def on_cancel(self) -> None:
        """The caller cancelled before we answered: 487, then hang up."""
        if self.state in (ChannelState.UP, ChannelState.HUNGUP):
            return
        self._respond(487, "Request Terminated")
        self._gone(q850.NORMAL_CLEARING)

    def on_bye(self, req: Request, tx: ServerTransaction) -> None:
        self.manager.core.respond(tx, make_response(req, 200, "OK"))
        self._gone(q850.NORMAL_CLEARING)

    def on_reinvite(self, req: Request, tx: ServerTransaction) -> None:
        """Re-INVITE: hold/resume/refresh; answered with our SDP, reflected to a bridge."""
        if not req.body:
            # A refresh or a late-offer re-INVITE: offer our current SDP again.
            self.manager.core.respond(tx, make_response(
                req, 200, "OK", to_tag=self.local_tag, headers=[("Contact", self.contact)],
                body=self._local_sdp().to_bytes(), content_type=SDP))
            return
        try:
            offer = parse_sdp(req.body)
            current = self.negotiated.local_format if self.negotiated else None
            answer = negotiate(offer, local_addr=self.sdp_ip,
                               local_port=self.media.local_port,
                               formats=leg_codecs.answer_formats(self.codec_names, current),
                               session_id=self.sdp_session_id,
                               version=self.sdp_version + 1)
        except NoCommonCodec:
            self.manager.core.respond(tx, make_response(req, 488, "Not Acceptable Here"))
            return
        except SdpError as exc:
            self.manager.core.respond(tx, make_response(req, 400, f"Bad Request - {exc}"))
            return
        previous = self.negotiated.remote_direction if self.negotiated else "sendrecv"
        self.negotiated = answer
        self.sdp_version += 1
        answer.sdp.origin.session_version = self.sdp_version
        self._apply(answer)
        if self.relay is not None:
            self.relay.refresh()
        self.manager.core.respond(tx, make_response(
            req, 200, "OK", to_tag=self.local_tag, headers=[("Contact", self.contact)],
            body=answer.sdp.to_bytes(), content_type=SDP))
        if answer.remote_direction != previous and self.bridged_to is not None:
            log.info("%s: %s; reflecting to %s", self.name,
                     "on hold" if answer.remote_direction != "sendrecv" else "resumed",
                     self.bridged_to.name)
            self.bridged_to.send_reinvite(answer.remote_direction)

    # --- outbound signalling -----------------------------------------------
    def send_reinvite(self, direction: str) -> None:
        """Ask our remote to change direction (reflecting the other leg's hold)."""
        if self.dialog is None or self.state is not ChannelState.UP:
            return
        from pbx.sip.sdp import accept_answer, make_offer

        self.sdp_version += 1
        codecs, dtmf_pt = leg_codecs.reoffer(self.negotiated, self.codec_names)
        offer = make_offer(self.sdp_ip, self.media.local_port, codecs=codecs,
                           dtmf_pt=dtmf_pt, direction=direction,
                           session_id=self.sdp_session_id, version=self.sdp_version)
        req = self.dialog.request("INVITE", self.via(), contact=self.contact,
                                  body=offer.to_bytes(), content_type=SDP)

        def on_response(resp: Response | None) -> None:
            if resp is None or resp.status < 200:
                return
            if resp.status < 300:
                self.manager.send_ack(self, resp)
                try:
                    answer = accept_answer(offer, resp.body)
                except SdpError:
                    return
                self.negotiated = answer
                self._apply(answer)
                if self.relay is not None:
                    self.relay.refresh()

        self.manager.core.send_request(req, self.destination, on_response)

    def send_bye(self) -> None:
        if self.dialog is None:
            return
        req = self.dialog.request("BYE", self.via())
        self.manager.core.send_request(req, self.destination, lambda resp: None)

    # --- hangup --------------------------------------------------------------
    async def hangup(self, cause: int = q850.NORMAL_CLEARING) -> None:
        """End this leg: BYE if up, final response if ringing inbound, CANCEL outbound."""
        if self.state is ChannelState.HUNGUP:
            return
        if self.inbound:
            if self.state is ChannelState.UP:
                self.send_bye()
            elif self.server_tx is not None:
                status, reason = q850.sip_from_cause(cause)
                self._respond(status, reason)
        else:
            self.manager.end_outbound(self)
        self._gone(cause)

    def _gone(self, cause: int) -> None:
        """Local state when the leg ends, however it ended."""
        if self.state is ChannelState.HUNGUP:
            return
        if self._retransmit is not None:
            self._retransmit.cancel()
        self.hangup_cause = cause or q850.NORMAL_CLEARING
        self.state = ChannelState.HUNGUP
        self.variables.setdefault("HANGUPCAUSE", str(self.hangup_cause))
        self.ended_at = time.time()
        self.player.stop()
        if self.relay is not None:
            self.relay.stop()
        self.stats = self.media.stats()
        self.media.close()
        self.manager.remove(self)
        self.hungup.set()

    # --- media ---------------------------------------------------------------
    async def play(self, prompts: list[str], interrupt: str = "") -> str:
        self.check_hangup()
        if self.state is not ChannelState.UP and not self.early:
            await self.progress()
        library = self.manager.prompts
        payloads = []
        for name in prompts:
            try:
                payload = library.get(name, self.media.codec)
            except CannotTranscode as exc:  # branch wideband: an Opus pass-through leg
                log.warning("%s: %s", self.name, exc)
                payload = None
                self.variables["PLAYBACKSTATUS"] = "FAILED"
            else:
                if payload is None:
                    log.warning("%s: prompt '%s' not found (searched %s)", self.name, name,
                                ", ".join(library.searched(name)))
                    self.variables["PLAYBACKSTATUS"] = "FAILED"
            payloads.append(payload)
        done = self.player.play(payloads, prompts)
        return await self._until(done, interrupt, stop=self.player.stop)

    async def _until(self, fut: asyncio.Future, interrupt: str, stop: Any) -> str:
        """Wait for `fut`, a hangup, or an interrupting digit (others dropped)."""
        gone = asyncio.ensure_future(self.hungup.wait())
        try:
            while True:
                digit_wait = asyncio.ensure_future(self.digits.get()) if interrupt else None
                waits = {fut, gone} | ({digit_wait} if digit_wait else set())
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if digit_wait is not None and digit_wait in done:
                    digit = digit_wait.result()
                    if digit in interrupt:
                        stop()
                        return digit
                    continue
                if digit_wait is not None:
                    digit_wait.cancel()
                if gone in done:
                    stop()
                    raise Hangup(self.name)
                return ""
        finally:
            gone.cancel()

    async def echo(self) -> None:
        self.check_hangup()
        echo = Echo(self.media, terminators="#")
        done = echo.start()
        gone = asyncio.ensure_future(self.hungup.wait())
        try:
            await asyncio.wait({done, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            echo.stop()
        if done.done() and done.result() == "dtmf":
            self._consume_digit("#")
        self.check_hangup()

    async def record(self, path: str, *, max_seconds: float = 0, silence_seconds: float = 0,
                     silence_threshold: int = 256, stop_digits: str = "#") -> RecordResult:
        self.check_hangup()
        recorder = Recorder(self.media, path, terminators=stop_digits, max_seconds=max_seconds,
                            silence_seconds=silence_seconds,
                            silence_threshold=silence_threshold)
        result = await recorder.record()
        stopped_by = {"dtmf": f"dtmf:{result.digit}", "maxduration": "maxtime"}.get(
            result.stopped_by, result.stopped_by)
        if result.digit:
            self._consume_digit(result.digit)
        return RecordResult(path=result.path, seconds=result.seconds, stopped_by=stopped_by)

    def _consume_digit(self, digit: str) -> None:
        """A terminator that ended a recording or echo is not also a menu choice."""
        if not self.digits.empty() and self.digits._queue[0] == digit:  # type: ignore[attr-defined]
            self.digits.get_nowait()

    async def dial(self, targets: list, timeout: float | None, options: str) -> Any:
        from pbx.dial import dial

        return await dial(self, targets, timeout, options)

