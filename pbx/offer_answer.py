"""One leg's side of the SDP offer/answer model (RFC 3264) and its media.

The INVITE usage carries SDP bodies without reading them; this object builds
ours and reads the remote's: our session id and version (the version moves
only when what we offer changes, 8), the offer we wait an answer for, the
negotiated result, and it applies that result to the leg's media session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pbx.sip.sdp import (
    Answer,
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
    """Offers, answers and their effect on one media session."""

    def __init__(self, media: MediaSession, address: str, session_id: int) -> None:
        self.media = media
        self.address = address  # c=/o= address: the media IP, or sip.external_ip
        self.session_id = session_id
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
        """Answer the remote's offer and apply it; raises NoCommonCodec/SdpError."""
        offer = parse_sdp(offer_body)
        port = self.media.local_port
        result: list[Answer] = []

        def build(version: int) -> SessionDescription:
            answer = negotiate(offer, local_addr=self.address, local_port=port,
                               session_id=self.session_id, version=version)
            result.append(answer)
            return answer.sdp

        body = self._versioned(build)
        self.negotiated = result[-1]
        self.offered = None
        self._apply(self.negotiated)
        return body

    def offer(self, direction: str = "sendrecv") -> bytes:
        """A new offer: all our codecs first, then only the one in use (a
        re-INVITE must not switch codecs under a running bridge)."""
        codecs = [self.media.codec] if self.negotiated is not None else None
        port = self.media.local_port
        offered: list[SessionDescription] = []

        def build(version: int) -> SessionDescription:
            sdp = make_offer(self.address, port, codecs=codecs,
                             dtmf_pt=101 if self.telephone_event else None,
                             direction=direction, session_id=self.session_id,
                             version=version)
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
        self.media.set_remote(answer.remote_addr, answer.codec, answer.dtmf_pt,
                              answer.ptime or 20, answer.remote_direction)
        if self.applied is not None:
            self.applied()
