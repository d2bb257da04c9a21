"""RFC 4733 telephone-event and SIP INFO DTMF."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.media.dtmf import (
    DIGIT_TO_EVENT,
    DtmfError,
    DtmfReceiver,
    DtmfSender,
    decode_event,
    encode_event,
    parse_dtmf_info,
)

SIPP_PCAPS = Path("/usr/share/sip-tester")
DIGITS = "0123456789*#ABCD!"


# ------------------------------------------------------------------ payloads


def test_encode_layout() -> None:
    # event 5, E=1, R=0, volume 10, duration 800
    assert encode_event("5", end=True, volume=10, duration=800) == bytes([5, 0x8A, 0x03, 0x20])
    assert encode_event("#", end=False, duration=0) == bytes([11, 10, 0, 0])
    assert encode_event("!", end=False, duration=160)[0] == 16
    assert encode_event("a", end=False, duration=1)[0] == 12  # letters are case-insensitive


@given(st.sampled_from(DIGITS), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF))
def test_round_trip(digit: str, end: bool, volume: int, duration: int) -> None:
    payload = encode_event(digit, end=end, volume=volume, duration=duration)
    assert len(payload) == 4
    assert decode_event(payload) == (digit, end, volume, duration)


def test_decode_ignores_reserved_bit_and_trailing_bytes() -> None:
    assert decode_event(bytes([1, 0x40 | 0x80 | 7, 0, 160, 99])) == ("1", True, 7, 160)


@pytest.mark.parametrize("bad", [b"", b"\x01\x02\x03", bytes([17, 0, 0, 0]), bytes([200, 0, 0, 0])])
def test_decode_rejects(bad: bytes) -> None:
    with pytest.raises(DtmfError):
        decode_event(bad)


def test_encode_rejects() -> None:
    with pytest.raises(DtmfError):
        encode_event("x", end=False, duration=0)
    with pytest.raises(DtmfError):
        encode_event("1", end=False, duration=70000)
    with pytest.raises(DtmfError):
        encode_event("1", end=False, volume=64, duration=0)


# ------------------------------------------------------------------ receiving


def press(digit: str, ts: int, n: int = 5, ends: int = 3) -> list[tuple[bytes, int, bool]]:
    """A realistic packet run: start with marker, continuations, redundant ends."""
    pkts = [(encode_event(digit, end=False, duration=160 * k), ts, k == 1) for k in range(1, n + 1)]
    pkts += [(encode_event(digit, end=True, duration=160 * (n + 1)), ts, False)] * ends
    return pkts


def feed_all(rx: DtmfReceiver, packets: list[tuple[bytes, int, bool]]) -> list[str | None]:
    return [rx.feed(p, ts, m) for p, ts, m in packets]


def test_one_press_gives_one_digit_at_the_end() -> None:
    rx = DtmfReceiver()
    out = feed_all(rx, press("5", 1000))
    assert out == [None] * 5 + ["5", None, None]
    assert rx.last is not None and rx.last.duration == 960 and rx.last.timestamp == 1000
    assert rx.pending is None and rx.flush() is None


def test_same_digit_twice_gives_two_digits() -> None:
    rx = DtmfReceiver()
    out = feed_all(rx, press("7", 1000) + press("7", 3000))
    assert [d for d in out if d] == ["7", "7"]


def test_retransmitted_start_and_late_duplicate_end_are_ignored() -> None:
    rx = DtmfReceiver()
    pkts = press("1", 1000)
    pkts.insert(1, pkts[0])  # retransmitted start
    got = feed_all(rx, pkts)
    got += feed_all(rx, press("2", 2000)[:2])
    got += feed_all(rx, [pkts[-1]])  # a late end of the old event after "2" began
    got += feed_all(rx, press("2", 2000)[2:])
    assert [d for d in got if d] == ["1", "2"]


def test_lost_end_is_reported_when_the_next_event_starts() -> None:
    rx = DtmfReceiver()
    got = feed_all(rx, press("3", 1000, ends=0))
    assert rx.pending == "3"
    got += feed_all(rx, press("4", 2000))
    assert [d for d in got if d] == ["3", "4"]


def test_lost_end_then_single_packet_event_reports_both() -> None:
    rx = DtmfReceiver()
    feed_all(rx, press("3", 1000, ends=0))
    assert rx.feed(encode_event("4", end=True, duration=800), 2000, True) == "34"


def test_lost_start_reports_on_end_and_flush_reports_open_event() -> None:
    rx = DtmfReceiver()
    assert rx.feed(encode_event("9", end=True, duration=800), 500, False) == "9"
    assert rx.feed(encode_event("8", end=False, duration=160), 900, True) is None
    assert rx.flush() == "8"
    assert rx.flush() is None
    assert rx.feed(encode_event("8", end=True, duration=800), 900, False) is None


def test_garbage_payload_is_ignored() -> None:
    rx = DtmfReceiver()
    assert rx.feed(b"\x01", 1, True) is None
    assert feed_all(rx, press("#", 5))[-3] == "#"


def read_rtp_payloads(path: Path) -> list[tuple[int, bool, int, bytes]]:
    """A tiny pcap reader: (payload type, marker, timestamp, payload) per RTP packet."""
    data = path.read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    link_len = {1: 14, 113: 16, 0: 4}[linktype]  # Ethernet, Linux cooked, BSD loopback
    out = []
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack_from(endian + "I", data, pos + 8)[0]
        pkt = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        ip = link_len
        if pkt[ip] >> 4 != 4 or pkt[ip + 9] != 17:
            continue  # only IPv4/UDP here
        udp = ip + (pkt[ip] & 0x0F) * 4
        rtp = udp + 8
        b0, b1, _seq, ts = struct.unpack_from("!BBHI", pkt, rtp)
        header = 12 + 4 * (b0 & 0x0F)
        out.append((b1 & 0x7F, bool(b1 & 0x80), ts, pkt[rtp + header :]))
    return out


SIPP_FILES = {f"dtmf_2833_{d}.pcap": d for d in "0123456789"}
SIPP_FILES.update({"dtmf_2833_pound.pcap": "#", "dtmf_2833_star.pcap": "*"})


@pytest.mark.parametrize(("name", "digit"), sorted(SIPP_FILES.items()))
def test_sipp_pcap_gives_one_digit(name: str, digit: str) -> None:
    if not SIPP_PCAPS.is_dir():  # `make test` installs sip-tester: a failure, not a skip
        pytest.fail("sip-tester (SIPp) and its pcaps are not installed (make test installs them)")
    packets = read_rtp_payloads(SIPP_PCAPS / name)
    assert len(packets) >= 4
    rx = DtmfReceiver()
    got = [rx.feed(payload, ts, marker) for pt, marker, ts, payload in packets if pt == 101]
    assert [d for d in got if d] == [digit]
    assert packets[0][1] is True  # the first carries the marker
    assert rx.last is not None and rx.last.duration > 0


# ------------------------------------------------------------------ sending


def test_sender_sequence() -> None:
    pkts = DtmfSender().packets("5", duration_ms=100)
    assert len(pkts) == 5 + 3
    assert [p.marker for p in pkts] == [True] + [False] * 7
    assert [p.duration for p in pkts] == [160, 320, 480, 640, 800, 800, 800, 800]
    assert [p.end for p in pkts] == [False] * 5 + [True] * 3
    assert all(decode_event(p.payload)[0] == "5" for p in pkts)
    assert decode_event(pkts[-1].payload) == ("5", True, 10, 800)


def test_sender_output_decodes_to_one_digit_each() -> None:
    tx, rx = DtmfSender(), DtmfReceiver()
    got = []
    for i, digit in enumerate("1123*#"):
        for p in tx.packets(digit, duration_ms=60):
            got.append(rx.feed(p.payload, 10_000 + i * 2000, p.marker))
    assert "".join(d for d in got if d) == "1123*#"


def test_sender_caps_duration_and_rounds_up() -> None:
    long = DtmfSender().packets("1", duration_ms=60_000)
    assert long[-1].duration <= 0xFFFF
    assert len(DtmfSender().packets("1", duration_ms=30)) == 2 + 3
    assert DtmfSender(ptime=30).samples_per_packet == 240


# ------------------------------------------------------------------ SIP INFO


@pytest.mark.parametrize(
    ("ctype", "body", "digit"),
    [
        ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5"),
        ("Application/DTMF-Relay; charset=utf-8", b"Signal= #\nDuration=250", "#"),
        ("application/dtmf-relay", "signal=*\r\n", "*"),
        ("application/dtmf-relay", "Signal=10\r\nDuration=160", "*"),
        ("application/dtmf-relay", "Signal=11", "#"),
        ("application/dtmf-relay", "Signal=16", "!"),
        ("application/dtmf-relay", "Signal=d", "D"),
        ("application/dtmf", "5", "5"),
        ("application/dtmf", b"#\r\n", "#"),
        ("application/dtmf-relay", "Duration=160", None),
        ("application/dtmf-relay", "Signal=X", None),
        ("application/dtmf", "", None),
        ("text/plain", "Signal=5", None),
    ],
)
def test_parse_dtmf_info(ctype: str, body: str | bytes, digit: str | None) -> None:
    assert parse_dtmf_info(ctype, body) == digit


def test_event_table() -> None:
    assert DIGIT_TO_EVENT["*"] == 10 and DIGIT_TO_EVENT["#"] == 11 and DIGIT_TO_EVENT["D"] == 15
