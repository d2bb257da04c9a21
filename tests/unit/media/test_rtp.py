"""RTP header round trip, send state wraps, receive statistics (RFC 3550 A.1/A.8)."""

from __future__ import annotations

import pytest

from pbx.media.rtp import HEADER, RtpError, RtpPacket, RtpReceiveStats, RtpStream, parse_rtp


def test_round_trip_all_fields() -> None:
    p = RtpPacket(payload_type=8, seq=65535, timestamp=0xFFFFFFF0, ssrc=0xDEADBEEF,
                  payload=b"\x01" * 160, marker=True, csrc=(1, 2, 3),
                  ext_profile=0xBEDE, ext_data=b"\x10\x20\x30\x40", padding=4)
    data = p.build()
    assert data[0] >> 6 == 2
    assert data[0] & 0x20 and data[0] & 0x10 and data[0] & 0x0F == 3
    q = parse_rtp(data)
    assert q == p


def test_minimal_header_layout() -> None:
    data = RtpPacket(0, 1, 2, 3, b"ab").build()
    assert data == HEADER.pack(0x80, 0, 1, 2, 3) + b"ab"
    assert parse_rtp(data).payload == b"ab"


@pytest.mark.parametrize("bad", [b"", b"\x80" * 11, b"\x40" + bytes(11),
                                 b"\xa0" + bytes(11),  # padding with count 0
                                 b"\x83" + bytes(11)])  # 3 CSRCs missing
def test_malformed(bad: bytes) -> None:
    with pytest.raises(RtpError):
        parse_rtp(bad)


def test_stream_wraps_and_marks() -> None:
    s = RtpStream(pt=0, ssrc=7)
    s.seq = 65535
    s.ts = 0xFFFFFF00
    h1 = parse_rtp(s.packet(b"x" * 160, 160))
    h2 = parse_rtp(s.packet(b"x" * 160, 160))
    assert (h1.seq, h2.seq) == (65535, 0)
    assert h1.timestamp == 0xFFFFFF00 and h2.timestamp == (0xFFFFFF00 + 160) & 0xFFFFFFFF
    assert h1.marker and not h2.marker
    s.pause(800)
    h3 = parse_rtp(s.packet(b"x" * 160, 160))
    assert h3.marker and h3.timestamp == (h2.timestamp + 160 + 800) & 0xFFFFFFFF
    assert s.packets_sent == 3 and s.bytes_sent == 480


def test_stream_random_initial_values() -> None:
    a, b = RtpStream(), RtpStream()
    assert (a.ssrc, a.seq, a.ts) != (b.ssrc, b.seq, b.ts)


def _feed(stats: RtpReceiveStats, seqs: list[int], jitter: bool = False) -> None:
    for i, seq in enumerate(seqs):
        stats.update(seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, i * 0.020)


def test_loss_counted() -> None:
    st = RtpReceiveStats()
    seqs = [s for s in range(100, 200) if s % 10 != 0]  # 10 lost
    _feed(st, seqs)
    assert st.received == 90
    assert st.expected == 99  # 100..199 but 190+... last received is 199
    assert st.lost == 9  # 110..190 (9 of them) are within range; 100 is lost before first
    assert st.fraction_lost() == (9 << 8) // 99
    assert st.fraction_lost() == 0  # interval reset


def test_reordering_is_not_loss() -> None:
    st = RtpReceiveStats()
    seqs = [1, 2, 4, 3, 5, 7, 6, 8]
    _feed(st, seqs)
    assert st.lost == 0 and st.received == 8 and st.extended_max == 8


def test_sequence_wrap_extends() -> None:
    st = RtpReceiveStats()
    seqs = list(range(65530, 65536)) + list(range(0, 10))
    seqs.remove(2)  # one lost after the wrap
    _feed(st, seqs)
    assert st.cycles == 1 << 16
    assert st.extended_max == (1 << 16) + 9
    assert st.lost == 1


def test_jitter_zero_for_perfect_timing_and_grows_with_delay_variation() -> None:
    st = RtpReceiveStats()
    for i in range(200):
        st.update(i, i * 160, 10.0 + i * 0.020)
    assert st.jitter_ms == pytest.approx(0.0, abs=1e-6)
    st2 = RtpReceiveStats()
    for i in range(2000):
        # Alternate 0 and 4 ms extra delay: |D| = 4 ms each packet -> J -> 4 ms.
        st2.update(i, i * 160, 10.0 + i * 0.020 + (0.004 if i % 2 else 0.0))
    assert st2.jitter_ms == pytest.approx(4.0, rel=0.02)


def test_large_jump_needs_two_sequential_packets() -> None:
    st = RtpReceiveStats()
    _feed(st, [1, 2, 3])
    assert not st.update(20000, 0, 1.0)
    assert st.update(20001, 160, 1.02)
    assert st.max_seq == 20001 and st.lost == 0
