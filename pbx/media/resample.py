"""Streaming 2:1 sample-rate conversion (16 kHz <-> 8 kHz) for live audio.

A bridge between a G.722 leg (16 kHz) and a G.711 leg (8 kHz) converts every
20 ms frame; the filter state is carried from one frame to the next, so the
output is exactly what filtering the whole stream at once would give (no
clicks at frame edges) and every frame comes out at once (no buffering beyond
the filter's 1.4 ms delay).

The filter is a 47-tap half-band low-pass (Kaiser-windowed sinc, cut-off at
4 kHz, about 60 dB stop-band from 4.6 kHz): every other tap but the centre is
zero, so each direction costs one 24-tap convolution per output phase plus a
copy: about 7 us per 20 ms frame (bench/bench_g722.py). The alternatives
measured: libsoxr's streaming modes either buffer 40-100 ms per call (MQ/HQ)
or interpolate without an anti-aliasing filter (QQ); the G.722 library's own
8 kHz mode (code only the low sub-band, as Asterisk's codec_g722 does) costs
nothing extra but lets a 4.5 kHz tone fold into the telephone band at -9 dB
and puts a 3.4 kHz tone's image at 4.6 kHz at -11 dB, where this filter gives
-35 dB and -48 dB.
Hand-written with numpy because no well-kept library offers a stateful
frame-by-frame polyphase filter without that buffering.
"""

from __future__ import annotations

import numpy as np

from pbx.media.wav import resample as resample_float

__all__ = ["HALF_BAND", "BatchDownsampler", "BatchUpsampler", "Downsampler", "Upsampler",
           "converter", "resample_pcm"]

_TAPS = 47  # 4k - 1: a true half-band filter (centre tap at an odd index)
_CENTRE = _TAPS // 2  # 23
_BETA = 5.65  # Kaiser beta for about 60 dB of stop-band attenuation


def _half_band() -> np.ndarray:
    n = np.arange(_TAPS) - _CENTRE
    h = 0.5 * np.sinc(n / 2.0) * np.kaiser(_TAPS, _BETA)
    h[(n % 2 == 0) & (n != 0)] = 0.0  # exact zeros (sinc rounding aside)
    odd = n % 2 != 0
    h[odd] *= 0.5 / h[odd].sum()  # DC gain exactly 1 in both directions
    h[_CENTRE] = 0.5
    return h


HALF_BAND = _half_band()
# The non-zero phase: taps 0, 2, ..., 46 (24 of them); the other phase is the centre.
_PHASE = np.ascontiguousarray(HALF_BAND[0::2])
_PHASE2 = _PHASE * 2.0


def _to_pcm(y: np.ndarray) -> bytes:
    """Float samples (modified in place) to 16-bit little-endian PCM."""
    np.rint(y, out=y)
    np.clip(y, -32768, 32767, out=y)
    return y.astype("<i2").tobytes()


class _Stream:
    """A buffer holding ``keep`` samples of history followed by the current frame,
    reused from frame to frame (no allocation per packet for a steady frame size)."""

    __slots__ = ("_buf", "_keep")

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._buf = np.zeros(keep)

    def feed(self, pcm: bytes) -> tuple[np.ndarray, int]:
        x = np.frombuffer(pcm, dtype="<i2")
        n, keep, buf = len(x), self._keep, self._buf
        if len(buf) != keep + n:
            grown = np.zeros(keep + n)
            grown[:keep] = buf[len(buf) - keep:]
            buf = self._buf = grown
        else:
            buf[:keep] = buf[n:]
        buf[keep:] = x
        return buf, n


class Downsampler(_Stream):
    """16 kHz -> 8 kHz, frame by frame (any even number of samples per call)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(_TAPS - 1)  # the last 46 input samples

    def __call__(self, pcm: bytes) -> bytes:
        b, n = self.feed(pcm)
        # y[m] = sum_j h[2j] b[2m + 46 - 2j] + 0.5 b[2m + 23]  (b = history + input)
        y = np.convolve(b[0::2], _PHASE, "valid")[: n // 2]
        y += 0.5 * b[_CENTRE:_CENTRE + n - 1:2]
        return _to_pcm(y)


class Upsampler(_Stream):
    """8 kHz -> 16 kHz, frame by frame."""

    __slots__ = ("_out",)

    def __init__(self) -> None:
        super().__init__(_CENTRE)  # the last 23 input samples
        self._out = np.empty(0)

    def __call__(self, pcm: bytes) -> bytes:
        b, n = self.feed(pcm)
        out = self._out
        if len(out) != 2 * n:
            out = self._out = np.empty(2 * n)
        # Zero-stuffed input through the same filter, gain 2: the even outputs take
        # the 24-tap phase, the odd ones are the input itself 11.5 samples late.
        out[0::2] = np.convolve(b, _PHASE2, "valid")[:n]
        out[1::2] = b[_CENTRE - 11:_CENTRE - 11 + n]
        return _to_pcm(out)


def _rows_convolve(b: np.ndarray, taps: np.ndarray, n: int) -> np.ndarray:
    """The first `n` 'valid' outputs of each row of `b` convolved with `taps`, in one
    np.convolve over the rows laid end to end (a row's first n windows never reach
    into the next row): one C call instead of one per row."""
    rows, width = b.shape
    flat = np.convolve(b.ravel(), taps, "valid")
    out = np.empty(rows * width)
    out[:len(flat)] = flat
    return out.reshape(rows, width)[:, :n]


class _Batch:
    """The same filters for k streams at once, one stream per row (a conference's
    narrowband members in a 16 kHz mix), each row keeping its own history.
    Results are float (the caller rounds once, after mixing)."""

    def __init__(self, keep: int, n: int, rows: int) -> None:
        self.keep, self.n = keep, n
        self.buf = np.zeros((rows, keep + n))

    def resize(self, keep_rows: list[int | None]) -> None:
        """New rows: row i takes the history of old row keep_rows[i] (None: silence)."""
        old = self.buf
        self.buf = np.zeros((len(keep_rows), old.shape[1]))
        for i, j in enumerate(keep_rows):
            if j is not None:
                self.buf[i] = old[j]

    def _feed(self, x: np.ndarray) -> np.ndarray:
        b, keep, n = self.buf, self.keep, self.n
        b[:, :keep] = b[:, n:]
        b[:, keep:] = x
        return b


class BatchUpsampler(_Batch):
    """8 kHz -> 16 kHz, k rows of 160 samples (20 ms) per call; as Upsampler per row."""

    def __init__(self, rows: int = 0, n: int = 160) -> None:
        super().__init__(_CENTRE, n, rows)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        b = self._feed(x)
        n = self.n
        out = np.empty((b.shape[0], 2 * n))
        out[:, 0::2] = _rows_convolve(b, _PHASE2, n)
        out[:, 1::2] = b[:, _CENTRE - 11:_CENTRE - 11 + n]
        return out


class BatchDownsampler(_Batch):
    """16 kHz -> 8 kHz, k rows of 320 samples (20 ms) per call; as Downsampler per row."""

    def __init__(self, rows: int = 0, n: int = 320) -> None:
        super().__init__(_TAPS - 1, n, rows)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        b = self._feed(x)
        n = self.n
        y = _rows_convolve(np.ascontiguousarray(b[:, 0::2]), _PHASE, n // 2)
        y += 0.5 * b[:, _CENTRE:_CENTRE + n - 1:2]
        return y


def converter(src_rate: int, dst_rate: int) -> Downsampler | Upsampler | None:
    """A streaming converter between two rates (None when they are equal)."""
    if src_rate == dst_rate:
        return None
    if src_rate == 2 * dst_rate:
        return Downsampler()
    if dst_rate == 2 * src_rate:
        return Upsampler()
    raise ValueError(f"no streaming converter from {src_rate} Hz to {dst_rate} Hz")


def resample_pcm(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """A whole prompt or recording from one rate to another (windowed sinc, any ratio)."""
    if src_rate == dst_rate:
        return pcm
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    return _to_pcm(resample_float(x, src_rate, dst_rate))
