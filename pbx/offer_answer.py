"""One leg's side of the SDP offer/answer model (RFC 3264) and its media.

The INVITE usage carries SDP bodies without reading them; this object builds
ours and reads the remote's: our session id and version (the version moves
only when what we offer changes, 8), the offer we wait an answer for, the
negotiated result, and it applies that result to the leg's media session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pbx import leg_codecs, srtp_policy
from pbx.sip.sdp import (
    Answer,
    Format,
    SdpError,
    SessionDescription,
    accept_answer,
    make_offer,
    negotiate,
    parse_sdp,
)

if TYPE_CHECKING:
    from pbx.media.session import MediaSession

__all__ = ["LegSdp", "SdpError"]


class LegSdp:
    """Offers, answers and their effect on one media session.

    ``codec_names`` are the leg's codecs (its peer's allow list, Asterisk names;
    which one each side of a call gets is pbx.leg_codecs' policy). ``peer``
    decides SRTP (encryption=yes: SDES keys required, pbx.srtp_policy);
    ``transport`` is the SIP transport the keys travel on (logged when not TLS)."""

    def __init__(self, media: MediaSession, address: str, session_id: int, *,
                 codec_names: list[str], peer: Any = None, transport: str = "udp",
                 label: str = "") -> None:
        self.media = media
        self.address = address  # c=/o= address: the media IP, or sip.external_ip
        self.session_id = session_id
        self.peer = peer
        self.transport = transport
        self.label = label  # the channel name, for the log
        self.codec_names = codec_names
        self.remote_offer: SessionDescription | None = None  # the initial offer we answer
        self.version = 0
        self.local: bytes = b""  # the last SDP we sent
        self.offered: SessionDescription | None = None  # ours, waiting for an answer
        self.negotiated: Answer | None = None
        self.telephone_event = True  # offer RFC 4733 (not for dtmfmode=info/inband)
        self.applied: Callable[[], None] | None = None  # after each negotiation

    @property
    def remote_direction(self) -> str:
        """What the remote does with media: "sendonly"/"inactive" mean it holds us."""
        return self.negotiated.remote_direction if self.negotiated else "sendrecv"

    def _versioned(self, build: object) -> bytes:
        """Serialise an SDP built by ``build(version)``; bump the version when the
        content differs from what we sent last (RFC 3264 8)."""
        body = build(self.version).to_bytes()  # type: ignore[operator]
        if self.local and body != self.local:
            self.version += 1
            body = build(self.version).to_bytes()  # type: ignore[operator]
        self.local = body
        return body

    def answer(self, offer_body: bytes) -> bytes:
        """Answer the remote's offer and apply it; raises NoCommonCodec/SdpError.
        A re-offer keeps the codec in use first (hold/resume never switches it)."""
        offer = parse_sdp(offer_body)
        if self.negotiated is None:
            self.remote_offer = offer
        current = self.negotiated.local_format if self.negotiated is not None else None
        return self._answer(offer, leg_codecs.answer_formats(self.codec_names, current))

    def prefer(self, callee: Format) -> None:
        """Before our answer to the initial offer goes out: answer it again with the
        callee's codec first, so the bridge need not transcode (Opus passes)."""
        if self.remote_offer is None:
            return
        try:
            self._answer(self.remote_offer, leg_codecs.caller_formats(callee, self.codec_names))
        except SdpError:
            return  # keep the first answer: the bridge transcodes (or says it cannot)

    def _answer(self, offer: SessionDescription, formats: list[Format]) -> bytes:
        port = self.media.local_port
        result: list[Answer] = []
        # Chosen once: an answer built twice (to compare it) keeps the same key.
        srtp = srtp_policy.answer_options(self.peer, self.negotiated)

        def build(version: int) -> SessionDescription:
            answer = negotiate(offer, local_addr=self.address, local_port=port,
                               formats=formats, session_id=self.session_id, version=version,
                               **srtp)
            result.append(answer)
            return answer.sdp

        body = self._versioned(build)
        self.negotiated = result[-1]
        self.offered = None
        self._apply(self.negotiated)
        return body

    def offer(self, direction: str = "sendrecv") -> bytes:
        """A new offer: all our codecs first, then only the one in use with our own
        numbers (a re-INVITE must not switch codecs under a running bridge)."""
        codecs, dtmf_pt = leg_codecs.reoffer(self.negotiated, self.codec_names)
        return self._offer(codecs, dtmf_pt, direction)

    def dial_offer(self, caller: LegSdp, caller_open: bool) -> bytes:
        """The offer of an outbound leg of Dial: the caller's codec first, then this
        leg's list (pbx.leg_codecs); ``caller_open``: the caller's answer is not out."""
        codecs = leg_codecs.dial_offer_formats(
            self.codec_names, caller.codec_names, caller.remote_offer if caller_open else None,
            caller.negotiated.local_format if caller.negotiated is not None else None)
        return self._offer(codecs, 101, "sendrecv")

    def _offer(self, codecs: list[Format], dtmf_pt: int, direction: str) -> bytes:
        port = self.media.local_port
        offered: list[SessionDescription] = []
        key = srtp_policy.offer_key(self.peer, self.negotiated)

        def build(version: int) -> SessionDescription:
            # dtmfmode=info/inband: no telephone-event offered (pbx/dtmf_mode.py).
            sdp = make_offer(self.address, port, codecs=codecs,
                             dtmf_pt=dtmf_pt if self.telephone_event else None,
                             direction=direction, session_id=self.session_id,
                             version=version, srtp_key=key)
            offered.append(sdp)
            return sdp

        body = self._versioned(build)
        self.offered = offered[-1]
        return body

    def take_answer(self, answer_body: bytes) -> Answer:
        """The remote's answer to our last offer; raises SdpError/NoCommonCodec."""
        if self.offered is None:
            raise SdpError("an answer without an offer of ours")
        answer = accept_answer(self.offered, answer_body)
        self.offered = None
        self.negotiated = answer
        self._apply(answer)
        return answer

    def _apply(self, answer: Answer) -> None:
        leg_codecs.apply_answer(self.media, answer)
        srtp_policy.apply(self.media, answer, self.label, self.transport)
        if self.applied is not None:
            self.applied()
