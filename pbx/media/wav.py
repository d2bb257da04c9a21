"""WAV files in and out: whatever PCM a prompt is in becomes 8 kHz 16-bit mono.

Reading parses the RIFF chunks itself (the stdlib ``wave`` module of Python
3.11 refuses WAVE_FORMAT_EXTENSIBLE, which sox and many editors write) and
converts at load time: 8-bit unsigned, 16/24/32-bit integer, 32/64-bit float,
G.711 A-law/mu-law WAVs, any channel count (mixed down by averaging) and any
sample rate (windowed-sinc resampling with an anti-aliasing low-pass).
Compressed formats (GSM 6.10 "WAV49", ADPCM, MP3, ...) are refused with a
``WavError`` naming the file and the format.

Writing goes to a temporary file in the same folder, then ``os.replace``, so
a reader never sees half a recording.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
import wave
from dataclasses import dataclass
from typing import Any

import numpy as np

from pbx.media.codecs import alaw_decode, ulaw_decode

__all__ = ["WavError", "WavFormat", "read_wav", "read_wav_format", "resample", "write_wav"]

_FORMAT_NAMES = {
    0x0001: "PCM",
    0x0002: "Microsoft ADPCM",
    0x0003: "IEEE float",
    0x0006: "G.711 A-law",
    0x0007: "G.711 mu-law",
    0x0011: "IMA ADPCM",
    0x0016: "ITU G.723 ADPCM",
    0x0031: "GSM 6.10",
    0x0040: "ITU G.721 ADPCM",
    0x0042: "G.723.1",
    0x0045: "G.726 ADPCM",
    0x0050: "MPEG",
    0x0055: "MPEG Layer 3",
    0x0064: "G.726 ADPCM",
    0xFFFE: "WAVE_FORMAT_EXTENSIBLE",
}
_PCM, _FLOAT, _ALAW, _ULAW, _EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE


class WavError(ValueError):
    """A WAV file that cannot be read or converted; the message names the file."""


@dataclass(frozen=True)
class WavFormat:
    """What the fmt chunk says, plus where the samples are."""

    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    block_align: int
    data_offset: int
    data_size: int

    @property
    def format_name(self) -> str:
        """Human name of the format tag, e.g. 'GSM 6.10'."""
        return _FORMAT_NAMES.get(self.format_tag, f"unknown format 0x{self.format_tag:04x}")


def read_wav_format(path: str | os.PathLike[str], data: bytes | None = None) -> WavFormat:
    """Parse the RIFF/WAVE header of ``path`` (or of ``data`` when given)."""
    name = os.fspath(path)
    if data is None:
        try:
            with open(name, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise WavError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError(f"{name}: not a RIFF/WAVE file{_guess_kind(data)}")
    pos = 12
    fmt: tuple[int, int, int, int, int] | None = None
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if cid == b"fmt ":
            if size < 16:
                raise WavError(f"{name}: fmt chunk too short ({size} bytes)")
            tag, channels, rate, _byte_rate, align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == _EXTENSIBLE and size >= 40:
                # The real format is the first two bytes of the SubFormat GUID.
                tag = struct.unpack_from("<H", data, body + 24)[0]
            fmt = (tag, channels, rate, align, bits)
        elif cid == b"data":
            if fmt is None:
                raise WavError(f"{name}: data chunk before fmt chunk")
            # Recorders that died mid-write leave a wrong size: trust the file length.
            size = min(size, len(data) - body)
            tag, channels, rate, align, bits = fmt
            return WavFormat(tag, channels, rate, bits, align, body, size)
        pos = body + size + (size & 1)  # chunks are word aligned
    raise WavError(f"{name}: no {'fmt' if fmt is None else 'data'} chunk")


def _guess_kind(data: bytes) -> str:
    """What a file that is not a WAV seems to be, for the error message."""
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return " (it is MP3: convert it, e.g. sox in.mp3 -r 8000 -c 1 out.wav)"
    for magic, kind in ((b"OggS", "Ogg"), (b"fLaC", "FLAC"), (b"RIFX", "big-endian RIFF"),
                        (b".snd", "Sun/NeXT audio")):
        if data.startswith(magic):
            return f" (it is {kind}: convert it, e.g. with sox, to 8 kHz mono WAV)"
    if not data:
        return " (the file is empty)"
    return ""


def _to_float(name: str, fmt: WavFormat, raw: bytes) -> Any:
    """Samples as float64 at 16-bit scale, shape (frames, channels)."""
    tag, bits, ch = fmt.format_tag, fmt.bits_per_sample, fmt.channels
    # The bit width only matters for the formats we could otherwise convert.
    width = f", {bits} bits per sample" if tag in (_PCM, _FLOAT, _ALAW, _ULAW) else ""
    unsupported = WavError(
        f"{name}: unsupported WAV format: {fmt.format_name} (format tag {tag}){width}"
    )
    if tag in (_ALAW, _ULAW) and bits == 8:
        pcm = (alaw_decode if tag == _ALAW else ulaw_decode)(raw)
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    elif tag == _PCM and bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    elif tag == _PCM and bits == 16:
        x = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.float64)
    elif tag == _PCM and bits == 24:
        b = np.frombuffer(raw[: len(raw) // 3 * 3], dtype=np.uint8).reshape(-1, 3)
        v = (
            b[:, 0].astype(np.int32)
            | (b[:, 1].astype(np.int32) << 8)
            | (b[:, 2].astype(np.int32) << 16)
        )
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        x = v.astype(np.float64) / 256.0
    elif tag == _PCM and bits == 32:
        x = np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<i4").astype(np.float64) / 65536.0
    elif tag == _FLOAT and bits in (32, 64):
        dt = "<f4" if bits == 32 else "<f8"
        size = bits // 8
        x = np.frombuffer(raw[: len(raw) // size * size], dtype=dt).astype(np.float64) * 32768.0
    else:
        raise unsupported
    frames = len(x) // ch
    return x[: frames * ch].reshape(frames, ch)


def resample(x: Any, src_rate: int, dst_rate: int, zero_crossings: int = 12) -> Any:
    """Resample a float signal with a Blackman-windowed sinc (anti-aliased).

    The low-pass sits at 90% of the lower Nyquist frequency; output length is
    ``len(x) * dst_rate // src_rate``. Weights are normalised per output sample
    so DC gain is exactly 1, also at the edges.
    """
    if src_rate == dst_rate or len(x) == 0:
        return np.asarray(x, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    n_out = len(x) * dst_rate // src_rate
    fc = 0.5 * min(1.0, dst_rate / src_rate) * 0.9  # cycles per input sample
    half = math.ceil(zero_crossings / (2 * fc))
    offsets = np.arange(-half + 1, half + 1)
    out = np.empty(n_out, dtype=np.float64)
    step = src_rate / dst_rate
    chunk = max(1, 1_000_000 // len(offsets))  # bound memory on long prompts
    for start in range(0, n_out, chunk):
        t = np.arange(start, min(n_out, start + chunk)) * step
        base = np.floor(t).astype(np.int64)
        idx = base[:, None] + offsets[None, :]
        d = t[:, None] - idx
        w = np.sinc(2 * fc * d) * np.where(
            np.abs(d) < half,
            0.42 + 0.5 * np.cos(np.pi * d / half) + 0.08 * np.cos(2 * np.pi * d / half),
            0.0,
        )
        valid = (idx >= 0) & (idx < len(x))
        w = np.where(valid, w, 0.0)
        w /= w.sum(axis=1, keepdims=True)
        out[start : start + len(t)] = (w * x[np.clip(idx, 0, len(x) - 1)]).sum(axis=1)
    return out


def read_wav(path: str | os.PathLike[str], rate: int = 8000) -> bytes:
    """Read a WAV file as 16-bit signed little-endian mono PCM at ``rate`` Hz."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise WavError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    fmt = read_wav_format(name, data)
    if fmt.channels < 1 or fmt.sample_rate < 1:
        raise WavError(f"{name}: bad WAV header: {fmt.channels} channels at {fmt.sample_rate} Hz")
    raw = data[fmt.data_offset : fmt.data_offset + fmt.data_size]
    if (
        fmt.format_tag == _PCM
        and fmt.bits_per_sample == 16
        and fmt.channels == 1
        and fmt.sample_rate == rate
    ):
        return raw[: len(raw) // 2 * 2]  # already what we want: exact, no float round trip
    x = _to_float(name, fmt, raw).mean(axis=1)
    y = resample(x, fmt.sample_rate, rate)
    return bytes(np.clip(np.rint(y), -32768, 32767).astype("<i2").tobytes())


def write_wav(path: str | os.PathLike[str], pcm: bytes, rate: int = 8000) -> None:
    """Write 16-bit mono PCM as a WAV file atomically (temp file, then rename)."""
    name = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(name))
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".wav.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            with wave.open(f, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes(pcm[: len(pcm) // 2 * 2])
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file 0600; recordings are read by other tools (mail, web).
        os.chmod(tmp, 0o644)
        os.replace(tmp, name)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
