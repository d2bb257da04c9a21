"""G.722 through the g722 package: round trips, stream state, wideband kept."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx.media import g722
from pbx.media.codecs import G722, OPUS, CannotTranscode, silence


def sweep16(seconds: float = 1.0, f0: float = 100.0, f1: float = 7000.0,
            amplitude: float = 10000.0) -> bytes:
    """A 16 kHz linear sweep reaching 7 kHz (beyond G.711's 4 kHz)."""
    t = np.arange(int(16000 * seconds)) / 16000
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))
    return (amplitude * np.sin(phase)).astype("<i2").tobytes()


def best_ncc(received: bytes, reference: bytes, max_lag: int = 100) -> tuple[int, float]:
    """(lag, normalised correlation) of `reference` delayed by up to max_lag samples."""
    x = np.frombuffer(received, dtype="<i2").astype(float)
    y = np.frombuffer(reference, dtype="<i2").astype(float)
    best = (0, -1.0)
    for lag in range(max_lag):
        a, b = x[lag:], y[: len(x) - lag]
        n = min(len(a), len(b))
        a, b = a[:n], b[:n]
        ncc = float(a @ b / np.sqrt((a @ a) * (b @ b) + 1e-9))
        if ncc > best[1]:
            best = (lag, ncc)
    return best


def band_energy(pcm: bytes, rate: int, lo: float, hi: float) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spec[(f >= lo) & (f < hi)].sum() / spec.sum())


def test_round_trip_keeps_wideband_audio() -> None:
    pcm = sweep16()
    coded = G722.encode(pcm)
    assert len(coded) == len(pcm) // 4  # 64 kbit/s: 2 samples per octet
    back = G722.decode(coded)
    assert len(back) == len(pcm)
    lag, ncc = best_ncc(back, pcm)
    assert ncc > 0.98 and lag < 40, (lag, ncc)
    # The 4-7 kHz part of the sweep survives: this is wideband, not G.711.
    assert band_energy(back, 16000, 4000, 7000) > 0.3


def test_stream_state_carries_over_frames() -> None:
    pcm = sweep16(0.5)
    frames = [pcm[i:i + 640] for i in range(0, len(pcm), 640)]  # 20 ms of 16 kHz
    enc = G722.new_encoder()
    coded = [enc(f) for f in frames]
    assert all(len(c) == 160 for c in coded)  # 160 octets, 160 RTP timestamp units
    assert b"".join(coded) == G722.encode(pcm)  # one stream == one buffer
    dec = G722.new_decoder()
    assert b"".join(dec(c) for c in coded) == G722.decode(b"".join(coded))
    # A fresh decoder per frame (a shared stateless one) would garble it.
    garbled = b"".join(G722.new_decoder()(c) for c in coded)
    assert best_ncc(garbled, pcm)[1] < best_ncc(G722.decode(b"".join(coded)), pcm)[1] - 0.05


def test_two_streams_do_not_share_state() -> None:
    a, b = sweep16(0.2), sweep16(0.2, f0=3000, f1=200)
    enc_a, enc_b = G722.new_encoder(), G722.new_encoder()
    out_a = [enc_a(a[i:i + 640]) for i in range(0, len(a), 640)]
    out_b = [enc_b(b[i:i + 640]) for i in range(0, len(b), 640)]
    assert b"".join(out_a) == g722.encode(a) and b"".join(out_b) == g722.encode(b)


def test_encoder_needs_sample_pairs() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        G722.new_encoder()(b"\x00\x00")
    assert G722.encode(bytes(6)) == G722.encode(bytes(4))  # a whole buffer is trimmed


def test_silence_is_encoded_silence() -> None:
    quiet = silence(G722, 160)
    assert len(quiet) == 160 and silence(G722, 160) is quiet  # cached
    assert np.abs(np.frombuffer(G722.decode(quiet), dtype="<i2")).max() < 64


def test_opus_is_pass_through_only() -> None:
    with pytest.raises(CannotTranscode):
        OPUS.new_encoder()
    with pytest.raises(CannotTranscode):
        OPUS.new_decoder()
    with pytest.raises(CannotTranscode):
        silence(OPUS, 80)


@settings(max_examples=50)
@given(st.binary(max_size=400))
def test_decoder_takes_any_octets(payload: bytes) -> None:
    assert len(G722.new_decoder()(payload)) == 4 * len(payload)


@settings(max_examples=50)
@given(st.lists(st.integers(-32768, 32767), max_size=400).map(
    lambda xs: np.array(xs[: len(xs) // 2 * 2], dtype="<i2").tobytes()))
def test_encoder_takes_any_samples(pcm: bytes) -> None:
    assert len(G722.encode(pcm)) == len(pcm) // 4
