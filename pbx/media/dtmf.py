"""DTMF: RFC 4733 telephone-event payloads and SIP INFO bodies.

Digits are one-character strings: "0"-"9", "*", "#", "A"-"D", and "!" for
hook flash (event 16, as Asterisk writes it in SendDTMF).

RFC 4733 section 2.3 payload (4 bytes)::

    |     event     |E|R| volume    |          duration             |
"""

from __future__ import annotations

import struct
from collections import deque
from typing import NamedTuple

__all__ = [
    "DIGIT_TO_EVENT",
    "EVENT_TO_DIGIT",
    "DtmfError",
    "DtmfEvent",
    "DtmfPacket",
    "DtmfReceiver",
    "DtmfSender",
    "decode_event",
    "encode_event",
    "parse_dtmf_info",
]

EVENT_TO_DIGIT: dict[int, str] = {i: str(i) for i in range(10)}
EVENT_TO_DIGIT.update({10: "*", 11: "#", 12: "A", 13: "B", 14: "C", 15: "D", 16: "!"})
DIGIT_TO_EVENT: dict[str, int] = {d: e for e, d in EVENT_TO_DIGIT.items()}

_PAYLOAD = struct.Struct("!BBH")
_MAX_DURATION = 0xFFFF


class DtmfError(ValueError):
    """A telephone-event payload or digit that cannot be handled."""


def _event_number(digit: str) -> int:
    ev = DIGIT_TO_EVENT.get(digit.upper())
    if ev is None:
        raise DtmfError(f"not a DTMF digit: {digit!r}")
    return ev


def encode_event(digit: str, *, end: bool, volume: int = 10, duration: int) -> bytes:
    """The 4-byte RFC 4733 payload for ``digit`` (volume in -dBm0, 0-63)."""
    if not 0 <= volume <= 63:
        raise DtmfError(f"volume out of range 0-63: {volume}")
    if not 0 <= duration <= _MAX_DURATION:
        raise DtmfError(f"duration out of range 0-65535: {duration}")
    return _PAYLOAD.pack(_event_number(digit), (0x80 if end else 0) | volume, duration)


def decode_event(payload: bytes) -> tuple[str, bool, int, int]:
    """(digit, end, volume, duration) of an RFC 4733 payload; DtmfError if not one.

    Only the first 4 bytes are read: RFC 2198 redundancy is not negotiated.
    """
    if len(payload) < 4:
        raise DtmfError(f"telephone-event payload too short: {len(payload)} bytes")
    event, flags, duration = _PAYLOAD.unpack_from(payload)
    digit = EVENT_TO_DIGIT.get(event)
    if digit is None:
        raise DtmfError(f"unsupported telephone-event {event}")
    return digit, bool(flags & 0x80), flags & 0x3F, duration


class DtmfEvent(NamedTuple):
    """A digit as received: RTP timestamp of its start, duration in timestamp units."""

    digit: str
    timestamp: int
    duration: int
    volume: int
    ended: bool


class DtmfReceiver:
    """Turns a stream of telephone-event packets into digits, each exactly once.

    Events are keyed by their RTP timestamp (the event start, RFC 4733 2.5.1),
    so retransmitted start/continuation packets and the three redundant end
    packets never repeat a digit, while two presses of the same key (two
    timestamps) give two digits. A digit is reported when its end packet
    arrives (as Asterisk does), or when a new event starts while the previous
    one never saw an end (its end packets were lost). ``flush()`` reports a
    digit still open, e.g. when the caller hangs up or after a timeout.
    """

    def __init__(self, history: int = 16) -> None:
        self._current: DtmfEvent | None = None
        self._current_reported = False
        # Timestamps already reported: late duplicates of old events are dropped.
        self._done: deque[int] = deque(maxlen=history)
        self.last: DtmfEvent | None = None

    def feed(self, payload: bytes, timestamp: int, marker: bool = False) -> str | None:
        """Process one packet; return the digit(s) it completes, else None.

        The result is normally one character; it is two only when an event
        whose end was lost is followed by a one-packet event (start+end).
        Malformed payloads are ignored (None).
        """
        try:
            digit, end, volume, duration = decode_event(payload)
        except DtmfError:
            return None
        out = ""
        cur = self._current
        if cur is None or cur.timestamp != timestamp:
            if timestamp in self._done:
                return None
            if cur is not None and not self._current_reported:
                out += self._report()
            self._current = DtmfEvent(digit, timestamp, duration, volume, end)
            self._current_reported = False
        else:
            # Same event: keep the longest duration seen (packets may be reordered).
            self._current = cur._replace(
                duration=max(cur.duration, duration), ended=cur.ended or end
            )
        if end and not self._current_reported:
            out += self._report()
        return out or None

    def _report(self) -> str:
        assert self._current is not None
        self._current_reported = True
        self._done.append(self._current.timestamp)
        self.last = self._current
        return self._current.digit

    @property
    def pending(self) -> str | None:
        """The digit of an event that started but has not been reported yet."""
        if self._current is not None and not self._current_reported:
            return self._current.digit
        return None

    def flush(self) -> str | None:
        """Report an open event (no end seen) now, once."""
        if self.pending is None:
            return None
        return self._report()


class DtmfPacket(NamedTuple):
    """One telephone-event packet to send; every packet of an event has the same
    RTP timestamp (the event start). Send packet i of the list at tick i."""

    payload: bytes
    marker: bool
    duration: int
    end: bool


class DtmfSender:
    """Builds the RFC 4733 packet sequence of one key press.

    Start/continuation packets go every ``ptime`` ms with a growing duration,
    the marker bit on the first only; then the end packet three times
    (RFC 4733 2.5.1.4) with the final duration.
    """

    END_REPEATS = 3

    def __init__(self, clock_rate: int = 8000, ptime: int = 20, volume: int = 10) -> None:
        self.clock_rate = clock_rate
        self.ptime = ptime
        self.volume = volume

    @property
    def samples_per_packet(self) -> int:
        """Timestamp units per packet interval (160 at 8 kHz, 20 ms)."""
        return self.clock_rate * self.ptime // 1000

    def packets(self, digit: str, duration_ms: int = 100) -> list[DtmfPacket]:
        """The whole packet list for ``digit`` held ``duration_ms`` milliseconds."""
        step = self.samples_per_packet
        n = max(1, -(-duration_ms // self.ptime))
        # Long presses are capped at the 16-bit duration field (about 8 s at 8 kHz).
        n = min(n, _MAX_DURATION // step)
        out = [
            DtmfPacket(
                encode_event(digit, end=False, volume=self.volume, duration=k * step),
                k == 1,
                k * step,
                False,
            )
            for k in range(1, n + 1)
        ]
        final = n * step
        end = encode_event(digit, end=True, volume=self.volume, duration=final)
        out += [DtmfPacket(end, False, final, True)] * self.END_REPEATS
        return out


def parse_dtmf_info(content_type: str, body: bytes | str) -> str | None:
    """The digit carried by a SIP INFO body, or None if it carries none.

    ``application/dtmf-relay``: "Signal=5\\r\\nDuration=160"; ``application/dtmf``:
    "5". Signals 10-16 are accepted as event numbers (* # A B C D flash).
    """
    ctype = content_type.split(";", 1)[0].strip().lower()
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes | bytearray) else body
    if ctype == "application/dtmf-relay":
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip().lower() == "signal":
                return _signal(value.strip())
        return None
    if ctype == "application/dtmf":
        return _signal(text.strip())
    return None


def _signal(value: str) -> str | None:
    if value.isdigit() and len(value) > 1:
        return EVENT_TO_DIGIT.get(int(value))
    if len(value) == 1 and value.upper() in DIGIT_TO_EVENT:
        return value.upper()
    if value.lower() in ("hf", "flash"):
        return "!"
    return None
