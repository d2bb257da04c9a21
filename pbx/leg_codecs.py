"""Codecs of a call leg: SDP formats <-> media codecs, and which codec each leg gets.

pbx/sip/sdp.py negotiates formats (encoding name, clock, channels, payload
type, fmtp) and knows nothing of the media engine; pbx/media knows codecs and
nothing of SDP. This module joins them: it turns a peer's allow list (Asterisk
names, pbx/codec_prefs.py) into SDP formats, an SDP format into the media
codec, and holds the policy of which codec each leg of a call gets:

- An answer carries the first codec of the peer's list that the offer has,
  among those the PBX can decode and encode (prompts, recordings,
  transcoding). Opus, which is only passed through, is the last resort: a
  caller that offers nothing else is accepted with it (as Asterisk without
  codec_opus does), can then reach an Opus callee, hear no prompts, and is
  never bridged to anything but Opus.
- An outbound leg of Dial offers, as chan_sip's add_sdp does, the caller's
  codec first and then the callee peer's list. Opus is offered only when the
  caller can take it untouched: it offered Opus, its peer allows Opus and its
  own SDP answer is not out yet (or it already speaks Opus, and then only
  Opus). The Opus entry carries the caller's fmtp (what the caller receives
  is what the callee sends).
- When the callee has answered and the caller's SDP answer is not out yet,
  the caller gets the callee's codec if it offered it and its peer allows it
  (no transcoding; the only way Opus is chosen, with the callee's fmtp), else
  the first of its own list; the bridge transcodes between them.
- A re-INVITE keeps the codec in use first, so hold/resume never switches it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pbx.codec_prefs import DEFAULT_CODECS
from pbx.media.codecs import CODECS_BY_NAME, Codec
from pbx.sip.sdp import PCMA, PCMU, Answer, Format, SessionDescription

if TYPE_CHECKING:
    from pbx.config import Peer, SipGeneral
    from pbx.media.session import MediaSession

__all__ = [
    "FORMATS",
    "answer_formats",
    "apply_answer",
    "caller_formats",
    "dial_offer_formats",
    "media_codec",
    "offer_formats",
    "peer_codecs",
    "reoffer",
]

# Asterisk codec name -> how SDP writes it (static PT, or the dynamic one Asterisk uses).
FORMATS: dict[str, Format] = {
    "ulaw": PCMU,
    "alaw": PCMA,
    "g722": Format("G722", 8000, 1, 9),
    "opus": Format("opus", 48000, 2, 107),  # RFC 7587: always /2 in SDP
}


def media_codec(fmt: Format) -> Codec:
    """The media engine's codec for a negotiated format (KeyError if we have none)."""
    codec = CODECS_BY_NAME[fmt.name.upper()]
    if codec.clock_rate != fmt.clock_rate:
        raise KeyError(f"{fmt}: no codec at that clock rate")
    return codec


def _passthrough(fmt: Format) -> bool:
    return not media_codec(fmt).transcodable


def _dedup(formats: Iterable[Format]) -> list[Format]:
    out: list[Format] = []
    for fmt in formats:
        if not any(fmt.same_codec(f) for f in out):
            out.append(fmt)
    return out


def peer_codecs(peer: Peer | None, general: SipGeneral | None) -> list[str]:
    """The codec names of a leg: its peer's list, else [general]'s (guests)."""
    if peer is not None:
        return peer.codecs
    return general.codecs if general is not None else list(DEFAULT_CODECS)


def offer_formats(names: Sequence[str]) -> list[Format]:
    """What a leg offers on its own (late offer): the codecs we can transcode, in order."""
    return [FORMATS[n] for n in names if n in FORMATS and not _passthrough(FORMATS[n])]


def answer_formats(names: Sequence[str], current: Format | None = None) -> list[Format]:
    """What a leg accepts in an answer: the codecs we can transcode in its order, then
    the pass-through ones (Opus) as a last resort; with ``current`` (a re-INVITE),
    the codec in use first (an Opus pass-through stays Opus)."""
    known = [FORMATS[n] for n in names if n in FORMATS]
    formats = offer_formats(names) + [f for f in known if _passthrough(f)]
    if current is not None:
        formats = _dedup([current, *formats])
    return formats


def _joint(offer: SessionDescription, names: Sequence[str]) -> list[Format]:
    """The codecs of ``offer``'s audio stream that ``names`` allow, in the names' order,
    as the offer writes them (its payload type and fmtp)."""
    audio = offer.audio()
    if audio is None:
        return []
    out = []
    for name in names:
        fmt = FORMATS.get(name)
        found = audio.find(fmt) if fmt is not None else None
        if found is not None:
            out.append(found)
    return out


def dial_offer_formats(callee_names: Sequence[str], caller_names: Sequence[str],
                       caller_offer: SessionDescription | None,
                       caller_current: Format | None) -> list[Format]:
    """The formats an outbound leg of Dial offers, in order.

    ``caller_offer`` is the caller's SDP offer while its codec is still open
    (our answer not sent); ``caller_current`` the codec it uses once fixed.
    """
    callee = [FORMATS[n] for n in callee_names if n in FORMATS]
    lead: Format | None = None
    passthrough: list[Format] = []  # what the caller can take untouched
    if caller_offer is not None:
        joint = _joint(caller_offer, caller_names)
        lead = joint[0] if joint else None
        passthrough = [f for f in joint if _passthrough(f)]
        if joint and len(passthrough) == len(joint):
            # The caller can only pass its codec through: nothing else would bridge.
            callee = [f for f in callee if any(f.same_codec(p) for p in passthrough)]
    elif caller_current is not None:
        lead = caller_current
        if _passthrough(caller_current):
            # Nothing can be transcoded to it: the callee takes this codec or nothing.
            return [caller_current] if any(f.same_codec(caller_current) for f in callee) else []
    out = []
    for fmt in _dedup([lead, *callee] if lead is not None else callee):
        if not any(fmt.same_codec(c) for c in callee):
            continue
        if _passthrough(fmt):
            mine = next((p for p in passthrough if p.same_codec(fmt)), None)
            if mine is None:
                continue
            fmt = mine  # the caller's payload type and fmtp
        out.append(fmt)
    return out


def caller_formats(callee: Format, caller_names: Sequence[str]) -> list[Format]:
    """The caller's answer preference once the callee's codec is known: that codec
    first when the caller's peer allows it (the callee's fmtp for a pass-through
    one), then the caller's own list."""
    allowed = [FORMATS[n] for n in caller_names if n in FORMATS]
    first = next((f for f in allowed if f.same_codec(callee)), None)
    own = offer_formats(caller_names)
    if first is None:
        return own
    if _passthrough(callee):
        first = Format(first.name, first.clock_rate, first.channels, first.payload_type,
                       callee.fmtp)
    return _dedup([first, *own])


def reoffer(answer: Answer | None, names: Sequence[str]) -> tuple[list[Format], int]:
    """(formats, telephone-event payload type) of a re-offer in an established call:
    the codec in use with our own numbers and fmtp (RFC 3264 8.3.2: numbers stay)."""
    if answer is None:
        return offer_formats(names), 101
    return [answer.local_format], answer.rx_dtmf_pt if answer.rx_dtmf_pt is not None else 101


def apply_answer(media: MediaSession, answer: Answer) -> None:
    """Put a negotiated answer into the leg's media session."""
    media.set_remote(answer.remote_addr, media_codec(answer.format), answer.dtmf_pt,
                     answer.ptime or 20, answer.remote_direction, pt=answer.payload_type,
                     rx_pt=answer.rx_payload_type, rx_dtmf_pt=answer.rx_dtmf_pt)
