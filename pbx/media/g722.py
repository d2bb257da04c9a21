"""G.722 (ITU-T, 64 kbit/s, 16 kHz wideband) through the `g722` package.

The package (Sippy's libg722: Steve Underwood's spandsp code, bit exact with
the ITU test vectors) was measured against PyAV's FFmpeg codec per 20 ms frame
on this machine (bench/g722_transcode.py): encode 13 us against 21 us, decode
10 us against 11 us, so it is the one used.

G.722 is ADPCM: encoder and decoder carry state from one frame to the next,
so every RTP stream gets its own (``new_encoder``/``new_decoder``); the
whole-buffer ``encode``/``decode`` start from a fresh state (a prompt, a file).
One octet of payload holds two 16 kHz samples; the RTP clock runs at 8000
(RFC 3551 4.5.2), so a 20 ms frame is 160 octets and 160 timestamp units, as
for G.711.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable

import G722 as _lib  # the `g722` distribution installs the module `G722`

__all__ = ["BIT_RATE", "SAMPLE_RATE", "decode", "encode", "new_decoder", "new_encoder"]

SAMPLE_RATE = 16000
BIT_RATE = 64000
_LITTLE = sys.byteorder == "little"


def _samples(pcm: bytes | memoryview) -> memoryview | array[int]:
    """16-bit little-endian PCM as native signed samples, without a copy when possible."""
    if _LITTLE:
        return memoryview(pcm).cast("B").cast("h")
    a = array("h", bytes(pcm))
    a.byteswap()
    return a


def _pcm(samples: array[int]) -> bytes:
    if not _LITTLE:
        samples.byteswap()
    return samples.tobytes()


def new_encoder() -> Callable[[bytes], bytes]:
    """An encoder for one stream: 16 kHz 16-bit PCM in, G.722 octets out."""
    encode_samples = _lib.G722(SAMPLE_RATE, BIT_RATE, use_numpy=False).encode

    def encode_frame(pcm: bytes) -> bytes:
        if len(pcm) & 3:
            raise ValueError("G.722 encodes pairs of 16-bit samples (a multiple of 4 bytes)")
        return encode_samples(_samples(pcm))

    return encode_frame


def new_decoder() -> Callable[[bytes], bytes]:
    """A decoder for one stream: G.722 octets in, 16 kHz 16-bit PCM out."""
    decode_octets = _lib.G722(SAMPLE_RATE, BIT_RATE, use_numpy=False).decode

    def decode_frame(payload: bytes) -> bytes:
        return _pcm(decode_octets(bytes(payload)))

    return decode_frame


def encode(pcm: bytes) -> bytes:
    """A whole buffer (a prompt) from a fresh encoder state."""
    return new_encoder()(pcm[: len(pcm) // 4 * 4])


def decode(payload: bytes) -> bytes:
    """A whole buffer (a .g722 file) from a fresh decoder state."""
    return new_decoder()(payload)
