"""Bridge relay: the media path between two legs of a bridged call.

Each leg's session hands incoming packets to a `_Leg` consumer, which sends
them out on the other leg inside datagram_received: no decoding, no await.
Same codec on both legs: the payload is relayed untouched and only our header
(SSRC, the other leg's payload type, mapped sequence and timestamp) is
rewritten; this is how Opus crosses, between legs that may number it
differently. Different codecs: each direction has its own transcoder
(transcode.py: a byte table between the G.711 laws; decode, 16 <-> 8 kHz
resampling and encode between G.722 and G.711). Legs that cannot be
transcoded (Opus against anything else) relay nothing and count it as dropped.
RFC 4733 packets are relayed with the other leg's telephone-event payload type
(to a leg whose DTMF mode is SIP INFO or tones, each digit goes as that mode
says: `digits_to`), unless the bridge watches that leg's digits for feature codes (features.conf):
then its events are not relayed but handed to the watcher digit by digit
(`intercept`), which sends on, regenerated, the digits that were no code.
A leg on hold (remote sendonly/inactive) is not sent to; those packets are
counted as `held`, not as dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pbx.media.codecs import CODECS_BY_PT
from pbx.media.session import MediaSession
from pbx.media.transcode import CannotTranscode, transcoder

log = logging.getLogger(__name__)


def _untranscodable(payload: bytes) -> bytes:
    raise CannotTranscode  # never called: _Leg checks for it first


class _Leg:
    """Consumer on one session, relaying to the other."""

    __slots__ = ("_forward", "_other", "bridge", "codecs", "digit_out", "dst", "intercept",
                 "src", "transcode")

    def __init__(self, bridge: Relay, src: MediaSession, dst: MediaSession,
                 digit_out: Callable[[str], None] | None = None) -> None:
        self.bridge = bridge
        self.src = src
        self.dst = dst
        self._forward = dst.forward
        self._other: dict[int, Callable[[bytes], bytes] | None] = {}
        self.codecs = (src.codec, dst.codec)
        self.transcode = _pick(src, dst)
        # The feature watcher of this leg's digits (pbx.bridge): its RFC 4733 packets
        # are not relayed, each digit goes to it instead.
        self.intercept: Callable[[str], None] | None = None
        # How digits reach dst when it takes no RFC 4733 packets (SIP INFO, tones):
        # None relays the source's packets as they are (pbx/dtmf_mode.py decides).
        self.digit_out = digit_out

    def refresh(self) -> None:
        """A re-INVITE may have changed a codec: a new transcoder then (a stateful
        one is kept while the codecs stay, so hold/resume does not reset G.722)."""
        codecs = (self.src.codec, self.dst.codec)
        if codecs != self.codecs:
            self.codecs = codecs
            self._other.clear()
            self.transcode = _pick(self.src, self.dst)

    def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        """Hot path: relay one audio packet."""
        t = self.transcode
        if t is not None:
            if t is _untranscodable:
                self.bridge.dropped += 1
                return
            payload = t(payload)
        b = self.bridge
        if self._forward(payload, marker, seq, ts, self):
            b.relayed += 1
        elif self.dst.closed:
            b.dropped += 1
        else:
            b.held += 1

    def rtp_other(self, payload: bytes, pt: int, marker: int, seq: int, ts: int) -> None:
        """A packet in another (stateless) codec than negotiated: transcode it if we can."""
        codec = CODECS_BY_PT.get(pt)
        if codec is None:
            self.bridge.dropped += 1
            return
        if pt not in self._other:
            try:
                self._other[pt] = transcoder(codec, self.dst.codec)
            except CannotTranscode:
                self._other[pt] = _untranscodable
        t = self._other[pt]
        if t is _untranscodable:
            self.bridge.dropped += 1
            return
        if t is not None:
            payload = t(payload)
        if self._forward(payload, marker, seq, ts, self):
            self.bridge.relayed += 1
        else:
            self.bridge.held += 1

    def session_closed(self) -> None:
        """One leg hung up: the bridge ends."""
        self.bridge._leg_closed()

    def dtmf(self, digit: str) -> None:
        """A digit the source sent as RFC 4733 (its packets were relayed, or not);
        to the feature watcher when the bridge watches this leg's digits."""
        if self.intercept is not None:
            self.intercept(digit)
            return
        out = self.digit_out
        if out is not None:
            out(digit)
            self.bridge.dtmf_relayed += 1

    def digit_other(self, digit: str) -> None:
        """A digit the source sent as SIP INFO or tones: no packets of it went on."""
        if self.intercept is not None:
            self.intercept(digit)
            return
        out = self.digit_out
        if out is not None:
            out(digit)
        elif not (self.dst.dtmf_pt >= 0 and self.dst.send_dtmf(digit)):
            self.bridge.dtmf_dropped += 1  # nor can it be sent as RFC 4733 there
            return
        self.bridge.dtmf_relayed += 1

    def pause(self) -> None:
        """Stop relaying audio to dst for a while (tones are being sent there)."""
        self._forward = _held

    def resume(self) -> None:
        self._forward = self.dst.forward

    def dtmf_packet(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        """Relay an RFC 4733 packet with the other leg's payload type."""
        if self.intercept is not None:
            self.bridge.dtmf_watched += 1
            return
        if self.digit_out is not None:
            return  # dst gets the digit otherwise, once it is complete (dtmf())
        dst = self.dst
        if dst.dtmf_pt < 0:
            self.bridge.dtmf_dropped += 1  # the other side takes no telephone-event
            return
        if self._forward(payload, marker, seq, ts, self, dst.dtmf_pt):
            self.bridge.dtmf_relayed += 1
        else:
            self.bridge.held += 1


def _held(payload: bytes, marker: int, seq: int, ts: int, src: object, pt: int = -1) -> bool:
    return False  # counted as held: the other leg is hearing DTMF tones


def _pick(src: MediaSession, dst: MediaSession) -> Callable[[bytes], bytes] | None:
    try:
        return transcoder(src.codec, dst.codec)
    except CannotTranscode as exc:
        log.error("bridge on ports %d/%d: %s", src.local_port, dst.local_port, exc)
        return _untranscodable


class Relay:
    """Bridges the media of two sessions until `stop()` or either one closes."""

    def __init__(self, a: MediaSession, b: MediaSession, *,
                 digits_to: tuple[Callable[[str], None] | None,
                                  Callable[[str], None] | None] = (None, None)) -> None:
        """``digits_to``: how digits are sent to a and to b when that leg takes no
        RFC 4733 packets (pbx/dtmf_mode.py); None relays the packets."""
        self.a = a
        self.b = b
        self.relayed = 0  # audio packets sent on to the other leg
        self.held = 0  # not sent because the other leg is on hold
        self.dropped = 0  # lost inside the PBX (should stay 0)
        self.dtmf_relayed = 0
        self.dtmf_dropped = 0
        self.dtmf_watched = 0  # event packets held back for the feature watcher
        self._prev = (None, None)
        self._legs = (_Leg(self, a, b, digits_to[1]), _Leg(self, b, a, digits_to[0]))
        self.active = False
        self.on_end: Callable[[], None] | None = None  # called when a leg closes

    def _leg_closed(self) -> None:
        self.stop()
        if self.on_end is not None:
            self.on_end()

    def start(self) -> None:
        """Take over both sessions' incoming audio."""
        if self.active:
            return
        self.active = True
        self._prev = (self.a.set_consumer(self._legs[0]), self.b.set_consumer(self._legs[1]))

    def intercept(self, session: MediaSession, watcher: Callable[[str], None] | None) -> None:
        """Hand ``session``'s digits to ``watcher`` instead of relaying them (None: relay)."""
        for leg in self._legs:
            if leg.src is session:
                leg.intercept = watcher

    def pause_into(self, session: MediaSession, paused: bool) -> None:
        """Stop (or resume) relaying audio into ``session`` while it hears tones."""
        for leg in self._legs:
            if leg.dst is session:
                if paused:
                    leg.pause()
                else:
                    leg.resume()

    def refresh(self) -> None:
        """Re-read the legs' codecs (after a re-INVITE changed one)."""
        for leg in self._legs:
            leg.refresh()

    def stop(self) -> None:
        """Stop relaying; each session gets back its previous consumer."""
        if not self.active:
            return
        self.active = False
        for sess, leg, prev in zip((self.a, self.b), self._legs, self._prev, strict=True):
            if sess.consumer is leg:
                # Never hand the session back to a bridge that has ended
                # (e.g. the early-media relay this one replaced).
                if isinstance(prev, _Leg) and not prev.bridge.active:
                    prev = None
                sess.set_consumer(prev)

    @property
    def transcoding(self) -> bool:
        """True when the two legs use different codecs."""
        return self._legs[0].transcode is not None

    @property
    def broken(self) -> bool:
        """True when the legs' codecs cannot be bridged (Opus against another codec)."""
        return any(leg.transcode is _untranscodable for leg in self._legs)
