"""A Local channel's media: what one half sends, the other receives, as one stream."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from pbx.media.clock import MediaClock
from pbx.media.codecs import PCMU
from pbx.media.local_pair import pair


class Sink:
    def __init__(self) -> None:
        self.packets: list[tuple[bytes, int, int, int]] = []
        self.digits: list[str] = []
        self.closed = False

    def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        self.packets.append((payload, marker, seq, ts))

    def dtmf(self, digit: str) -> None:
        self.digits.append(digit)

    def session_closed(self) -> None:
        self.closed = True


class Tap:
    def __init__(self) -> None:
        self.rx_seen: list[bytes] = []
        self.tx_seen: list[bytes] = []

    def rx(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        self.rx_seen.append(payload)

    def tx(self, payload: bytes, ts: int) -> None:
        self.tx_seen.append(payload)


def halves() -> tuple[Any, Any]:
    loop = asyncio.new_event_loop()
    return pair(loop, MediaClock(loop), PCMU, "Local/1@x-00000001")


def test_what_one_half_sends_the_other_receives_as_one_stream() -> None:
    one, two = halves()
    sink = Sink()
    two.set_consumer(sink)
    assert one.send_audio(b"\x01" * 160, True)
    one.send_audio(b"\x02" * 160)
    # Then a bridge forwards packets from elsewhere with their own numbering.
    src = object()
    assert one.forward(b"\x03" * 160, 0, 5000, 900000, src)
    one.forward(b"\x04" * 160, 0, 5001, 900160, src)
    seqs = [p[2] for p in sink.packets]
    assert seqs == [seqs[0] + i for i in range(4)]  # one sequence whoever fed it
    assert [p[1] for p in sink.packets] == [0x80, 0, 0x80, 0]  # a new source is marked
    ts = [p[3] for p in sink.packets]
    assert ts[1] - ts[0] == 160 and ts[2] - ts[1] >= 160 and ts[3] - ts[2] == 160
    assert [p[0][0] for p in sink.packets] == [1, 2, 3, 4]


def test_music_on_hold_mutes_forwarding_and_monitors_see_both_ways() -> None:
    one, two = halves()
    sink, monitor = Sink(), Tap()
    two.set_consumer(sink)
    two.set_monitor(monitor)
    one.generating = True
    assert not one.forward(b"\x05" * 160, 0, 1, 160, object())
    one.generating = False
    one.send_audio(b"\x06" * 160)
    two.send_audio(b"\x07" * 160)
    assert monitor.rx_seen == [b"\x06" * 160] and monitor.tx_seen == [b"\x07" * 160]
    assert len(sink.packets) == 1  # the monitor did not take the consumer's place


def test_rfc4733_events_through_the_pair_become_digits() -> None:
    one, two = halves()
    sink = Sink()
    two.set_consumer(sink)
    heard: list[str] = []
    two.on_dtmf = heard.append
    for i, end in enumerate((False, False, True, True)):
        payload = struct.pack("!BBH", 5, (0x80 if end else 0) | 10, 160 * (i + 1))
        one.forward(payload, 0x80 if i == 0 else 0, 10 + i, 4000, object(), pt=101)
    assert heard == ["5"] and sink.digits == ["5"]


def test_closing_a_half_tells_its_consumer() -> None:
    one, two = halves()
    sink = Sink()
    two.set_consumer(sink)
    called: list[int] = []
    two.add_close_callback(lambda: called.append(1))
    two.close()
    assert sink.closed and called == [1]
    assert one.send_audio(b"\x00" * 160) and sink.packets == []  # nothing reaches it
