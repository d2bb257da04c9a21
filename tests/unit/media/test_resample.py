"""Streaming 16 kHz <-> 8 kHz conversion: continuity across frames, filter quality."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.media.resample import HALF_BAND, Downsampler, Upsampler, converter, resample_pcm


def tone(freq: float, rate: int, seconds: float = 0.5, amplitude: float = 10000.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def run(conv, pcm: bytes, frame_bytes: int) -> bytes:
    return b"".join(conv(pcm[i:i + frame_bytes]) for i in range(0, len(pcm), frame_bytes))


def gain_db(pcm: bytes, freq: float, rate: int, skip: int = 400) -> float:
    """Level of the tone at `freq` (dB relative to amplitude 10000), settled part only."""
    x = np.frombuffer(pcm, dtype="<i2").astype(float)[skip:]
    t = np.arange(len(x)) / rate
    # Project on sin/cos at the frequency: robust to the filter's delay (phase).
    a = 2 * np.mean(x * np.sin(2 * np.pi * freq * t))
    b = 2 * np.mean(x * np.cos(2 * np.pi * freq * t))
    return 20 * np.log10(np.hypot(a, b) / 10000 + 1e-12)


def reference_down(pcm: bytes) -> np.ndarray:
    """Filter the whole signal at once, keep every other sample (the definition)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    y = np.convolve(np.concatenate((np.zeros(len(HALF_BAND) - 1), x)), HALF_BAND, "valid")
    return y[0::2]


def reference_up(pcm: bytes) -> np.ndarray:
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    z = np.zeros(2 * len(x))
    z[0::2] = x
    return 2 * np.convolve(np.concatenate((np.zeros(len(HALF_BAND) - 1), z)), HALF_BAND,
                           "valid")


def as_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(float)


@settings(max_examples=30, deadline=None)
@given(frames=st.lists(st.integers(1, 12), min_size=1, max_size=12), seed=st.integers(0, 99))
def test_frame_by_frame_equals_whole_signal(frames: list[int], seed: int) -> None:
    """Any split into even-sized frames gives the whole-signal filter's output."""
    rng = np.random.default_rng(seed)
    pcm16 = rng.integers(-20000, 20000, 40 * sum(frames)).astype("<i2").tobytes()
    down, up = Downsampler(), Upsampler()
    out_down, out_up, pos = [], [], 0
    for n in frames:
        chunk = pcm16[pos:pos + 80 * n]
        pos += 80 * n
        out_down.append(down(chunk))
        out_up.append(up(chunk))
    assert np.abs(as_float(b"".join(out_down)) - reference_down(pcm16)).max() <= 0.5 + 1e-9
    ref = np.clip(reference_up(pcm16), -32768, 32767)
    assert np.abs(as_float(b"".join(out_up)) - ref).max() <= 0.5 + 1e-9


@pytest.mark.parametrize("freq", [300, 1000, 2000, 3000, 3400])
def test_telephone_band_passes_both_ways(freq: float) -> None:
    assert abs(gain_db(run(Downsampler(), tone(freq, 16000), 640), freq, 8000)) < 0.1
    assert abs(gain_db(run(Upsampler(), tone(freq, 8000), 320), freq, 16000)) < 0.1


@pytest.mark.parametrize("freq", [4600, 5000, 6000, 7000, 7900])
def test_downsampling_rejects_what_would_alias(freq: float) -> None:
    out = run(Downsampler(), tone(freq, 16000), 640)
    assert gain_db(out, 8000 - freq, 8000) < -48  # would fold back to 8000 - f


@pytest.mark.parametrize("freq", [300, 1000, 3000, 3400])
def test_upsampling_rejects_images(freq: float) -> None:
    out = run(Upsampler(), tone(freq, 8000), 320)
    assert gain_db(out, 8000 - freq, 16000) < -48  # the image above 4 kHz


def test_converter_choice_and_whole_buffer_resampling() -> None:
    assert converter(8000, 8000) is None
    assert isinstance(converter(16000, 8000), Downsampler)
    assert isinstance(converter(8000, 16000), Upsampler)
    with pytest.raises(ValueError):
        converter(8000, 48000)
    pcm = tone(1000, 8000, 0.25)
    assert resample_pcm(pcm, 8000, 8000) is pcm
    up = resample_pcm(pcm, 8000, 16000)
    assert len(up) == 2 * len(pcm) and abs(gain_db(up, 1000, 16000)) < 0.1


def test_batch_resamplers_give_each_row_what_the_single_stream_ones_give() -> None:
    """The conference's batch of G.711 members in a 16 kHz mix: same samples per row
    as one Upsampler/Downsampler per stream, history kept per row across calls and
    across a resize that keeps some rows (a member leaving)."""
    from pbx.media.resample import BatchDownsampler, BatchUpsampler, Downsampler, Upsampler

    rng = np.random.default_rng(3)
    ups, downs = [Upsampler() for _ in range(3)], [Downsampler() for _ in range(3)]
    bu, bd = BatchUpsampler(3), BatchDownsampler(3)

    def check(rows: list[int]) -> None:
        x = (rng.standard_normal((len(rows), 160)) * 6000).astype(np.int16)
        y = (rng.standard_normal((len(rows), 320)) * 6000).astype(np.int16)
        got_up = np.clip(np.rint(bu(x)), -32768, 32767).astype(np.int16)
        got_down = np.clip(np.rint(bd(y)), -32768, 32767).astype(np.int16)
        for j, r in enumerate(rows):
            assert np.array_equal(np.frombuffer(ups[r](x[j].astype("<i2").tobytes()), "<i2"),
                                  got_up[j])
            assert np.array_equal(np.frombuffer(downs[r](y[j].astype("<i2").tobytes()), "<i2"),
                                  got_down[j])

    for _ in range(5):
        check([0, 1, 2])
    bu.resize([0, 2])  # stream 1 left: rows 0 and 2 keep their history
    bd.resize([0, 2])
    for _ in range(3):
        check([0, 2])
