"""The media of a Local channel: two halves wired to each other, no socket.

What one half sends (a player's frames, a bridge's forwarded packets, music
on hold) is received by the other half at once, inside the same call, and
goes to that half's consumer (its bridge, a recorder, an echo) exactly as a
packet from a socket would. Each half is a drop-in for the parts of
MediaSession that players, recorders, bridges, music on hold and MixMonitor
use, so a Local channel's dialplan can do whatever a SIP leg's can.

A half numbers what it sends as one RTP stream of its own (sequence and
timestamp offsets per source, a marked packet when the source changes, the
timestamp moved on by the time that passed), so the SIP leg at the far end
of the chain sees one continuous stream whoever fed it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from pbx.media.clock import MediaClock
from pbx.media.codecs import Codec
from pbx.media.session import MediaStats

_monotonic = time.monotonic


class LocalHalf:
    """One end of a Local channel's media; `pair()` makes the two."""

    local_port = 0  # no socket (log lines print it)
    srtp = None
    ptime = 20
    direction = "sendrecv"

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: MediaClock, codec: Codec,
                 label: str) -> None:
        self.loop = loop
        self.clock = clock
        self.codec = codec
        self.label = label
        self.other: LocalHalf | None = None
        self.dtmf_pt = 101
        self.rx_dtmf_pt = 101
        self.closed = False
        self.consumer: Any = None
        self._consume: Callable[[bytes, int, int, int], None] | None = None
        self.monitor: Any = None
        self.generating = False
        self.on_dtmf: Callable[[str], None] | None = None
        self.on_timeout: Callable[[], None] | None = None
        self._close_callbacks: list[Callable[[], None]] = []
        self._dtmf_rx: Any = None
        # Our outgoing stream's numbering (as RtpStream's).
        self.seq = 1
        self.ts = 0
        self._last_ts = 0
        self._last_send = 0.0
        self._fwd_src: object = None
        self._seq_off = 0
        self._ts_off = 0
        self.packets_sent = 0
        self.octets_sent = 0
        self.packets_received = 0
        self.octets_received = 0

    # --- what MediaSession users read ----------------------------------------------
    @property
    def samples_per_frame(self) -> int:
        return self.codec.clock_rate * self.ptime // 1000

    @property
    def can_send(self) -> bool:
        return not self.closed

    def set_consumer(self, consumer: Any) -> Any:
        """Route what the other half sends to `consumer`; returns the previous one."""
        prev = self.consumer
        self.consumer = consumer
        self._rebind()
        return prev

    def set_monitor(self, monitor: Any) -> None:
        self.monitor = monitor
        self._rebind()

    def _rebind(self) -> None:
        rtp = self.consumer.rtp if self.consumer is not None else None
        monitor = self.monitor
        if monitor is None:
            self._consume = rtp
        elif rtp is None:
            self._consume = monitor.rx
        else:
            monitor_rx = monitor.rx

            def both(payload: bytes, marker: int, seq: int, ts: int) -> None:
                rtp(payload, marker, seq, ts)
                monitor_rx(payload, marker, seq, ts)

            self._consume = both

    def add_close_callback(self, cb: Callable[[], None]) -> None:
        self._close_callbacks.append(cb)

    def remove_close_callback(self, cb: Callable[[], None]) -> None:
        if cb in self._close_callbacks:
            self._close_callbacks.remove(cb)

    def close(self) -> None:
        """This half's channel ended: its consumer and callbacks are told."""
        if self.closed:
            return
        self.closed = True
        consumer = self.consumer
        self.consumer = None
        self._consume = None
        if consumer is not None and hasattr(consumer, "session_closed"):
            consumer.session_closed()
        for cb in list(self._close_callbacks):
            cb()

    def stats(self) -> MediaStats:
        return MediaStats(self.packets_sent, self.octets_sent, self.packets_received,
                          self.octets_received, 0, 0.0, 0.0)

    # --- sending: straight into the other half ---------------------------------------
    def _resync(self, now: float) -> None:
        if self._last_send:
            frame = self.samples_per_frame
            frames = max(1, round((now - self._last_send) * self.codec.clock_rate / frame))
            self.ts = (self._last_ts + frames * frame) & 0xFFFFFFFF

    def send_audio(self, payload: bytes | memoryview, marker: bool = False,
                   samples: int = 0) -> bool:
        """Our own audio (player, music on hold): the other half receives it."""
        other = self.other
        if self.closed or other is None:
            return False
        now = _monotonic()
        if marker:
            self._resync(now)
        self._fwd_src = None
        data = bytes(payload)
        seq, ts = self.seq, self.ts
        self._sent(len(data), samples or len(data), now)
        monitor = self.monitor
        if monitor is not None:
            monitor.tx(data, ts)
        other._deliver(data, 0x80 if marker else 0, seq, ts)
        return True

    def forward(self, payload: bytes, marker: int, seq: int, ts: int, src: object,
                pt: int = -1) -> bool:
        """A packet from elsewhere (a bridge), renumbered into our stream."""
        other = self.other
        if self.closed or other is None or self.generating:
            return False
        now = _monotonic()
        if src is not self._fwd_src:
            self._fwd_src = src
            self._resync(now)
            self._seq_off = self.seq - seq
            self._ts_off = self.ts - ts
            marker = 0x80
        oseq = (seq + self._seq_off) & 0xFFFF
        ots = (ts + self._ts_off) & 0xFFFFFFFF
        if pt >= 0:  # an RFC 4733 event
            other._deliver_dtmf(payload, marker, oseq, ots)
            return True
        monitor = self.monitor
        if monitor is not None:
            monitor.tx(payload, ots)
        if (oseq - self.seq) & 0xFFFF < 0x8000:
            self.seq = oseq
            self.ts = ots
            self._sent(len(payload), len(payload), now)
        other._deliver(payload, marker, oseq, ots)
        return True

    def _sent(self, octets: int, samples: int, now: float) -> None:
        self.seq = (self.seq + 1) & 0xFFFF
        self._last_ts = self.ts
        self.ts = (self.ts + samples) & 0xFFFFFFFF
        self._last_send = now
        self.packets_sent += 1
        self.octets_sent += octets

    def send_dtmf(self, digit: str, duration_ms: int = 100) -> bool:
        """A digit to the other side (as if it had been received there)."""
        other = self.other
        if self.closed or other is None:
            return False
        other.digit_received(digit)
        return True

    # --- receiving: what the other half sent ------------------------------------------
    def _deliver(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        if self.closed:
            return
        self.packets_received += 1
        self.octets_received += len(payload)
        consume = self._consume
        if consume is not None:
            consume(payload, marker, seq, ts)

    def _deliver_dtmf(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        if self.closed:
            return
        fwd = getattr(self.consumer, "dtmf_packet", None) if self.consumer is not None else None
        if fwd is not None:
            fwd(payload, marker, seq, ts)
        rx = self._dtmf_rx
        if rx is None:
            from pbx.media.dtmf import DtmfReceiver

            rx = self._dtmf_rx = DtmfReceiver()
        for digit in rx.feed(payload, ts, bool(marker)) or "":
            self.digit_received(digit)

    def digit_received(self, digit: str) -> None:
        consumer = self.consumer
        cb = getattr(consumer, "dtmf", None) if consumer is not None else None
        if cb is not None:
            cb(digit)
        if self.on_dtmf is not None:
            self.on_dtmf(digit)


def pair(loop: asyncio.AbstractEventLoop, clock: MediaClock, codec: Codec,
         label: str) -> tuple[LocalHalf, LocalHalf]:
    """The two halves of one Local channel (;1 and ;2), wired together."""
    one = LocalHalf(loop, clock, codec, f"{label};1")
    two = LocalHalf(loop, clock, codec, f"{label};2")
    one.other, two.other = two, one
    return one, two
