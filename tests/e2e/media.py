"""RTP endpoints for the end-to-end tests: the test's own UDP socket is the
phone's media, so what the PBX sends can be decoded and checked by content.

SIPp only signals; the SDP it sends names one of these sockets (keys rtpport,
codec_pt, codec_name).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import socket
import statistics
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pbx.media.codecs import G722, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from pbx.media.wav import read_wav

REPO = Path(__file__).resolve().parents[2]
SOUNDS = REPO / "sounds" / "en"

# Whole streams (G.722 carries state from packet to packet): PCM at RATE[pt].
ENCODE = {0: ulaw_encode, 8: alaw_encode, 9: G722.encode}
DECODE = {0: ulaw_decode, 8: alaw_decode, 9: G722.decode}
RATE = {0: 8000, 8: 8000, 9: 16000}
EVENTS = "0123456789*#ABCD"


def prompt_pcm(name: str) -> bytes:
    """A prompt as 8 kHz 16-bit PCM."""
    return read_wav(SOUNDS / f"{name}.wav")


def g711_roundtrip(pcm: bytes, pt: int = 0) -> bytes:
    """What a prompt sounds like after one G.711 encode/decode."""
    return DECODE[pt](ENCODE[pt](pcm))


def chirp(seconds: float = 1.5, f0: float = 300.0, f1: float = 3000.0,
          amplitude: float = 12000.0) -> bytes:
    """A linear sweep: unlike speech it correlates at one lag only."""
    n = int(8000 * seconds)
    t = np.arange(n) / 8000.0
    phase = 2 * math.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))
    return (amplitude * np.sin(phase)).astype("<i2").tobytes()


def correlation(received: bytes, reference: bytes) -> float:
    """Peak normalised cross-correlation of `reference` slid over `received`
    (the shorter one is the template): 1.0 = identical up to gain and delay."""
    x = np.frombuffer(received, dtype="<i2").astype(np.float64)
    y = np.frombuffer(reference, dtype="<i2").astype(np.float64)
    if len(x) < len(y):
        x, y = y, x
    n = len(y)
    if n == 0 or not np.any(y):
        return 0.0
    size = 1 << (len(x) + n).bit_length()
    num = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(y, size)), size)
    num = num[:len(x) - n + 1]
    energy = np.concatenate(([0.0], np.cumsum(x * x)))
    window = energy[n:] - energy[:-n]
    denom = np.sqrt(np.maximum(window, 1e-9) * float(np.dot(y, y)))
    # Windows of near silence would divide by ~0: they cannot hold the template.
    ncc = np.where(window > 1e-3 * float(np.dot(y, y)), num / denom, 0.0)
    return float(ncc.max()) if len(ncc) else 0.0


@dataclass(slots=True)
class Packet:
    at: float  # monotonic arrival time
    source: tuple
    pt: int
    marker: bool
    seq: int
    ts: int
    ssrc: int
    payload: bytes


class RtpEndpoint:
    """A UDP socket on loopback that records every RTP packet it receives
    (in a thread) and can send audio and RFC 4733 events."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        if host not in ("127.0.0.1", "::1"):
            raise ValueError("tests only use loopback")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.1)
        self.host = host
        self.port: int = self.sock.getsockname()[1]
        self.packets: list[Packet] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._seq = 1000
        self._ts = 160000
        self._ssrc = 0x1234ABCD ^ self.port
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()
        self._senders: list[threading.Thread] = []

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < 12 or data[0] & 0xC0 != 0x80:
                continue
            b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
            offset = 12 + 4 * (b0 & 0x0F)
            if b0 & 0x10:  # header extension
                (words,) = struct.unpack_from("!H", data, offset + 2)
                offset += 4 + 4 * words
            payload = data[offset:]
            if b0 & 0x20 and payload:
                payload = payload[:-payload[-1]]
            pkt = Packet(time.monotonic(), addr, b1 & 0x7F, bool(b1 & 0x80), seq, ts, ssrc,
                         payload)
            with self._cond:
                self.packets.append(pkt)
                self._cond.notify_all()

    def close(self) -> None:
        self._stop.set()
        for t in self._senders:
            t.join(timeout=10)
        self._thread.join(timeout=2)
        self.sock.close()

    def __enter__(self) -> RtpEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- waiting -------------------------------------------------------------
    def wait_for(self, predicate, timeout: float) -> bool:
        """Wait until predicate(packets) is true; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.packets):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_packets(self, n: int, timeout: float, pt: int | None = None) -> bool:
        return self.wait_for(lambda ps: sum(1 for p in ps if pt is None or p.pt == pt) >= n,
                             timeout)

    def wait_quiet(self, quiet: float, timeout: float) -> bool:
        """Wait until no packet has arrived for `quiet` seconds (a stream ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                last = self.packets[-1].at if self.packets else 0.0
            if self.packets and time.monotonic() - last >= quiet:
                return True
            time.sleep(0.05)
        return False

    def source(self) -> tuple | None:
        """Where the PBX sends from (its RTP address for this leg)."""
        with self._cond:
            return self.packets[0].source if self.packets else None

    def audio(self, pt: int) -> list[Packet]:
        with self._cond:
            return [p for p in self.packets if p.pt == pt]

    def decoded(self, pt: int, since: float = 0.0) -> bytes:
        """The received audio of payload type `pt`, decoded to PCM (at RATE[pt]) in
        arrival order, as one stream."""
        return DECODE[pt](b"".join(p.payload for p in self.audio(pt) if p.at >= since))

    def intervals_ms(self, pt: int) -> list[float]:
        ps = self.audio(pt)
        return [(b.at - a.at) * 1000 for a, b in itertools.pairwise(ps)]

    def median_interval_ms(self, pt: int) -> float:
        iv = self.intervals_ms(pt)
        return statistics.median(iv) if iv else 0.0

    # --- sending -------------------------------------------------------------
    def _header(self, pt: int, marker: bool, ts: int | None = None) -> bytes:
        self._seq = (self._seq + 1) & 0xFFFF
        return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self._seq,
                           (self._ts if ts is None else ts) & 0xFFFFFFFF, self._ssrc)

    def send_audio(self, dest: tuple, pcm: bytes, pt: int = 0, *, background: bool = True,
                   ptime_ms: int = 20) -> threading.Thread | None:
        """Send PCM (at RATE[pt]) as G.711 or G.722 RTP, paced in real time (20 ms
        packets: 8 octets and 8 timestamp units per ms for both)."""
        if dest[0] not in ("127.0.0.1", "::1"):
            raise ValueError(f"refusing to send RTP off loopback: {dest}")
        frame = 8 * ptime_ms
        payload = ENCODE[pt](pcm)

        def run() -> None:
            start = time.monotonic()
            for i in range(0, len(payload) - frame + 1, frame):
                if self._stop.is_set():
                    return
                pkt = self._header(pt, i == 0) + payload[i:i + frame]
                self._ts += frame
                with contextlib.suppress(OSError):
                    self.sock.sendto(pkt, dest)
                delay = start + (i // frame + 1) * ptime_ms / 1000 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

        if not background:
            run()
            return None
        t = threading.Thread(target=run, daemon=True)
        self._senders.append(t)
        t.start()
        return t

    def send_payloads(self, dest: tuple, payloads: list[bytes], pt: int,
                      ts_step: int) -> None:
        """Send opaque payloads (e.g. Opus, which the PBX must not touch), one per 20 ms."""
        if dest[0] not in ("127.0.0.1", "::1"):
            raise ValueError(f"refusing to send RTP off loopback: {dest}")
        start = time.monotonic()
        for i, payload in enumerate(payloads):
            with contextlib.suppress(OSError):
                self.sock.sendto(self._header(pt, i == 0) + payload, dest)
            self._ts += ts_step
            delay = start + (i + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def send_dtmf(self, dest: tuple, digit: str, pt: int = 101, duration_ms: int = 160) -> None:
        """One RFC 4733 event: updates every 20 ms, then three end packets."""
        if dest[0] not in ("127.0.0.1", "::1"):
            raise ValueError(f"refusing to send RTP off loopback: {dest}")
        event = EVENTS.index(digit.upper())
        ts = self._ts
        steps = max(1, duration_ms // 20)
        for i in range(1, steps + 1):
            body = struct.pack("!BBH", event, 10, i * 160)
            self.sock.sendto(self._header(pt, i == 1, ts) + body, dest)
            time.sleep(0.02)
        for _ in range(3):
            body = struct.pack("!BBH", event, 0x80 | 10, steps * 160)
            self.sock.sendto(self._header(pt, False, ts) + body, dest)
        self._ts += steps * 160


def dtmf_events(packets: list[Packet], pt: int) -> str:
    """The digits in RFC 4733 packets of payload type `pt` (one per event, by timestamp)."""
    seen: dict[int, str] = {}
    for p in packets:
        if p.pt == pt and len(p.payload) >= 4 and p.payload[0] < len(EVENTS):
            seen.setdefault(p.ts, EVENTS[p.payload[0]])
    return "".join(seen[ts] for ts in sorted(seen))


def best_lag(received: bytes, window: bytes) -> tuple[int, float]:
    """(offset in samples, ncc) where `window` best matches inside `received`."""
    x = np.frombuffer(received, dtype="<i2").astype(np.float64)
    y = np.frombuffer(window, dtype="<i2").astype(np.float64)
    n = len(y)
    if len(x) < n or not np.any(y):
        return 0, 0.0
    size = 1 << (len(x) + n).bit_length()
    num = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(y, size)), size)
    num = num[:len(x) - n + 1]
    energy = np.concatenate(([0.0], np.cumsum(x * x)))
    win = energy[n:] - energy[:-n]
    ncc = np.where(win > 1e-3 * float(np.dot(y, y)),
                   num / np.sqrt(np.maximum(win, 1e-9) * float(np.dot(y, y))), 0.0)
    i = int(ncc.argmax())
    return i, float(ncc[i])


def windows_found(received: bytes, reference: bytes, seconds: float = 0.2,
                  threshold: float = 0.9) -> float:
    """The fraction of `seconds`-long windows of `reference` found in `received`
    (ncc > threshold): robust to a jitter buffer's gaps and shifts, which break
    one whole-signal correlation of a sweep."""
    step = int(8000 * seconds) * 2
    windows = [reference[i:i + step] for i in range(0, len(reference) - step + 1, step)]
    windows = [w for w in windows if np.any(np.frombuffer(w, dtype="<i2"))]
    if not windows:
        return 0.0
    return sum(best_lag(received, w)[1] > threshold for w in windows) / len(windows)


def tone(freq: float, seconds: float, amplitude: float = 8000.0) -> bytes:
    """A sine tone as 8 kHz 16-bit PCM."""
    t = np.arange(int(seconds * 8000)) / 8000.0
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def tone_present(pcm: bytes, freq: float, window: float = 0.2,
                 threshold: float = 0.5) -> list[bool]:
    """Per window: does most of the signal's energy sit at ``freq``? (A content
    check that the phones' jitter buffers cannot fool: they shift and stretch
    audio in time, not in frequency.)"""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    n = int(window * 8000)
    out = []
    for start in range(0, len(x) - n + 1, n):
        frame = x[start:start + n]
        total = float(np.dot(frame, frame))
        if total < n * 200.0 ** 2:  # quieter than -44 dBFS: silence
            out.append(False)
            continue
        t = np.arange(n) / 8000.0
        c = float(np.dot(frame, np.cos(2 * np.pi * freq * t)))
        s = float(np.dot(frame, np.sin(2 * np.pi * freq * t)))
        out.append((c * c + s * s) * 2 / n / total > threshold)
    return out


def tone_share(pcm: bytes, freq: float, rate: int = 8000, window: float = 0.5) -> list[float]:
    """Per window: the share of the energy within 30 Hz of ``freq`` (a mix of
    tones keeps each one's share; its own tone echoed back would show)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    n = int(window * rate)
    out = []
    for start in range(0, len(x) - n + 1, n):
        spec = np.abs(np.fft.rfft(x[start:start + n] * np.hanning(n))) ** 2
        f = np.fft.rfftfreq(n, 1 / rate)
        total = spec.sum()
        out.append(float(spec[np.abs(f - freq) < 30].sum() / total) if total > 1e6 else 0.0)
    return out


def runs(flags: list[bool]) -> list[tuple[bool, int]]:
    """Run-length encoding of a per-window flag list: [(value, windows), ...]."""
    out: list[tuple[bool, int]] = []
    for f in flags:
        if out and out[-1][0] == f:
            out[-1] = (f, out[-1][1] + 1)
        else:
            out.append((f, 1))
    return out
