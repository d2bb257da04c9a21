"""WAV loading with conversion to 8 kHz 16-bit mono, and atomic writing."""

from __future__ import annotations

import math
import os
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from pbx.media.codecs import alaw_encode
from pbx.media.wav import WavError, read_wav, read_wav_format, resample, write_wav


def sine(rate: int, freq: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def riff(fmt_chunk: bytes, data: bytes, extra_chunks: bytes = b"") -> bytes:
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + extra_chunks
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt(tag: int, channels: int, rate: int, bits: int, extra: bytes = b"") -> bytes:
    align = channels * bits // 8
    head = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    return head + (struct.pack("<H", len(extra)) + extra if extra else b"")


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def dominant_freq(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


def test_44k1_stereo_8bit_to_8k_mono_16bit(tmp_path: Path) -> None:
    left = sine(44100, 440, 1.0, 0.6)
    right = sine(44100, 440, 1.0, 0.2)
    frames = np.stack([left, right], axis=1)
    u8 = np.clip(np.rint(frames * 127 + 128), 0, 255).astype(np.uint8)
    path = tmp_path / "in.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(1)
        w.setframerate(44100)
        w.writeframes(u8.tobytes())
    pcm = read_wav(path)
    assert len(pcm) == 2 * 8000  # 1 s at 8 kHz, 16-bit
    x = samples(pcm)
    assert abs(dominant_freq(x, 8000) - 440) < 2
    # Mixed down: mean of 0.6 and 0.2 of full scale at 8-bit resolution.
    mid = x[400:-400]
    assert 0.37 * 32768 < np.max(np.abs(mid)) < 0.43 * 32768


def test_downsampling_is_anti_aliased() -> None:
    # 7 kHz at 48 kHz would alias to 1 kHz at 8 kHz without a low-pass.
    y = resample(sine(48000, 7000, 0.5) * 32767, 48000, 8000)
    assert len(y) == 4000
    assert np.sqrt(np.mean(y[200:-200] ** 2)) < 0.01 * 32767 / math.sqrt(2)
    # while 1 kHz passes essentially unchanged
    y = resample(sine(48000, 1000, 0.5) * 32767, 48000, 8000)
    rms = np.sqrt(np.mean(y[200:-200] ** 2))
    assert 0.97 < rms / (0.5 * 32767 / math.sqrt(2)) < 1.03


def test_upsampling_and_dc_gain() -> None:
    y = resample(np.full(600, 1000.0), 6000, 8000)
    assert len(y) == 800 and np.allclose(y, 1000.0)
    y = resample(sine(6000, 500, 0.5) * 20000, 6000, 8000)
    assert abs(dominant_freq(y, 8000) - 500) < 3


def test_8k_16bit_mono_is_returned_exactly(tmp_path: Path) -> None:
    pcm = np.arange(-4000, 4000, dtype="<i2").tobytes()
    path = tmp_path / "exact.wav"
    write_wav(path, pcm)
    assert read_wav(path) == pcm


@pytest.mark.parametrize("bits", [24, 32])
def test_wide_integer_and_extensible_header(tmp_path: Path, bits: int) -> None:
    x = sine(8000, 1000, 0.1, 0.5)
    scale = 2 ** (bits - 1) - 1
    ints = np.rint(x * scale).astype(np.int64)
    if bits == 24:
        raw = b"".join(int(v & 0xFFFFFF).to_bytes(3, "little") for v in ints)
    else:
        raw = ints.astype("<i4").tobytes()
    guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    ext = struct.pack("<HI", bits, 0x4) + struct.pack("<H", 1) + guid_tail
    path = tmp_path / f"w{bits}.wav"
    path.write_bytes(riff(fmt(0xFFFE, 1, 8000, bits, ext), raw, b"LIST\x04\x00\x00\x00abcd"))
    info = read_wav_format(path)
    assert (info.format_tag, info.bits_per_sample) == (1, bits)
    y = samples(read_wav(path))
    assert len(y) == 800
    assert np.max(np.abs(y - x * 32767)) <= 1.01


def test_float_and_alaw_wavs(tmp_path: Path) -> None:
    x = sine(16000, 300, 0.25, 0.25)
    p = tmp_path / "f.wav"
    p.write_bytes(riff(fmt(3, 1, 16000, 32), x.astype("<f4").tobytes()))
    y = samples(read_wav(p))
    assert len(y) == 2000 and abs(dominant_freq(y, 8000) - 300) < 5
    pcm = np.rint(sine(8000, 300, 0.25, 0.25) * 32767).astype("<i2").tobytes()
    p = tmp_path / "a.wav"
    p.write_bytes(riff(fmt(6, 1, 8000, 8), alaw_encode(pcm)))
    y = samples(read_wav(p))
    assert len(y) == 2000 and np.max(np.abs(y - samples(pcm))) < 300


def test_gsm_wav49_is_refused_naming_file_and_format(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    gsm_fmt = struct.pack("<HHIIHHHH", 49, 1, 8000, 1625, 65, 0, 2, 320)
    path.write_bytes(riff(gsm_fmt, b"\0" * 65))
    with pytest.raises(WavError) as err:
        read_wav(path)
    assert str(err.value) == f"{path}: unsupported WAV format: GSM 6.10 (format tag 49)"


def test_unsupported_pcm_width_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w12.wav"
    path.write_bytes(riff(fmt(1, 1, 8000, 12), b"\0" * 64))
    with pytest.raises(WavError, match=r"PCM \(format tag 1\), 12 bits per sample"):
        read_wav(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a RIFF/WAVE file"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "not a RIFF/WAVE file"),
        (b"RIFF\x04\x00\x00\x00WAVE", "no fmt chunk"),
    ],
)
def test_broken_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(WavError, match=message):
        read_wav(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WavError, match="cannot read"):
        read_wav(tmp_path / "nope.wav")


def test_truncated_data_chunk_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    pcm = np.arange(100, dtype="<i2").tobytes()
    blob = bytearray(riff(fmt(1, 1, 8000, 16), pcm))
    struct.pack_into("<I", blob, len(blob) - len(pcm) - 4, 0xFFFFFFFF)  # recorder died
    path = tmp_path / "t.wav"
    path.write_bytes(bytes(blob))
    assert read_wav(path) == pcm


def test_write_wav_is_atomic_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    path.write_bytes(b"old")
    pcm = bytes(range(256)) * 4
    write_wav(path, pcm)
    assert os.listdir(tmp_path) == ["rec.wav"]  # no temp file left behind
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.readframes(w.getnframes()) == pcm
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_write_wav_failure_leaves_old_file(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    path.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_wav(path, 12345)  # type: ignore[arg-type]
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["rec.wav"]
