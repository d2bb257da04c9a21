"""G.711 codecs: bit-exact against reference implementations for every input."""

from __future__ import annotations

import struct
import sys
import warnings
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.media import codecs
from pbx.media.codecs import (
    CODECS_BY_NAME,
    CODECS_BY_PT,
    G722,
    OPUS,
    PCMA,
    PCMU,
    alaw_decode,
    alaw_encode,
    alaw_to_ulaw,
    silence,
    ulaw_decode,
    ulaw_encode,
    ulaw_to_alaw,
)

# ------------------------------------------------------------------ references
# Plain per-sample ports, written independently of the module's code: the
# segment-end search of Sun's g711.c, fed the one's-complement magnitude that
# ITU-T G.191 (STL g711.c) uses for negative samples.

SEG_UEND = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
SEG_AEND = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _search(val: int, table: tuple[int, ...]) -> int:
    for i, end in enumerate(table):
        if val <= end:
            return i
    return len(table)


def ref_linear2ulaw(x: int) -> int:
    """16-bit linear -> mu-law: 14-bit magnitude, bias 33 (132 at 16 bit), clip."""
    if x < 0:
        mag, mask = (~x) >> 2, 0x7F  # one's complement, G.191
    else:
        mag, mask = x >> 2, 0xFF
    mag = min(mag, 8158)  # 32635 >> 2: the 16-bit clip of 32635
    mag += 33
    seg = _search(mag, SEG_UEND)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((mag >> (seg + 1)) & 0xF)) ^ mask


def ref_ulaw2linear(u: int) -> int:
    u = ~u & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return 0x84 - t if u & 0x80 else t - 0x84


def ref_linear2alaw(x: int) -> int:
    """16-bit linear -> A-law: 13-bit magnitude (Sun g711.c)."""
    v = x >> 3
    if v >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        v = -v - 1
    seg = _search(v, SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (v >> 1) & 0x0F if seg < 2 else (v >> seg) & 0x0F
    return aval ^ mask


def ref_alaw2linear(a: int) -> int:
    a ^= 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t += 0x108
        t <<= seg - 1
    return t if a & 0x80 else -t


ALL_PCM = array("h", range(-32768, 32768))
if sys.byteorder != "little":
    ALL_PCM.byteswap()
ALL_PCM_BYTES = ALL_PCM.tobytes()
ALL_CODES = bytes(range(256))


def _pcm(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


def _samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


# ------------------------------------------------------------------ exactness


def test_ulaw_encode_matches_reference_for_all_65536_inputs() -> None:
    expected = bytes(ref_linear2ulaw(x) for x in range(-32768, 32768))
    assert ulaw_encode(ALL_PCM_BYTES) == expected


def test_alaw_encode_matches_reference_for_all_65536_inputs() -> None:
    expected = bytes(ref_linear2alaw(x) for x in range(-32768, 32768))
    assert alaw_encode(ALL_PCM_BYTES) == expected


def test_decoders_match_reference_for_all_256_codes() -> None:
    assert _samples(ulaw_decode(ALL_CODES)) == [ref_ulaw2linear(c) for c in range(256)]
    assert _samples(alaw_decode(ALL_CODES)) == [ref_alaw2linear(c) for c in range(256)]


def test_stdlib_fallback_encoder_is_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without numpy the map()-based path must give the same bytes."""
    fast_u, fast_a = ulaw_encode(ALL_PCM_BYTES), alaw_encode(ALL_PCM_BYTES)
    monkeypatch.setattr(codecs, "_ULAW_ENC_NP", None)
    monkeypatch.setattr(codecs, "_ALAW_ENC_NP", None)
    assert ulaw_encode(ALL_PCM_BYTES) == fast_u
    assert alaw_encode(ALL_PCM_BYTES) == fast_a


@pytest.mark.parametrize(
    ("linear", "ulaw", "alaw"),
    [
        (0, 0xFF, 0xD5),
        (1, 0xFF, 0xD5),
        (-1, 0x7F, 0x55),  # one's complement: -1 is "negative zero"
        (1000, 0xCE, 0xFA),
        (-1000, 0x4E, 0x7A),
        (32767, 0x80, 0xAA),
        (-32768, 0x00, 0x2A),
    ],
)
def test_known_points(linear: int, ulaw: int, alaw: int) -> None:
    assert ulaw_encode(_pcm([linear])) == bytes([ulaw])
    assert alaw_encode(_pcm([linear])) == bytes([alaw])


def test_known_decoded_values() -> None:
    assert _samples(ulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00]))) == [0, 0, 32124, -32124]
    assert _samples(alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A]))) == [8, -8, 32256, -32256]


def test_agrees_with_audioop_where_audioop_follows_the_reference() -> None:
    """audioop (Sun g711.c) is identical for A-law and for decoding; its mu-law
    encoder rounds negative magnitudes up (ceil) where G.191 uses ~x, so only the
    non-negative half is compared for mu-law encoding."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    assert alaw_encode(ALL_PCM_BYTES) == audioop.lin2alaw(ALL_PCM_BYTES, 2)
    assert ulaw_encode(ALL_PCM_BYTES)[32768:] == audioop.lin2ulaw(ALL_PCM_BYTES, 2)[32768:]
    assert ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


# ------------------------------------------------------------------ properties


def test_code_words_survive_decode_then_encode() -> None:
    # Every code word except mu-law's "negative zero" (0x7F -> 0 -> 0xFF).
    again = ulaw_encode(ulaw_decode(ALL_CODES))
    assert [c for c in range(256) if again[c] != c] == [0x7F]
    assert again[0x7F] == 0xFF
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES


def half_step_bound(x: int, clip: int) -> tuple[int, int]:
    """(clipped x, allowed error): half a quantisation step is at most
    (|x| + 132) / 32 (the mu-law bias; A-law is tighter), +1 for the one's
    complement of negative samples, and 16 in the smallest segments."""
    xc = max(-clip, min(clip, x))
    return xc, max(16, (abs(xc) + 132) // 32 + 1)


def test_round_trip_error_bound_holds_for_all_inputs() -> None:
    for enc, dec, clip in ((ulaw_encode, ulaw_decode, 32124), (alaw_encode, alaw_decode, 32256)):
        out = _samples(dec(enc(ALL_PCM_BYTES)))
        for x, y in zip(range(-32768, 32768), out, strict=True):
            xc, bound = half_step_bound(x, clip)
            assert abs(y - xc) <= bound, (x, y)


@given(st.lists(st.integers(-32768, 32767), max_size=400))
def test_round_trip_error_is_within_half_a_step(values: list[int]) -> None:
    pcm = _pcm(values)
    for enc, dec, clip in ((ulaw_encode, ulaw_decode, 32124), (alaw_encode, alaw_decode, 32256)):
        out = _samples(dec(enc(pcm)))
        assert len(out) == len(values)
        for x, y in zip(values, out, strict=True):
            xc, bound = half_step_bound(x, clip)
            assert abs(y - xc) <= bound, (x, y)


@given(st.binary(max_size=400))
def test_transcoding_is_decode_then_encode(data: bytes) -> None:
    assert ulaw_to_alaw(data) == alaw_encode(ulaw_decode(data))
    assert alaw_to_ulaw(data) == ulaw_encode(alaw_decode(data))


def test_transcoding_tables_for_all_codes() -> None:
    assert ulaw_to_alaw(ALL_CODES) == alaw_encode(ulaw_decode(ALL_CODES))
    assert alaw_to_ulaw(ALL_CODES) == ulaw_encode(alaw_decode(ALL_CODES))
    # Near-inverse: a code word transcoded there and back moves by at most one step.
    back = alaw_to_ulaw(ulaw_to_alaw(ALL_CODES))
    for c in range(256):
        a, b = _samples(ulaw_decode(bytes([c, back[c]])))
        assert abs(a - b) <= max(8, abs(a) // 8)


def test_encode_rejects_odd_length() -> None:
    with pytest.raises(ValueError):
        ulaw_encode(b"\x00")


def test_empty_and_sizes() -> None:
    assert ulaw_encode(b"") == b"" and ulaw_decode(b"") == b""
    frame = bytes(320)
    assert len(ulaw_encode(frame)) == 160 and len(alaw_decode(bytes(160))) == 320
    assert ulaw_decode(bytearray(b"\xff")) == b"\x00\x00"


def test_codec_registry_and_silence() -> None:
    assert CODECS_BY_PT == {0: PCMU, 8: PCMA, 9: G722}
    assert CODECS_BY_NAME["PCMU"] is PCMU and CODECS_BY_NAME["PCMA"] is PCMA
    assert CODECS_BY_NAME["G722"] is G722 and CODECS_BY_NAME["OPUS"] is OPUS
    assert (G722.clock_rate, G722.sample_rate) == (8000, 16000)  # RFC 3551 4.5.2
    assert not OPUS.transcodable and G722.transcodable
    assert (PCMU.name, PCMU.payload_type, PCMU.clock_rate) == ("PCMU", 0, 8000)
    assert (PCMA.name, PCMA.payload_type, PCMA.clock_rate) == ("PCMA", 8, 8000)
    assert silence(PCMU, 160) == b"\xff" * 160
    assert silence(PCMA, 3) == b"\xd5" * 3
    assert PCMU.decode(silence(PCMU, 4)) == bytes(8)
    assert PCMA.encode(bytes(4)) == silence(PCMA, 2)
