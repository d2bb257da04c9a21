"""RTP packets (RFC 3550): parse/build, send state and receive statistics.

The hot paths (MediaSession.datagram_received, the player's tick) do not use
`RtpPacket`: they unpack/pack the fixed 12-byte header with the one
precompiled `HEADER` struct. `RtpPacket` is for tests, tools and odd packets.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

# V/P/X/CC, M/PT, sequence, timestamp, SSRC: one struct call per packet.
HEADER = struct.Struct("!BBHII")
HEADER_LEN = 12
RTP_VERSION = 2


class RtpError(ValueError):
    """A datagram that is not a valid RTP packet."""


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet with every RFC 3550 header field."""

    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    # Header extension (RFC 3550 5.3.1): profile-defined 16 bits + 32-bit words.
    ext_profile: int | None = None
    ext_data: bytes = b""
    padding: int = 0  # number of padding octets (incl. the count octet)

    def build(self) -> bytes:
        """Serialise to wire bytes."""
        return build_rtp(self)

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse wire bytes; raise RtpError if malformed."""
        return parse_rtp(data)


def build_rtp(p: RtpPacket) -> bytes:
    """Serialise an RtpPacket (padding, extension and CSRCs included)."""
    if len(p.csrc) > 15:
        raise RtpError("more than 15 CSRCs")
    b0 = RTP_VERSION << 6 | len(p.csrc)
    if p.padding:
        b0 |= 0x20
    if p.ext_profile is not None:
        b0 |= 0x10
    out = bytearray(
        HEADER.pack(b0, (0x80 if p.marker else 0) | (p.payload_type & 0x7F),
                    p.seq & 0xFFFF, p.timestamp & 0xFFFFFFFF, p.ssrc & 0xFFFFFFFF)
    )
    for c in p.csrc:
        out += struct.pack("!I", c)
    if p.ext_profile is not None:
        if len(p.ext_data) % 4:
            raise RtpError("extension data must be a multiple of 4 octets")
        out += struct.pack("!HH", p.ext_profile, len(p.ext_data) // 4) + p.ext_data
    out += p.payload
    if p.padding:
        if not 1 <= p.padding <= 255:
            raise RtpError("padding must be 1..255 octets")
        out += bytes(p.padding - 1) + bytes([p.padding])
    return bytes(out)


def header_length(data: bytes) -> int:
    """Length of the header (fixed + CSRCs + extension); raise RtpError if short."""
    n = len(data)
    if n < HEADER_LEN:
        raise RtpError("shorter than the RTP header")
    b0 = data[0]
    if b0 >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {b0 >> 6}")
    hlen = HEADER_LEN + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if n < hlen + 4:
            raise RtpError("truncated header extension")
        hlen += 4 + 4 * int.from_bytes(data[hlen + 2:hlen + 4], "big")
    if hlen > n:
        raise RtpError("truncated RTP header")
    return hlen


def payload_end(data: bytes) -> int:
    """Index one past the payload (i.e. excluding padding); RtpError if bad."""
    n = len(data)
    if data[0] & 0x20:
        pad = data[-1]
        if pad == 0 or pad > n - HEADER_LEN:
            raise RtpError("bad padding count")
        return n - pad
    return n


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse wire bytes into an RtpPacket; raise RtpError if malformed."""
    hlen = header_length(data)
    end = payload_end(data)
    if end < hlen:
        raise RtpError("padding overlaps the header")
    b0, b1, seq, ts, ssrc = HEADER.unpack_from(data)
    cc = b0 & 0x0F
    csrc = struct.unpack_from(f"!{cc}I", data, HEADER_LEN) if cc else ()
    ext_profile = None
    ext_data = b""
    if b0 & 0x10:
        off = HEADER_LEN + 4 * cc
        ext_profile, words = struct.unpack_from("!HH", data, off)
        ext_data = bytes(data[off + 4:off + 4 + 4 * words])
    return RtpPacket(
        payload_type=b1 & 0x7F, seq=seq, timestamp=ts, ssrc=ssrc,
        payload=bytes(data[hlen:end]), marker=bool(b1 & 0x80), csrc=tuple(csrc),
        ext_profile=ext_profile, ext_data=ext_data,
        padding=len(data) - end,
    )


class RtpStream:
    """Send state of one outgoing stream: SSRC, sequence and timestamp.

    Random SSRC, initial sequence and timestamp (RFC 3550 5.1, against
    known-plaintext attacks); both wrap. The marker bit is set on the first
    packet of a talkspurt: the first packet, and the first after `pause()`.
    """

    __slots__ = ("bytes_sent", "last_ts", "mark", "packets_sent", "pt", "seq", "ssrc", "ts")

    def __init__(self, pt: int = 0, ssrc: int | None = None) -> None:
        self.pt = pt
        self.ssrc = random.getrandbits(32) if ssrc is None else ssrc
        self.seq = random.getrandbits(16)  # next sequence number to send
        self.ts = random.getrandbits(32)  # timestamp of the next packet
        self.last_ts = self.ts
        self.mark = True
        self.packets_sent = 0
        self.bytes_sent = 0  # payload octets (RTCP "sender's octet count")

    def header(self, samples: int, marker: bool = False, pt: int | None = None) -> bytes:
        """Header for the next packet carrying `samples` samples; advances state."""
        m = 0x80 if (marker or self.mark) else 0
        self.mark = False
        h = HEADER.pack(0x80, m | (self.pt if pt is None else pt), self.seq, self.ts, self.ssrc)
        self.seq = (self.seq + 1) & 0xFFFF
        self.last_ts = self.ts
        self.ts = (self.ts + samples) & 0xFFFFFFFF
        self.packets_sent += 1
        return h

    def packet(self, payload: bytes, samples: int, marker: bool = False) -> bytes:
        """Whole packet for `payload`; advances state and counters."""
        self.bytes_sent += len(payload)
        return self.header(samples, marker) + payload

    def pause(self, samples: int = 0) -> None:
        """Silence for `samples` samples: timestamp moves on, next packet is marked."""
        self.ts = (self.ts + samples) & 0xFFFFFFFF
        self.mark = True


class RtpReceiveStats:
    """Receive statistics of one source per RFC 3550 appendix A.1, A.3 and A.8.

    `update(seq, ts, arrival)` with `arrival` in seconds (monotonic); jitter
    is kept in timestamp units and `jitter_ms` converts it.
    """

    __slots__ = (
        "bad_seq", "base_seq", "bytes", "clock_rate", "cycles", "expected_prior", "jitter",
        "max_seq", "probation", "received", "received_prior", "transit",
    )

    MAX_DROPOUT = 3000
    MAX_MISORDER = 100
    MIN_SEQUENTIAL = 2

    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self.received = 0
        self.bytes = 0
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = -1
        self.probation = -1  # -1: no packet seen yet
        self.jitter = 0.0
        self.transit: float | None = None
        self.expected_prior = 0
        self.received_prior = 0

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = -1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update(self, seq: int, ts: int, arrival: float, nbytes: int = 0) -> bool:
        """Account one packet; False if it is (so far) considered invalid."""
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation < 0:
            # First packet: start counting at once (no probation for a source
            # the SDP told us about); a later jump needs two sequential packets.
            self._init_seq(seq)
            self.probation = 0
        elif udelta < self.MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += 1 << 16  # sequence wrapped
            self.max_seq = seq
        elif udelta <= 0x10000 - self.MAX_MISORDER:
            # Large jump: accept after two sequential packets (source restart).
            if seq == self.bad_seq:
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: duplicate or reordered packet, counted below.
        self.received += 1
        self.bytes += nbytes
        # A.8 interarrival jitter, in timestamp units.
        t = arrival * self.clock_rate - ts
        prev = self.transit
        self.transit = t
        if prev is not None:
            d = t - prev
            if d < 0:
                d = -d
            # Timestamp wrap shows as a huge d: ignore that one sample.
            if d < 1 << 30:
                self.jitter += (d - self.jitter) / 16.0
        return True

    @property
    def extended_max(self) -> int:
        """Highest sequence number received, extended with wrap cycles."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """Packets expected since the first one."""
        if self.probation < 0:
            return 0
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost (negative with duplicates, as in RFC 3550)."""
        return self.expected - self.received

    def fraction_lost(self) -> int:
        """Loss fraction since the last call, in 1/256 (RFC 3550 A.3); resets the interval."""
        expected = self.expected
        exp_int = expected - self.expected_prior
        self.expected_prior = expected
        rec_int = self.received - self.received_prior
        self.received_prior = self.received
        lost_int = exp_int - rec_int
        if exp_int == 0 or lost_int <= 0:
            return 0
        return (lost_int << 8) // exp_int

    @property
    def jitter_ms(self) -> float:
        """Interarrival jitter in milliseconds."""
        return self.jitter * 1000.0 / self.clock_rate
