"""In-band DTMF: the tones themselves in the audio (dtmfmode=inband).

* :class:`DtmfDetector` finds the digits in a leg's decoded audio, 20 ms at a
  time: the energy at the eight DTMF frequencies (a Goertzel filter per
  frequency, computed for all eight at once as one numpy matrix product),
  one row tone and one column tone that hold most of the frame's energy,
  within 8 dB of each other (twist), the same digit in two frames running
  (40 ms, as ITU-T Q.24 asks at least), and a pause before the next.
* :func:`tone_frames` and :class:`InbandSender` make the tones: 100 ms of the
  digit's two sines (-10 dBm0 each) then 60 ms of silence, one frame per tick
  of the media clock.

Only legs configured for in-band DTMF pay for this (pbx/dtmf_mode.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pbx.media.session import MediaSession

__all__ = ["DIGITS", "DtmfDetector", "InbandSender", "tone_frames"]

ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
DIGITS = ("123A", "456B", "789C", "*0#D")

_TONE_MS = 100
_GAP_MS = 60
_AMPLITUDE = 7000.0  # per tone: about -10 dBm0, twice the sum well below clipping
_MIN_RMS = 300.0  # quieter frames (about -40 dBm0) hold no digit
_MIN_SHARE = 0.70  # the two tones carry at least this share of the frame's energy
_MAX_TWIST = 6.3  # 8 dB between the row and the column tone, either way
_OTHER_RATIO = 0.15  # the runner-up of a group at most this share of the winner


class DtmfDetector:
    """Digits in 16-bit mono PCM at ``rate`` Hz; feed it frames as they come."""

    def __init__(self, rate: int = 8000, frame_ms: int = 20) -> None:
        self.rate = rate
        self.n = rate * frame_ms // 1000
        t = np.arange(self.n) / rate
        freqs = np.array(ROWS + COLS)
        phases = 2 * np.pi * np.outer(freqs, t)
        # One matrix: cos rows then sin rows; energy at f = (x.cos)^2 + (x.sin)^2.
        self._basis = np.vstack((np.cos(phases), np.sin(phases)))
        self._buf = np.zeros(0, dtype=np.float64)
        self._candidate: str | None = None
        self._count = 0
        self._reported: str | None = None  # the digit of the tone still sounding

    def feed(self, pcm: bytes) -> str:
        """The digits (usually none, at most one per tone) that ``pcm`` completes."""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        buf = np.concatenate((self._buf, samples)) if self._buf.size else samples
        out = ""
        n = self.n
        start = 0
        while start + n <= len(buf):
            digit = self._classify(buf[start:start + n])
            start += n
            out += self._step(digit)
        self._buf = buf[start:].copy()
        return out

    def _classify(self, frame: np.ndarray) -> str | None:
        energy = float(np.dot(frame, frame))
        n = self.n
        if energy < n * _MIN_RMS * _MIN_RMS:
            return None
        proj = self._basis @ frame
        power = proj[:8] ** 2 + proj[8:] ** 2
        share = power * 2.0 / (n * energy)  # a pure sine at f alone gives 1.0
        rows, cols = share[:4], share[4:]
        r, c = int(np.argmax(rows)), int(np.argmax(cols))
        row, col = float(rows[r]), float(cols[c])
        if row + col < _MIN_SHARE or row <= 0.0 or col <= 0.0:
            return None
        if not 1.0 / _MAX_TWIST <= row / col <= _MAX_TWIST:
            return None
        if sorted(rows)[-2] > _OTHER_RATIO * row or sorted(cols)[-2] > _OTHER_RATIO * col:
            return None
        return DIGITS[r][c]

    def _step(self, digit: str | None) -> str:
        if digit is None:
            self._candidate, self._count = None, 0
            self._reported = None
            return ""
        if digit == self._candidate:
            self._count += 1
        else:
            self._candidate, self._count = digit, 1
        if self._count >= 2 and self._reported != digit:
            self._reported = digit
            return digit
        return ""


def tone_frames(digit: str, rate: int = 8000, frame_ms: int = 20, tone_ms: int = _TONE_MS,
                gap_ms: int = _GAP_MS) -> list[bytes]:
    """The 16-bit PCM frames of one key press: the tone, then silence."""
    digit = digit.upper()
    for r, keys in enumerate(DIGITS):
        if digit in keys:
            low, high = ROWS[r], COLS[keys.index(digit)]
            break
    else:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    n_tone = rate * tone_ms // 1000
    t = np.arange(n_tone) / rate
    fade = np.minimum(1.0, np.minimum(np.arange(n_tone), n_tone - 1 - np.arange(n_tone))
                      / (rate * 0.002))  # 2 ms ramps: no clicks
    wave = _AMPLITUDE * fade * (np.sin(2 * math.pi * low * t) + np.sin(2 * math.pi * high * t))
    pcm = np.concatenate((wave, np.zeros(rate * gap_ms // 1000))).astype("<i2").tobytes()
    size = 2 * rate * frame_ms // 1000
    pcm += bytes(-len(pcm) % size)
    return [pcm[i:i + size] for i in range(0, len(pcm), size)]


class InbandSender:
    """Sends digits as tones on one session, a frame per clock tick, one after the
    other; ``on_idle`` is called when the last one has been sent (a bridge then
    resumes relaying into this session)."""

    def __init__(self, session: MediaSession, on_busy: Callable[[], Any] | None = None,
                 on_idle: Callable[[], Any] | None = None) -> None:
        self.session = session
        self.on_busy = on_busy
        self.on_idle = on_idle
        self._frames: list[bytes] = []
        self._i = 0
        self._active = False
        self.sent = 0

    def send(self, digit: str) -> None:
        """Queue ``digit``; the tones start at the next tick."""
        codec = self.session.codec
        encode = codec.encode
        rate = codec.clock_rate
        frames = [encode(f) for f in tone_frames(digit, rate, self.session.ptime)]
        self._frames.extend(frames)
        if not self._active:
            self._active = True
            if self.on_busy is not None:
                self.on_busy()
            self.session.clock.add(self)

    def tick(self, n: int) -> None:
        session = self.session
        if session.closed or self._i >= len(self._frames):
            self._stop()
            return
        session.send_audio(self._frames[self._i], marker=self._i == 0,
                           samples=session.samples_per_frame)
        self._i += 1
        self.sent += 1
        if self._i >= len(self._frames):
            self._stop()

    def _stop(self) -> None:
        self.session.clock.remove(self)
        self._frames.clear()
        self._i = 0
        if self._active:
            self._active = False
            if self.on_idle is not None:
                self.on_idle()
