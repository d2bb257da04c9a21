"""SDP (RFC 4566) parsing/serialization and the offer/answer model (RFC 3264).

Sans-I/O: strings and dataclasses in, strings and dataclasses out. This layer
speaks in payload formats as SDP names them (encoding name, RTP clock rate,
channels, payload type, fmtp): which of those the media engine can encode,
decode or only pass through is decided outside pbx/sip (pbx/leg_codecs.py).

As answerer the PBX accepts the first usable audio stream with ONE codec, the
first of the caller's list of acceptable formats (its preference order) that
the offer carries, plus RFC 4733 telephone-event; every other stream is
rejected (port 0, format list kept, as RFC 3264 section 6 requires).
Payload types follow RFC 3264 5.1/6.1: the numbers in a description are the
ones its author wants to *receive*, so what we send uses the remote's numbers
and what we receive uses ours.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace

from pbx.sip import sdes
from pbx.sip.sdes import SrtpKeys

__all__ = [
    "DEFAULT_FORMATS",
    "DIRECTIONS",
    "PCMA",
    "PCMU",
    "STATIC_PAYLOAD_TYPES",
    "Answer",
    "Connection",
    "Format",
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


@dataclass(frozen=True, slots=True)
class Format:
    """An RTP payload format as SDP names it (a=rtpmap + a=fmtp).

    ``payload_type`` is the static number of RFC 3551 or, for a dynamic
    format, the number it had (or that we would like it to have) in a
    description; None lets make_offer pick a free dynamic one. ``fmtp`` is the
    a=fmtp parameter string, None when there is none. Two formats are the same
    codec when ``key`` matches (the encoding name is case-insensitive).
    """

    name: str
    clock_rate: int
    channels: int = 1
    payload_type: int | None = None
    fmtp: str | None = None

    @property
    def key(self) -> tuple[str, int, int]:
        """(upper-case encoding name, clock rate, channels): the codec's identity."""
        return self.name.upper(), self.clock_rate, self.channels

    def same_codec(self, other: Format) -> bool:
        """True when ``other`` names the same codec (payload type and fmtp aside)."""
        return self.key == other.key

    def __str__(self) -> str:
        suffix = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.name}/{self.clock_rate}{suffix}"


# RFC 3551 section 6, table 4: the static audio payload types (a description
# may use them without an rtpmap line). G722's RTP clock is 8000 although it
# samples at 16 kHz (RFC 3551 4.5.2).
STATIC_PAYLOAD_TYPES: dict[int, Format] = {
    pt: Format(name, rate, channels, pt)
    for pt, name, rate, channels in (
        (0, "PCMU", 8000, 1), (3, "GSM", 8000, 1), (4, "G723", 8000, 1),
        (5, "DVI4", 8000, 1), (6, "DVI4", 16000, 1), (7, "LPC", 8000, 1),
        (8, "PCMA", 8000, 1), (9, "G722", 8000, 1), (10, "L16", 44100, 2),
        (11, "L16", 44100, 1), (12, "QCELP", 8000, 1), (13, "CN", 8000, 1),
        (14, "MPA", 90000, 1), (15, "G728", 8000, 1), (16, "DVI4", 11025, 1),
        (17, "DVI4", 22050, 1), (18, "G729", 8000, 1),
    )
}
PCMU = STATIC_PAYLOAD_TYPES[0]
PCMA = STATIC_PAYLOAD_TYPES[8]
# What a caller that says nothing gets (chan_sip's default allow, less gsm/h263).
DEFAULT_FORMATS: tuple[Format, ...] = (PCMU, PCMA)

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

# RFC 3264 section 6.1: what the answer says for each offered direction.
_MIRROR = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}

# Transport profiles we can terminate: plain RTP (AVPF is AVP plus feedback we ignore).
_RTP_PROTOS = ("RTP/AVP", "RTP/AVPF")
# SRTP with SDES keys (RFC 4568).
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

    def format_of(self, pt: int) -> Format | None:
        """The format payload type ``pt`` stands for here (rtpmap, else RFC 3551's
        static table), with this description's fmtp; None if unknown."""
        mapped = self.rtpmap.get(pt)
        if mapped is not None:
            name, rate, channels = mapped
        elif pt in STATIC_PAYLOAD_TYPES:
            static = STATIC_PAYLOAD_TYPES[pt]
            name, rate, channels = static.name, static.clock_rate, static.channels
        else:
            return None
        return Format(name, rate, channels, pt, self.fmtp.get(pt))

    def codec_name(self, pt: int) -> tuple[str, int] | None:
        """(upper-case name, clock rate) of payload type ``pt``: rtpmap or static table."""
        fmt = self.format_of(pt)
        return None if fmt is None else (fmt.name.upper(), fmt.clock_rate)

    def audio_formats(self) -> list[Format]:
        """Every known format of the m= line, in its order (the author's preference)."""
        out = []
        for pt in self.formats:
            if isinstance(pt, int):
                fmt = self.format_of(pt)
                if fmt is not None:
                    out.append(fmt)
        return out

    def find(self, wanted: Format) -> Format | None:
        """This description's entry for the codec of ``wanted`` (first one), or None."""
        for pt in self.formats:
            if isinstance(pt, int):
                fmt = self.format_of(pt)
                if fmt is not None and fmt.same_codec(wanted):
                    return fmt
        return None

    def find_format(self, name: str, rate: int = 8000) -> int | None:
        """First payload type in ``formats`` carrying codec ``name`` at ``rate``."""
        for fmt in self.audio_formats():
            if fmt.name.upper() == name.upper() and fmt.clock_rate == rate:
                return fmt.payload_type
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

# Formats that are not an audio codec of their own: never "the" codec of a stream.
_NOT_CODECS = frozenset({TELEPHONE_EVENT.upper(), "CN", "RED"})


@dataclass
class Answer:
    """Outcome of an offer/answer exchange, as the media engine needs it.

    ``sdp`` is the answer body: the one we built (negotiate) or the one the
    remote sent (accept_answer). ``format`` is the chosen codec as the remote
    describes it: its ``payload_type`` is what we put in the RTP we send, its
    ``fmtp`` the remote's parameters. ``local_format`` is the same codec as our
    own description has it: its payload type is what we receive. ``dtmf_pt``
    and ``rx_dtmf_pt`` are the same pair for RFC 4733 telephone-event (None:
    not negotiated). ``remote_direction`` is the remote's effective direction,
    with c=0.0.0.0 hold folded in (the remote does not want to receive);
    ``local_direction`` is ours. ``remote_formats`` lists every codec of the
    remote's m= line that both sides can use, in the remote's order.
    """

    sdp: SessionDescription
    format: Format
    local_format: Format
    dtmf_pt: int | None
    remote_addr: tuple[str, int]
    remote_direction: str
    ptime: int | None
    local_direction: str = "sendrecv"
    rx_dtmf_pt: int | None = None
    remote_formats: list[Format] = field(default_factory=list)
    srtp: SrtpKeys | None = None  # SDES keys when the stream is RTP/SAVP

    @property
    def payload_type(self) -> int:
        """The payload type of the RTP we send (the remote's number)."""
        assert self.format.payload_type is not None
        return self.format.payload_type

    @property
    def rx_payload_type(self) -> int:
        """The payload type of the RTP we receive (our number)."""
        assert self.local_format.payload_type is not None
        return self.local_format.payload_type

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


def _dtmf_format(m: MediaDescription, rate: int = 8000) -> int | None:
    """The telephone-event payload type of ``m`` at the audio codec's RTP clock
    ``rate`` (RFC 4733 2.1), else at 8000 (what most phones offer with any codec)."""
    found: dict[int, int] = {}
    for fmt in m.formats:
        if isinstance(fmt, int):
            mapped = m.rtpmap.get(fmt)
            if mapped and mapped[0].lower() == TELEPHONE_EVENT:
                found.setdefault(mapped[1], fmt)
    return found.get(rate, found.get(8000))


def _codecs(m: MediaDescription) -> list[Format]:
    return [f for f in m.audio_formats() if f.name.upper() not in _NOT_CODECS]


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


def _usable(m: MediaDescription) -> bool:
    proto = m.proto.upper()
    return m.media == "audio" and m.port != 0 and (proto in _RTP_PROTOS or proto in _SRTP_PROTOS)


def negotiate(
    offer: SessionDescription,
    *,
    local_addr: str,
    local_port: int,
    formats: list[Format] | tuple[Format, ...] | None = None,
    session_id: int | None = None,
    version: int = 0,
    direction: str = "sendrecv",
    require_srtp: bool = False,
    srtp_key: bytes | None = None,
) -> Answer:
    """Answer ``offer`` (RFC 3264 section 6) with one codec: the first of
    ``formats`` (our acceptable codecs, in our preference order; default
    PCMU, PCMA) that the offer carries.

    The answer keeps the offer's payload type for it and carries our own fmtp
    (``Format.fmtp`` of the entry in ``formats``). ``direction`` is what we want
    (e.g. "sendonly" to put the remote on hold); the answer's direction is its
    intersection with the mirrored offer. An RTP/SAVP stream is taken with one
    of its `a=crypto` lines we support and our own key (``srtp_key``, e.g. kept
    across re-INVITEs; else a new one); ``require_srtp`` (encryption=yes)
    refuses plain RTP streams. Raises NoCommonCodec when no offered audio
    stream carries a codec of ``formats``.
    """
    prefs = list(formats if formats is not None else DEFAULT_FORMATS)
    answer = _session(local_addr, session_id, version)
    chosen: tuple[MediaDescription, Format, Format] | None = None
    crypto: sdes.Crypto | None = None
    refused: list[str] = []
    for m in offer.media:
        usable = chosen is None and _usable(m)
        if usable and m.proto.upper() in _SRTP_PROTOS:
            crypto = sdes.choose([v for k, v in m.attributes if k == "crypto" and v])
            if crypto is None:
                refused.append(f"{m.proto} without a crypto suite we support "
                               f"({', '.join(sdes.SUITES)})")
                usable = False
        elif usable and require_srtp:
            refused.append(f"{m.proto} (encryption is required: RTP/SAVP)")
            usable = False
        if usable:
            for ours in prefs:
                theirs = m.find(ours)
                if theirs is not None:
                    chosen = (m, ours, theirs)
                    break
            if chosen is not None:
                answer.media.append(MediaDescription())  # placeholder, filled below
                continue
        answer.media.append(_reject(m))
    if chosen is None:
        offered = [
            m.proto + " " + " ".join(str(f) for f in _codecs(m)) for m in offer.media
            if m.media == "audio"
        ]
        why = f" (refused: {'; '.join(refused)})" if refused else ""
        raise NoCommonCodec(
            f"no common audio codec: offered {offered or 'no audio'}, "
            f"we accept {[str(f) for f in prefs]}{why}"
        )
    m, ours, theirs = chosen
    pt = theirs.payload_type
    assert pt is not None
    conn, remote_addr = _remote(offer, m)
    remote_dir = _effective_remote_direction(m, conn)
    local_dir = _intersect(_MIRROR[remote_dir], direction)
    dtmf_pt = _dtmf_format(m, theirs.clock_rate)
    out = MediaDescription(
        media="audio",
        port=local_port,
        proto=m.proto,
        formats=[pt],
        rtpmap={pt: (ours.name, ours.clock_rate, ours.channels)},
        ptime=m.ptime,
        direction=local_dir,
        direction_explicit=True,
    )
    if ours.fmtp:
        out.fmtp[pt] = ours.fmtp
    if dtmf_pt is not None:
        out.formats.append(dtmf_pt)
        out.rtpmap[dtmf_pt] = (TELEPHONE_EVENT, m.rtpmap[dtmf_pt][1], 1)
        out.fmtp[dtmf_pt] = DTMF_FMTP
    keys = None
    if m.proto.upper() in _SRTP_PROTOS and crypto is not None:
        mine = sdes.Crypto(crypto.tag, crypto.suite, srtp_key or sdes.new_key())
        out.attributes.append(("crypto", mine.value()))
        keys = SrtpKeys(crypto.suite, mine.key, crypto.key)
    answer.media[offer.media.index(m)] = out
    usable = [f for f in _codecs(m) if any(f.same_codec(p) for p in prefs)]
    return Answer(
        srtp=keys,
        sdp=answer,
        format=theirs,
        local_format=replace(ours, payload_type=pt),
        dtmf_pt=dtmf_pt,
        rx_dtmf_pt=dtmf_pt,
        remote_addr=remote_addr,
        remote_direction=remote_dir,
        ptime=m.ptime,
        local_direction=local_dir,
        remote_formats=usable,
    )


def _payload_types(codecs: list[Format] | tuple[Format, ...], reserved: set[int]) -> list[int]:
    """A payload type for each format: its own when it is free and, below 96, really
    RFC 3551's number for that codec; else the next free dynamic one (96-127)."""
    used = set(reserved)
    out = []
    free = (pt for pt in range(96, 128) if pt not in reserved)
    for fmt in codecs:
        pt = fmt.payload_type
        static = STATIC_PAYLOAD_TYPES.get(pt) if pt is not None and pt < 96 else None
        if pt is None or pt in used or (pt < 96 and (static is None or not static.same_codec(fmt))):
            pt = next(p for p in free if p not in used)
        used.add(pt)
        out.append(pt)
    return out


def make_offer(
    local_addr: str,
    local_port: int,
    codecs: list[Format] | tuple[Format, ...] | None = None,
    dtmf_pt: int | None = 101,
    direction: str = "sendrecv",
    session_id: int | None = None,
    version: int = 0,
    ptime: int | None = 20,
    srtp_key: bytes | None = None,
) -> SessionDescription:
    """An offer for an outbound call, or for a late offer (INVITE without SDP).

    ``codecs`` in our preference order (default PCMU, PCMA), each with its
    fmtp. With ``dtmf_pt`` telephone-event/8000 is offered under that number,
    and for a codec with another RTP clock (Opus: 48000) telephone-event at
    that clock too (RFC 4733 2.1), under a free dynamic number. With
    ``srtp_key`` the stream is RTP/SAVP with one `a=crypto` line per suite we
    support, all carrying that key (RFC 4568).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"bad direction {direction!r}")
    codecs = list(codecs if codecs is not None else DEFAULT_FORMATS)
    sdp = _session(local_addr, session_id, version)
    m = MediaDescription(
        media="audio",
        port=local_port,
        proto="RTP/SAVP" if srtp_key is not None else "RTP/AVP",
        ptime=ptime,
        direction=direction,
        direction_explicit=True,
    )
    reserved = {dtmf_pt} if dtmf_pt is not None else set()
    pts = _payload_types(codecs, reserved)
    for fmt, pt in zip(codecs, pts, strict=True):
        m.formats.append(pt)
        m.rtpmap[pt] = (fmt.name, fmt.clock_rate, fmt.channels)
        if fmt.fmtp:
            m.fmtp[pt] = fmt.fmtp
    if dtmf_pt is not None:
        rates = [8000, *sorted({f.clock_rate for f in codecs} - {8000})]
        taken = set(pts) | {dtmf_pt}
        for rate in rates:
            pt = dtmf_pt if rate == 8000 else next(p for p in range(96, 128) if p not in taken)
            taken.add(pt)
            m.formats.append(pt)
            m.rtpmap[pt] = (TELEPHONE_EVENT, rate, 1)
            m.fmtp[pt] = DTMF_FMTP
    if srtp_key is not None:
        m.attributes += [("crypto", c.value()) for c in sdes.offer_lines(srtp_key)]
    sdp.media.append(m)
    return sdp


def accept_answer(
    offer: SessionDescription, answer_sdp: SessionDescription | bytes | str
) -> Answer:
    """Read the remote's answer to our ``offer``: which codec it chose, where to send.

    The chosen codec is the first one of the answer that we offered (matched by
    codec, since an answerer may renumber dynamic payload types). Raises
    NoCommonCodec when the audio stream was rejected or the answer picked
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
    usable: list[tuple[Format, Format]] = []
    for pt in theirs.formats:
        if not isinstance(pt, int):
            continue
        # An answer may list one of our numbers without an rtpmap line: ours says what it is.
        fmt = theirs.format_of(pt) or (ours.format_of(pt) if pt in ours.formats else None)
        if fmt is None or fmt.name.upper() in _NOT_CODECS:
            continue
        mine = ours.find(fmt)
        if mine is not None:
            usable.append((replace(fmt, fmtp=theirs.fmtp.get(pt)), mine))
    if not usable:
        raise NoCommonCodec(f"the answer chose none of our codecs: {theirs.formats}")
    chosen, mine = usable[0]
    conn, remote_addr = _remote(ans, theirs)
    remote_dir = _effective_remote_direction(theirs, conn)
    dtmf_pt = _dtmf_format(theirs, chosen.clock_rate)
    if dtmf_pt is not None and dtmf_pt in theirs.rtpmap:
        # Ours at the clock the answer chose (the numbers may differ, RFC 3264 6.1).
        our_dtmf = _dtmf_format(ours, theirs.rtpmap[dtmf_pt][1])
    else:
        our_dtmf = _dtmf_format(ours, chosen.clock_rate)
        if our_dtmf in theirs.formats:  # ours listed without an rtpmap line
            dtmf_pt = our_dtmf
    return Answer(
        srtp=_answered_keys(ours, theirs),
        sdp=ans,
        format=chosen,
        local_format=mine,
        dtmf_pt=dtmf_pt,
        rx_dtmf_pt=our_dtmf if dtmf_pt is not None else None,
        remote_addr=remote_addr,
        remote_direction=remote_dir,
        ptime=theirs.ptime or ours.ptime,
        local_direction=_intersect(ours.direction, _MIRROR[remote_dir]),
        remote_formats=[f for f, _ in usable],
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
