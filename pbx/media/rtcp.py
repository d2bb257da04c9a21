"""RTCP (RFC 3550 sec. 6): SR, RR and SDES CNAME compound packets.

A session sends one compound packet about every 5 s on its RTCP port (SR
when it has sent RTP since the last report, RR otherwise, always followed by
SDES CNAME) and keeps what the remote reports about our stream.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

SR = 200
RR = 201
SDES = 202
BYE = 203
APP = 204

_NTP_EPOCH_OFFSET = 2208988800  # 1900-01-01 to 1970-01-01 in seconds
_COMMON = struct.Struct("!BBH")
_SR_INFO = struct.Struct("!IIIIII")  # ssrc, ntp msw, ntp lsw, rtp ts, packets, octets
_BLOCK = struct.Struct("!IIIIII")  # ssrc, lost word, ext hi seq, jitter, lsr, dlsr


class RtcpError(ValueError):
    """A datagram that is not a valid RTCP compound packet."""


@dataclass(slots=True)
class ReportBlock:
    """One reception report block (about one source)."""

    ssrc: int
    fraction_lost: int  # 1/256 units
    cumulative_lost: int  # signed 24 bits
    highest_seq: int  # extended
    jitter: int  # timestamp units
    lsr: int = 0  # middle 32 bits of the last SR's NTP time
    dlsr: int = 0  # delay since that SR, 1/65536 s


@dataclass(slots=True)
class SenderInfo:
    """The sender-info part of an SR."""

    ntp: int  # 64-bit NTP timestamp
    rtp_ts: int
    packets: int
    octets: int


@dataclass(slots=True)
class RtcpReport:
    """What one incoming compound packet said (SR/RR + SDES CNAME + BYE)."""

    ssrc: int = 0
    sender: SenderInfo | None = None
    blocks: list[ReportBlock] = field(default_factory=list)
    cname: str | None = None
    bye: bool = False


def ntp_now(now: float | None = None) -> int:
    """The current wall time as a 64-bit NTP timestamp."""
    t = time.time() if now is None else now
    secs = int(t)
    return ((secs + _NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | int((t - secs) * (1 << 32))


def _block_bytes(b: ReportBlock) -> bytes:
    lost = max(-0x800000, min(0x7FFFFF, b.cumulative_lost)) & 0xFFFFFF
    return _BLOCK.pack(b.ssrc, (b.fraction_lost & 0xFF) << 24 | lost, b.highest_seq & 0xFFFFFFFF,
                       int(b.jitter) & 0xFFFFFFFF, b.lsr & 0xFFFFFFFF, b.dlsr & 0xFFFFFFFF)


def build_sr(ssrc: int, sender: SenderInfo, blocks: list[ReportBlock] = ()) -> bytes:  # type: ignore[assignment]
    """A Sender Report packet."""
    body = _SR_INFO.pack(ssrc, sender.ntp >> 32, sender.ntp & 0xFFFFFFFF,
                         sender.rtp_ts & 0xFFFFFFFF, sender.packets & 0xFFFFFFFF,
                         sender.octets & 0xFFFFFFFF)
    body += b"".join(_block_bytes(b) for b in blocks)
    return _COMMON.pack(0x80 | len(blocks), SR, len(body) // 4) + body


def build_rr(ssrc: int, blocks: list[ReportBlock] = ()) -> bytes:  # type: ignore[assignment]
    """A Receiver Report packet."""
    body = struct.pack("!I", ssrc) + b"".join(_block_bytes(b) for b in blocks)
    return _COMMON.pack(0x80 | len(blocks), RR, len(body) // 4) + body


def build_sdes(ssrc: int, cname: str) -> bytes:
    """An SDES packet with one chunk holding the CNAME item."""
    name = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc, 1, len(name)) + name
    chunk += bytes(4 - len(chunk) % 4)  # null item terminator + pad to 32 bits
    return _COMMON.pack(0x81, SDES, len(chunk) // 4) + chunk


def build_bye(ssrc: int) -> bytes:
    """A BYE packet for one source."""
    return _COMMON.pack(0x81, BYE, 1) + struct.pack("!I", ssrc)


def build_compound(ssrc: int, cname: str, sender: SenderInfo | None,
                   blocks: list[ReportBlock], bye: bool = False) -> bytes:
    """SR (if `sender`) or RR, then SDES CNAME, then optionally BYE."""
    first = build_sr(ssrc, sender, blocks) if sender is not None else build_rr(ssrc, blocks)
    out = first + build_sdes(ssrc, cname)
    if bye:
        out += build_bye(ssrc)
    return out


def parse_compound(data: bytes) -> RtcpReport:
    """Parse a compound packet; raise RtcpError if it is malformed."""
    rep = RtcpReport()
    off = 0
    n = len(data)
    if n < 4:
        raise RtcpError("shorter than an RTCP header")
    while off < n:
        if n - off < 4:
            raise RtcpError("trailing bytes after RTCP packets")
        b0, pt, words = _COMMON.unpack_from(data, off)
        if b0 >> 6 != 2:
            raise RtcpError(f"RTCP version {b0 >> 6}")
        end = off + 4 + 4 * words
        if end > n:
            raise RtcpError("RTCP length beyond the datagram")
        count = b0 & 0x1F
        body = off + 4
        if pt in (SR, RR):
            if end - body < 4:
                raise RtcpError("truncated report")
            (rep.ssrc,) = struct.unpack_from("!I", data, body)
            pos = body + 4
            if pt == SR:
                if end - pos < 20:
                    raise RtcpError("truncated sender info")
                _, msw, lsw, rts, pk, oc = _SR_INFO.unpack_from(data, body)
                rep.sender = SenderInfo(msw << 32 | lsw, rts, pk, oc)
                pos = body + 24
            if pos + count * 24 > end:
                raise RtcpError("truncated report blocks")
            for i in range(count):
                s, lw, hs, jit, lsr, dlsr = _BLOCK.unpack_from(data, pos + 24 * i)
                lost = lw & 0xFFFFFF
                if lost & 0x800000:
                    lost -= 0x1000000
                rep.blocks.append(ReportBlock(s, lw >> 24, lost, hs, jit, lsr, dlsr))
        elif pt == SDES:
            pos = body
            for _ in range(count):
                if pos + 4 > end:
                    break
                pos += 4
                while pos < end and data[pos] != 0:
                    if pos + 2 > end:
                        break
                    item, ln = data[pos], data[pos + 1]
                    if item == 1 and rep.cname is None:
                        rep.cname = bytes(data[pos + 2:pos + 2 + ln]).decode("utf-8", "replace")
                    pos += 2 + ln
                pos = (pos + 4) & ~3  # skip terminator and padding
        elif pt == BYE:
            rep.bye = True
        off = end
    return rep
