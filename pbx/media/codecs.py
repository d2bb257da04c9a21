"""The media engine's codecs: G.711 (PCMU, PCMA), G.722 and Opus (pass-through).

A ``Codec`` is named as SDP names it ("PCMU", "G722", "opus"); which SDP
format maps to which codec is decided outside the media engine
(pbx/leg_codecs.py). G.722 lives in g722.py; Opus has no encoder here: it is
relayed untouched between two Opus legs and never transcoded.

G.711 mu-law (PCMU) and A-law (PCMA) are table driven.

Bit-exact with the ITU-T G.191 Software Tool Library reference (``g711.c``:
``ulaw_compress``/``ulaw_expand``/``alaw_compress``/``alaw_expand``) for every
16-bit input:

* mu-law encodes the 14-bit magnitude with a bias of 33 (0x84 = 132 at 16-bit
  scale) and clips at 0x1FFF (32635 at 16-bit scale);
* A-law encodes the 13-bit magnitude;
* negative samples take the one's complement (``~x``) as their magnitude, as
  the reference does, so -1 encodes like "negative zero".

Linear PCM everywhere in the media engine is 16-bit signed little-endian mono.
The hot path never runs a Python loop per sample: encoding indexes a
65,536-entry table with the samples read as uint16 (numpy fancy indexing, about
2 us per 20 ms frame; without numpy, ``map`` over the table at C level, about
12 us), decoding runs
``bytes.translate`` twice (low and high byte tables) and interleaves the two
results with slice assignment; transcoding is one ``bytes.translate``.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CODECS_BY_NAME",
    "CODECS_BY_PT",
    "G722",
    "OPUS",
    "PCMA",
    "PCMU",
    "CannotTranscode",
    "Codec",
    "alaw_decode",
    "alaw_encode",
    "alaw_to_ulaw",
    "silence",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_to_alaw",
]

try:  # numpy makes encoding ~5x faster; the stdlib path keeps it optional.
    import numpy as _np
except ImportError:  # pragma: no cover - exercised only without numpy
    _np = None

_LITTLE = sys.byteorder == "little"


def _ulaw_compress(x: int) -> int:
    """Encode one signed 16-bit sample to mu-law (G.191 ``ulaw_compress``)."""
    absno = ((~x) >> 2) + 33 if x < 0 else (x >> 2) + 33
    absno = min(absno, 0x1FFF)
    i = absno >> 6
    segno = 1
    while i:
        segno += 1
        i >>= 1
    high = 8 - segno
    low = 0x0F - ((absno >> segno) & 0x0F)
    out = (high << 4) | low
    return out | 0x80 if x >= 0 else out


def _ulaw_expand(code: int) -> int:
    """Decode one mu-law byte to a signed 16-bit sample (G.191 ``ulaw_expand``)."""
    sign = -1 if code < 0x80 else 1
    mantissa = ~code
    exponent = (mantissa >> 4) & 0x07
    step = 4 << (exponent + 1)
    mantissa &= 0x0F
    return sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)


def _alaw_compress(x: int) -> int:
    """Encode one signed 16-bit sample to A-law (G.191 ``alaw_compress``)."""
    ix = (~x) >> 4 if x < 0 else x >> 4
    if ix > 15:
        iexp = 1
        while ix > 16 + 15:
            ix >>= 1
            iexp += 1
        ix -= 16
        ix += iexp << 4
    if x >= 0:
        ix |= 0x80
    return ix ^ 0x55


def _alaw_expand(code: int) -> int:
    """Decode one A-law byte to a signed 16-bit sample (G.191 ``alaw_expand``)."""
    ix = (code ^ 0x55) & 0x7F
    iexp = ix >> 4
    mant = ix & 0x0F
    if iexp > 0:
        mant += 16
    mant = (mant << 4) + 8
    if iexp > 1:
        mant <<= iexp - 1
    return mant if code > 127 else -mant


def _signed(u: int) -> int:
    return u - 0x10000 if u & 0x8000 else u


# Encode tables are indexed by the sample read as unsigned 16-bit (native order).
_ULAW_ENC = bytes(_ulaw_compress(_signed(u)) for u in range(0x10000))
_ALAW_ENC = bytes(_alaw_compress(_signed(u)) for u in range(0x10000))

ULAW_DECODE_TABLE: tuple[int, ...] = tuple(_ulaw_expand(c) for c in range(256))
ALAW_DECODE_TABLE: tuple[int, ...] = tuple(_alaw_expand(c) for c in range(256))


def _byte_tables(values: tuple[int, ...]) -> tuple[bytes, bytes]:
    """Low/high byte translate tables of the little-endian 16-bit decoded values."""
    lo = bytes(v & 0xFF for v in values)
    hi = bytes((v >> 8) & 0xFF for v in values)
    return lo, hi


_ULAW_LO, _ULAW_HI = _byte_tables(ULAW_DECODE_TABLE)
_ALAW_LO, _ALAW_HI = _byte_tables(ALAW_DECODE_TABLE)

# Transcoding is defined as decode then encode, so a bridge between a PCMU and
# a PCMA leg produces exactly what a full decode/re-encode would.
_U2A = bytes(_ALAW_ENC[ULAW_DECODE_TABLE[c] & 0xFFFF] for c in range(256))
_A2U = bytes(_ULAW_ENC[ALAW_DECODE_TABLE[c] & 0xFFFF] for c in range(256))


def _samples(pcm: bytes) -> memoryview | array[int]:
    """View 16-bit little-endian PCM as unsigned native samples without copying."""
    if _LITTLE:
        return memoryview(pcm).cast("B").cast("H")
    a = array("H", pcm)
    a.byteswap()
    return a


def _np_table(table: bytes) -> Any:
    return None if _np is None else _np.frombuffer(table, dtype=_np.uint8)


_ULAW_ENC_NP = _np_table(_ULAW_ENC)
_ALAW_ENC_NP = _np_table(_ALAW_ENC)


def _encode(pcm: bytes, table: bytes, np_table: Any) -> bytes:
    if len(pcm) & 1:
        raise ValueError("16-bit PCM must have an even number of bytes")
    if np_table is not None:
        return bytes(np_table[_np.frombuffer(pcm, dtype="<u2")].tobytes())
    # map() over a C view with a bound __getitem__ stays in C: no bytecode per sample.
    return bytes(map(table.__getitem__, _samples(pcm)))


def _decode(data: bytes, lo: bytes, hi: bytes) -> bytes:
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(lo)
    out[1::2] = data.translate(hi)
    return bytes(out)


def ulaw_encode(pcm: bytes) -> bytes:
    """Encode 16-bit signed little-endian mono PCM to G.711 mu-law."""
    return _encode(pcm, _ULAW_ENC, _ULAW_ENC_NP)


def ulaw_decode(data: bytes) -> bytes:
    """Decode G.711 mu-law to 16-bit signed little-endian mono PCM."""
    return _decode(bytes(data), _ULAW_LO, _ULAW_HI)


def alaw_encode(pcm: bytes) -> bytes:
    """Encode 16-bit signed little-endian mono PCM to G.711 A-law."""
    return _encode(pcm, _ALAW_ENC, _ALAW_ENC_NP)


def alaw_decode(data: bytes) -> bytes:
    """Decode G.711 A-law to 16-bit signed little-endian mono PCM."""
    return _decode(bytes(data), _ALAW_LO, _ALAW_HI)


def ulaw_to_alaw(data: bytes) -> bytes:
    """Transcode mu-law payload to A-law (one table lookup per byte)."""
    return data.translate(_U2A)


def alaw_to_ulaw(data: bytes) -> bytes:
    """Transcode A-law payload to mu-law (one table lookup per byte)."""
    return data.translate(_A2U)


class CannotTranscode(ValueError):
    """A codec the PBX can only pass through (Opus) was asked to encode or decode."""


@dataclass(frozen=True)
class Codec:
    """An audio codec: its SDP name, usual payload type, RTP clock and functions.

    ``clock_rate`` is the RTP timestamp rate (G.722: 8000), ``sample_rate``
    the rate of its PCM (G.722: 16000). ``encode``/``decode`` convert whole
    buffers from a fresh state (prompts, files); a live stream takes its own
    ``new_encoder()``/``new_decoder()``, which keep the state of stateful
    codecs (G.722's ADPCM) between frames. ``encode`` is None for a codec
    that is only passed through (Opus).
    """

    name: str
    payload_type: int
    clock_rate: int
    encode: Callable[[bytes], bytes] | None = field(default=None, repr=False, compare=False)
    decode: Callable[[bytes], bytes] | None = field(default=None, repr=False, compare=False)
    sample_rate: int = 8000
    channels: int = 1
    encoder_factory: Callable[[], Callable[[bytes], bytes]] | None = field(
        default=None, repr=False, compare=False)
    decoder_factory: Callable[[], Callable[[bytes], bytes]] | None = field(
        default=None, repr=False, compare=False)
    stateless: bool = True  # encode/decode may be shared by every stream (G.711)

    @property
    def transcodable(self) -> bool:
        """The PBX can decode and encode it (prompts, recordings, transcoding)."""
        return self.encode is not None and self.decode is not None

    def new_encoder(self) -> Callable[[bytes], bytes]:
        """An encoder for one stream (PCM at ``sample_rate`` in, payload out)."""
        if self.encoder_factory is not None:
            return self.encoder_factory()
        if self.encode is None:
            raise CannotTranscode(f"{self.name} is passed through only: it cannot be encoded")
        return self.encode

    def new_decoder(self) -> Callable[[bytes], bytes]:
        """A decoder for one stream (payload in, PCM at ``sample_rate`` out)."""
        if self.decoder_factory is not None:
            return self.decoder_factory()
        if self.decode is None:
            raise CannotTranscode(f"{self.name} is passed through only: it cannot be decoded")
        return self.decode


def _g722_codec() -> Codec:
    from pbx.media import g722

    return Codec("G722", 9, 8000, g722.encode, g722.decode, sample_rate=g722.SAMPLE_RATE,
                 encoder_factory=g722.new_encoder, decoder_factory=g722.new_decoder,
                 stateless=False)


PCMU = Codec("PCMU", 0, 8000, ulaw_encode, ulaw_decode)
PCMA = Codec("PCMA", 8, 8000, alaw_encode, alaw_decode)
G722 = _g722_codec()
# RFC 7587: always opus/48000/2 in SDP; dynamic payload type (107 as Asterisk uses).
OPUS = Codec("opus", 107, 48000, sample_rate=48000, channels=2)

# Static payload types only: a dynamic number means something per call.
CODECS_BY_PT: dict[int, Codec] = {c.payload_type: c for c in (PCMU, PCMA, G722)}
CODECS_BY_NAME: dict[str, Codec] = {c.name.upper(): c for c in (PCMU, PCMA, G722, OPUS)}

_SILENCE = {PCMU.name: 0xFF, PCMA.name: 0xD5}
_silence_cache: dict[tuple[str, int], bytes] = {}


def silence(codec: Codec, n_octets: int) -> bytes:
    """Encoded silence (linear 0) filling ``n_octets`` of payload in ``codec``.

    G.711 and G.722 at 64 kbit/s both carry 8 octets per millisecond.
    """
    byte = _SILENCE.get(codec.name)
    if byte is not None:
        return bytes((byte,)) * n_octets
    key = (codec.name, n_octets)
    data = _silence_cache.get(key)
    if data is None:
        if codec.encode is None:
            raise CannotTranscode(f"no silence in {codec.name}: it is passed through only")
        samples = n_octets * codec.sample_rate // 8000  # 64 kbit/s: 8 octets per ms
        data = _silence_cache[key] = codec.encode(bytes(2 * samples))
    return data
