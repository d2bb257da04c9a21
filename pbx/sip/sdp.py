"""SDP (RFC 4566) parsing/serialization and the offer/answer model (RFC 3264).

Sans-I/O: strings and dataclasses in, strings and dataclasses out.

The PBX speaks G.711 (PCMU/PCMA) plus RFC 4733 telephone-event. As answerer
it accepts the first usable audio stream with ONE codec, chosen by the PBX's
own preference among those offered, and rejects every other stream (port 0,
format list kept, as RFC 3264 section 6 requires).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from pbx.media.codecs import CODECS_BY_NAME, CODECS_BY_PT, PCMA, PCMU, Codec
from pbx.sip import sdes
from pbx.sip.sdes import SrtpKeys

__all__ = [
    "DIRECTIONS",
    "Answer",
    "Connection",
    "MediaDescription",
    "NoCommonCodec",
    "Origin",
    "SdpError",
    "SessionDescription",
    "accept_answer",
    "make_offer",
    "negotiate",
    "parse_sdp",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

# RFC 3264 section 6.1: what the answer says for each offered direction.
_MIRROR = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}

# Transport profiles we can terminate: plain RTP (AVPF is AVP plus feedback we ignore),
# and SRTP with SDES keys (RFC 4568).
_RTP_PROTOS = ("RTP/AVP", "RTP/AVPF")
_SRTP_PROTOS = ("RTP/SAVP", "RTP/SAVPF")

TELEPHONE_EVENT = "telephone-event"
DTMF_FMTP = "0-16"


class SdpError(ValueError):
    """The SDP body is malformed or unusable."""


class NoCommonCodec(SdpError):
    """No audio codec in common: the SIP side answers 488 Not Acceptable Here."""


@dataclass
class Origin:
    """The o= line."""

    username: str = "-"
    session_id: int | str = 0
    session_version: int | str = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass
class Connection:
    """A c= line. ``address`` keeps any /ttl/count suffix out; ``suffix`` has it."""

    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"
    suffix: str = ""

    @property
    def is_hold(self) -> bool:
        """RFC 2543 style hold: c=IN IP4 0.0.0.0 (or IPv6 unspecified)."""
        return self.address in ("0.0.0.0", "::")

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}{self.suffix}"


@dataclass
class MediaDescription:
    """One m= section."""

    media: str = "audio"
    port: int = 0
    proto: str = "RTP/AVP"
    formats: list[int | str] = field(default_factory=list)
    number_of_ports: int | None = None
    # pt -> (encoding name, clock rate, channels)
    rtpmap: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    fmtp: dict[int | str, str] = field(default_factory=dict)
    ptime: int | None = None
    # Effective direction: the media's own attribute, else the session's, else sendrecv.
    direction: str = "sendrecv"
    connection: Connection | None = None
    bandwidth: list[str] = field(default_factory=list)
    # i= and k= lines as (type, value), kept verbatim.
    extra: list[tuple[str, str]] = field(default_factory=list)
    # Every other a= line as (name, value or None), in order.
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    # Whether the direction came from an explicit a= line (media or session level).
    direction_explicit: bool = False

    def codec_name(self, pt: int) -> tuple[str, int] | None:
        """(upper-case name, clock rate) of payload type ``pt``: rtpmap or static table."""
        mapped = self.rtpmap.get(pt)
        if mapped is not None:
            return mapped[0].upper(), mapped[1]
        static = CODECS_BY_PT.get(pt)
        if static is not None and 0 <= pt < 96:
            return static.name, static.clock_rate
        return None

    def find_format(self, name: str, rate: int = 8000) -> int | None:
        """First payload type in ``formats`` carrying codec ``name`` at ``rate``."""
        for fmt in self.formats:
            if isinstance(fmt, int):
                found = self.codec_name(fmt)
                if found is not None and found[0] == name.upper() and found[1] == rate:
                    return fmt
        return None

    def attribute(self, name: str) -> str | None:
        """Value of the first other attribute called ``name`` ('' for a flag), else None."""
        for key, value in self.attributes:
            if key == name:
                return "" if value is None else value
        return None

    def lines(self) -> list[str]:
        """The section as SDP lines (without line ends)."""
        port = str(self.port)
        if self.number_of_ports is not None:
            port += f"/{self.number_of_ports}"
        fmts = " ".join(str(f) for f in self.formats)
        out = [f"m={self.media} {port} {self.proto}" + (f" {fmts}" if fmts else "")]
        out += [f"{k}={v}" for k, v in self.extra if k == "i"]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"b={b}" for b in self.bandwidth]
        out += [f"{k}={v}" for k, v in self.extra if k != "i"]
        order = [f for f in self.formats if f in self.rtpmap or f in self.fmtp]
        order += [f for f in self.rtpmap if f not in order]
        order += [f for f in self.fmtp if f not in order]
        for fmt in order:
            if isinstance(fmt, int) and fmt in self.rtpmap:
                name, rate, channels = self.rtpmap[fmt]
                suffix = f"/{channels}" if channels != 1 else ""
                out.append(f"a=rtpmap:{fmt} {name}/{rate}{suffix}")
            if fmt in self.fmtp:
                out.append(f"a=fmtp:{fmt} {self.fmtp[fmt]}")
        if self.ptime is not None:
            out.append(f"a=ptime:{self.ptime}")
        out += [f"a={k}" if v is None else f"a={k}:{v}" for k, v in self.attributes]
        if self.direction_explicit or self.direction != "sendrecv":
            out.append(f"a={self.direction}")
        return out


@dataclass
class SessionDescription:
    """A whole SDP body."""

    origin: Origin = field(default_factory=Origin)
    session_name: str = "-"
    connection: Connection | None = None
    media: list[MediaDescription] = field(default_factory=list)
    # Session-level a= lines other than the direction, as (name, value or None).
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    version: int = 0
    # Session-level direction attribute when present (media inherit it).
    direction: str | None = None
    bandwidth: list[str] = field(default_factory=list)
    # i=, u=, e=, p= lines, kept verbatim in order.
    info: list[tuple[str, str]] = field(default_factory=list)
    # t=, r=, z=, k= lines, kept verbatim in order.
    timing: list[tuple[str, str]] = field(default_factory=lambda: [("t", "0 0")])

    def __str__(self) -> str:
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name or '-'}"]
        out += [f"{k}={v}" for k, v in self.info]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"b={b}" for b in self.bandwidth]
        out += [f"{k}={v}" for k, v in self.timing] or ["t=0 0"]
        out += [f"a={k}" if v is None else f"a={k}:{v}" for k, v in self.attributes]
        if self.direction is not None:
            out.append(f"a={self.direction}")
        for m in self.media:
            out += m.lines()
        return "\r\n".join(out) + "\r\n"

    def to_bytes(self) -> bytes:
        """The body as bytes, CRLF line ends, ready for a SIP message."""
        return str(self).encode("utf-8")

    def audio(self) -> MediaDescription | None:
        """The first audio stream with a non-zero port, if any."""
        for m in self.media:
            if m.media == "audio" and m.port != 0:
                return m
        return None


# ---------------------------------------------------------------- parsing


def _parse_connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError(f"malformed c= line: {value!r}")
    nettype, addrtype, addr = parts
    addrtype = addrtype.upper()
    if addrtype not in ("IP4", "IP6"):
        raise SdpError(f"unsupported address type in c= line: {value!r}")
    suffix = ""
    # Multicast /ttl/count suffixes; an IPv6 address never contains '/'.
    if "/" in addr:
        addr, rest = addr.split("/", 1)
        suffix = "/" + rest
    return Connection(address=addr, addrtype=addrtype, nettype=nettype, suffix=suffix)


def _parse_origin(value: str) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise SdpError(f"malformed o= line: {value!r}")
    user, sid, sver, nettype, addrtype, addr = parts
    sid_v: int | str = int(sid) if sid.isdigit() else sid
    sver_v: int | str = int(sver) if sver.isdigit() else sver
    return Origin(user, sid_v, sver_v, nettype, addrtype.upper(), addr)


def _parse_media(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"malformed m= line: {value!r}")
    media, port_s, proto = parts[0], parts[1], parts[2]
    nports: int | None = None
    if "/" in port_s:
        port_s, n_s = port_s.split("/", 1)
        if not n_s.isdigit():
            raise SdpError(f"malformed port in m= line: {value!r}")
        nports = int(n_s)
    if not port_s.isdigit() or int(port_s) > 65535:
        raise SdpError(f"malformed port in m= line: {value!r}")
    formats: list[int | str] = []
    is_rtp = proto.upper().startswith("RTP/") or "/RTP/" in proto.upper()
    for f in parts[3:]:
        if is_rtp:
            if not f.isdigit() or int(f) > 127:
                raise SdpError(f"bad RTP payload type {f!r} in m= line: {value!r}")
            formats.append(int(f))
        else:
            formats.append(f)
    return MediaDescription(
        media=media, port=int(port_s), proto=proto, formats=formats, number_of_ports=nports
    )


def _fmt_key(fmt: str) -> int | str:
    return int(fmt) if fmt.isdigit() else fmt


def _media_attribute(m: MediaDescription, name: str, value: str | None) -> None:
    if name == "rtpmap" and value is not None:
        pt_s, _, enc = value.partition(" ")
        bits = enc.strip().split("/")
        if not pt_s.isdigit() or len(bits) < 2 or not bits[1].isdigit():
            raise SdpError(f"malformed rtpmap: {value!r}")
        channels = int(bits[2]) if len(bits) > 2 and bits[2].isdigit() else 1
        m.rtpmap[int(pt_s)] = (bits[0], int(bits[1]), channels)
    elif name == "fmtp" and value is not None:
        fmt, _, params = value.partition(" ")
        m.fmtp[_fmt_key(fmt)] = params.strip()
    elif name == "ptime" and value is not None:
        try:
            m.ptime = int(float(value))
        except ValueError as exc:
            raise SdpError(f"malformed ptime: {value!r}") from exc
    elif name in DIRECTIONS and value is None:
        m.direction = name
        m.direction_explicit = True
    else:
        m.attributes.append((name, value))


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse an SDP body; raise SdpError when it is not SDP or is malformed."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes | bytearray) else data
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n")]
    lines = [ln for ln in lines if ln]
    if not lines or not lines[0].startswith("v="):
        raise SdpError("SDP must start with a v= line")
    sdp = SessionDescription(timing=[])
    media: MediaDescription | None = None
    for lineno, line in enumerate(lines, 1):
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"line {lineno}: not a type=value line: {line!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            media = _parse_media(value)
            sdp.media.append(media)
            continue
        if media is None:
            if kind == "v":
                if value.strip() != "0":
                    raise SdpError(f"unsupported SDP version: {value!r}")
            elif kind == "o":
                sdp.origin = _parse_origin(value)
            elif kind == "s":
                sdp.session_name = value
            elif kind == "c":
                sdp.connection = _parse_connection(value)
            elif kind == "b":
                sdp.bandwidth.append(value)
            elif kind in "trzk":
                sdp.timing.append((kind, value))
            elif kind == "a":
                name, sep, val = value.partition(":")
                if name in DIRECTIONS and not sep:
                    sdp.direction = name
                else:
                    sdp.attributes.append((name, val if sep else None))
            else:
                sdp.info.append((kind, value))
        else:
            if kind == "c":
                media.connection = _parse_connection(value)
            elif kind == "b":
                media.bandwidth.append(value)
            elif kind == "a":
                name, sep, val = value.partition(":")
                _media_attribute(media, name, val if sep else None)
            else:
                media.extra.append((kind, value))
    # Media without their own direction inherit the session-level one (RFC 4566 6).
    if sdp.direction is not None:
        for m in sdp.media:
            if not m.direction_explicit:
                m.direction = sdp.direction
    if not sdp.timing:
        sdp.timing.append(("t", "0 0"))
    return sdp


# ------------------------------------------------------- offer / answer


@dataclass
class Answer:
    """Outcome of an offer/answer exchange, as the media engine needs it.

    ``sdp`` is the answer body: the one we built (negotiate) or the one the
    remote sent (accept_answer). ``payload_type`` is the PT to put in RTP for
    ``codec`` (normally the codec's static PT). ``remote_direction`` is the
    remote's effective direction, with c=0.0.0.0 hold folded in (the remote
    does not want to receive); ``local_direction`` is ours.
    """

    sdp: SessionDescription
    codec: Codec
    dtmf_pt: int | None
    remote_addr: tuple[str, int]
    remote_direction: str
    ptime: int | None
    payload_type: int
    local_direction: str = "sendrecv"
    srtp: SrtpKeys | None = None  # SDES keys when the stream is RTP/SAVP

    @property
    def on_hold(self) -> bool:
        """The remote put us on hold (it no longer wants our media)."""
        return self.remote_direction in ("sendonly", "inactive")

    @property
    def can_send(self) -> bool:
        """We may send RTP to the remote."""
        return self.local_direction in ("sendrecv", "sendonly") and self.remote_direction in (
            "sendrecv",
            "recvonly",
        )


def _addrtype(addr: str) -> str:
    return "IP6" if ":" in addr else "IP4"


def _bare(addr: str) -> str:
    return addr[1:-1] if addr.startswith("[") and addr.endswith("]") else addr


def _new_session_id() -> int:
    # NTP-ish, as RFC 4566 suggests; random low bits avoid collisions within a second.
    return int(time.time()) * 1000 + random.randrange(1000)


def _intersect(a: str, b: str) -> str:
    """The direction allowed by both ``a`` and ``b`` (from the same side's view)."""
    send = a in ("sendrecv", "sendonly") and b in ("sendrecv", "sendonly")
    recv = a in ("sendrecv", "recvonly") and b in ("sendrecv", "recvonly")
    return {
        (True, True): "sendrecv",
        (True, False): "sendonly",
        (False, True): "recvonly",
        (False, False): "inactive",
    }[(send, recv)]


def _effective_remote_direction(m: MediaDescription, conn: Connection) -> str:
    if conn.is_hold:
        # RFC 3264 8.4: c=0.0.0.0 means "do not send to me" (RFC 2543 hold).
        return _intersect(m.direction, "sendonly")
    return m.direction


def _remote(sdp: SessionDescription, m: MediaDescription) -> tuple[Connection, tuple[str, int]]:
    conn = m.connection or sdp.connection
    if conn is None:
        raise SdpError("no connection address (c=) for the audio stream")
    return conn, (conn.address, m.port)


def _dtmf_format(m: MediaDescription) -> int | None:
    for fmt in m.formats:
        if isinstance(fmt, int):
            mapped = m.rtpmap.get(fmt)
            if mapped and mapped[0].lower() == TELEPHONE_EVENT and mapped[1] == 8000:
                return fmt
    return None


def _reject(m: MediaDescription) -> MediaDescription:
    return MediaDescription(media=m.media, port=0, proto=m.proto, formats=list(m.formats))


def _session(local_addr: str, session_id: int | None, version: int) -> SessionDescription:
    addr = _bare(local_addr)
    sid = _new_session_id() if session_id is None else session_id
    return SessionDescription(
        origin=Origin("pbx", sid, version, "IN", _addrtype(addr), addr),
        session_name="pbx",
        connection=Connection(addr, _addrtype(addr)),
    )


def negotiate(
    offer: SessionDescription,
    *,
    local_addr: str,
    local_port: int,
    preferred: list[str] | None = None,
    session_id: int | None = None,
    version: int = 0,
    direction: str = "sendrecv",
    require_srtp: bool = False,
    srtp_key: bytes | None = None,
) -> Answer:
    """Answer ``offer`` (RFC 3264 section 6) with one codec by our preference.

    ``direction`` is what we want (e.g. "sendonly" to put the remote on hold);
    the answer's direction is its intersection with the mirrored offer.
    An RTP/SAVP stream is taken with one of its `a=crypto` lines we support
    and our own key (``srtp_key``, e.g. kept across re-INVITEs; else a new
    one); ``require_srtp`` (encryption=yes) refuses plain RTP streams.
    Raises NoCommonCodec when no offered audio stream carries a codec we have.
    """
    prefs = [p.upper() for p in (preferred if preferred is not None else ["PCMU", "PCMA"])]
    answer = _session(local_addr, session_id, version)
    chosen: tuple[MediaDescription, Codec, int] | None = None
    crypto: sdes.Crypto | None = None
    refused: list[str] = []
    for m in offer.media:
        proto = m.proto.upper()
        usable = chosen is None and m.media == "audio" and m.port != 0 and (
            proto in _SRTP_PROTOS or (proto in _RTP_PROTOS and not require_srtp))
        if usable and proto in _SRTP_PROTOS:
            crypto = sdes.choose([v for k, v in m.attributes if k == "crypto" and v])
            if crypto is None:
                refused.append(f"{m.proto} without a crypto suite we support "
                               f"({', '.join(sdes.SUITES)})")
                usable = False
        elif chosen is None and m.media == "audio" and proto in _RTP_PROTOS and require_srtp:
            refused.append(f"{m.proto} (encryption is required: RTP/SAVP)")
        if usable:
            for name in prefs:
                codec = CODECS_BY_NAME.get(name)
                if codec is None:
                    continue
                pt = m.find_format(codec.name, codec.clock_rate)
                if pt is not None:
                    chosen = (m, codec, pt)
                    break
            if chosen is not None:
                answer.media.append(MediaDescription())  # placeholder, filled below
                continue
        answer.media.append(_reject(m))
    if chosen is None:
        offered = [
            m.proto + " " + " ".join(str(f) for f in m.formats)
            for m in offer.media
            if m.media == "audio"
        ]
        why = f" (refused: {'; '.join(refused)})" if refused else ""
        raise NoCommonCodec(
            f"no common audio codec: offered {offered or 'no audio'}, we support {prefs}{why}"
        )
    m, codec, pt = chosen
    conn, remote_addr = _remote(offer, m)
    remote_dir = _effective_remote_direction(m, conn)
    local_dir = _intersect(_MIRROR[remote_dir], direction)
    dtmf_pt = _dtmf_format(m)
    out = MediaDescription(
        media="audio",
        port=local_port,
        proto=m.proto,
        formats=[pt],
        rtpmap={pt: (codec.name, codec.clock_rate, 1)},
        ptime=m.ptime,
        direction=local_dir,
        direction_explicit=True,
    )
    if dtmf_pt is not None:
        out.formats.append(dtmf_pt)
        out.rtpmap[dtmf_pt] = (TELEPHONE_EVENT, 8000, 1)
        out.fmtp[dtmf_pt] = DTMF_FMTP
    keys = None
    if m.proto.upper() in _SRTP_PROTOS and crypto is not None:
        ours = sdes.Crypto(crypto.tag, crypto.suite, srtp_key or sdes.new_key())
        out.attributes.append(("crypto", ours.value()))
        keys = SrtpKeys(crypto.suite, ours.key, crypto.key)
    answer.media[offer.media.index(m)] = out
    return Answer(
        srtp=keys,
        sdp=answer,
        codec=codec,
        dtmf_pt=dtmf_pt,
        remote_addr=remote_addr,
        remote_direction=remote_dir,
        ptime=m.ptime,
        payload_type=pt,
        local_direction=local_dir,
    )


def make_offer(
    local_addr: str,
    local_port: int,
    codecs: list[Codec] | None = None,
    dtmf_pt: int | None = 101,
    direction: str = "sendrecv",
    session_id: int | None = None,
    version: int = 0,
    ptime: int | None = 20,
    srtp_key: bytes | None = None,
) -> SessionDescription:
    """An offer for an outbound call, or for a late offer (INVITE without SDP).

    With ``srtp_key`` the stream is RTP/SAVP with one `a=crypto` line per
    suite we support, all carrying that key (RFC 4568)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"bad direction {direction!r}")
    sdp = _session(local_addr, session_id, version)
    m = MediaDescription(
        media="audio",
        port=local_port,
        proto="RTP/SAVP" if srtp_key is not None else "RTP/AVP",
        ptime=ptime,
        direction=direction,
        direction_explicit=True,
    )
    for codec in codecs if codecs is not None else [PCMU, PCMA]:
        m.formats.append(codec.payload_type)
        m.rtpmap[codec.payload_type] = (codec.name, codec.clock_rate, 1)
    if dtmf_pt is not None:
        m.formats.append(dtmf_pt)
        m.rtpmap[dtmf_pt] = (TELEPHONE_EVENT, 8000, 1)
        m.fmtp[dtmf_pt] = DTMF_FMTP
    if srtp_key is not None:
        m.attributes += [("crypto", c.value()) for c in sdes.offer_lines(srtp_key)]
    sdp.media.append(m)
    return sdp


def accept_answer(
    offer: SessionDescription, answer_sdp: SessionDescription | bytes | str
) -> Answer:
    """Read the remote's answer to our ``offer``: which codec it chose, where to send.

    Raises NoCommonCodec when the audio stream was rejected or the answer picked
    nothing we offered, SdpError when the answer does not match the offer.
    """
    ans = answer_sdp if isinstance(answer_sdp, SessionDescription) else parse_sdp(answer_sdp)
    index = next((i for i, m in enumerate(offer.media) if m.media == "audio" and m.port != 0), None)
    if index is None:
        raise SdpError("our offer has no audio stream")
    if len(ans.media) != len(offer.media):
        raise SdpError(
            f"answer has {len(ans.media)} m= lines, offer had {len(offer.media)} (RFC 3264 6)"
        )
    ours, theirs = offer.media[index], ans.media[index]
    if theirs.port == 0:
        raise NoCommonCodec("the remote rejected the audio stream (port 0)")
    chosen: tuple[Codec, int] | None = None
    for fmt in theirs.formats:
        if not isinstance(fmt, int) or fmt not in ours.formats:
            continue
        named = theirs.codec_name(fmt) or ours.codec_name(fmt)
        if named is None:
            continue
        codec = CODECS_BY_NAME.get(named[0])
        if codec is not None and named[1] == codec.clock_rate:
            chosen = (codec, fmt)
            break
    if chosen is None:
        raise NoCommonCodec(f"the answer chose none of our codecs: {theirs.formats}")
    codec, pt = chosen
    conn, remote_addr = _remote(ans, theirs)
    remote_dir = _effective_remote_direction(theirs, conn)
    dtmf_pt = _dtmf_format(theirs)
    if dtmf_pt is None and _dtmf_format(ours) in theirs.formats:
        dtmf_pt = _dtmf_format(ours)
    return Answer(
        srtp=_answered_keys(ours, theirs),
        sdp=ans,
        codec=codec,
        dtmf_pt=dtmf_pt,
        remote_addr=remote_addr,
        remote_direction=remote_dir,
        ptime=theirs.ptime or ours.ptime,
        payload_type=pt,
        local_direction=_intersect(ours.direction, _MIRROR[remote_dir]),
    )


def _answered_keys(ours: MediaDescription, theirs: MediaDescription) -> SrtpKeys | None:
    """The SDES outcome of our offer: the answer's crypto line names one of our tags."""
    secure = ours.proto.upper() in _SRTP_PROTOS
    if theirs.proto.upper() in _SRTP_PROTOS and not secure:
        raise SdpError(f"the answer is {theirs.proto}, our offer was {ours.proto}")
    if not secure:
        return None
    if theirs.proto.upper() not in _SRTP_PROTOS:
        raise NoCommonCodec(f"we offered {ours.proto}, the answer is {theirs.proto}")
    offered = {}
    for k, v in ours.attributes:
        if k == "crypto" and v:
            c = sdes.parse_crypto(v)
            offered[c.tag] = c
    for k, v in theirs.attributes:
        if k != "crypto" or not v:
            continue
        try:
            c = sdes.parse_crypto(v)
        except sdes.CryptoError as exc:
            raise SdpError(f"unusable crypto line in the answer: {exc}") from exc
        mine = offered.get(c.tag)
        if mine is not None and mine.suite == c.suite:
            return SrtpKeys(c.suite, mine.key, c.key)
    raise NoCommonCodec("the answer has no crypto line matching our offer (RFC 4568)")
