"""In-band DTMF: the tones we make are found again by the detector after G.711, at any
frame alignment and under noise; speech and single tones are not digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pbx.media.codecs import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from pbx.media.inband import DtmfDetector, tone_frames
from pbx.media.wav import read_wav

SOUNDS = Path(__file__).resolve().parents[3] / "sounds" / "en"


def press(digits: str) -> bytes:
    return b"".join(b"".join(tone_frames(d)) for d in digits)


def detect(pcm: bytes, chunk: int = 320) -> str:
    det = DtmfDetector()
    return "".join(det.feed(pcm[i:i + chunk]) for i in range(0, len(pcm), chunk))


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_every_digit_survives_g711(law: str) -> None:
    encode, decode = (ulaw_encode, ulaw_decode) if law == "ulaw" else (alaw_encode, alaw_decode)
    digits = "0123456789*#ABCD"
    assert detect(decode(encode(press(digits)))) == digits


@pytest.mark.parametrize("offset", [0, 2, 78, 158, 250])
def test_any_alignment_and_odd_chunks(offset: int) -> None:
    pcm = bytes(offset * 2) + press("1155") + bytes(800)
    assert detect(pcm, chunk=226) == "1155"  # the same key twice is two digits (the gap)


def test_noise_does_not_hide_a_digit_nor_make_one() -> None:
    rng = np.random.default_rng(1)
    tones = np.frombuffer(press("7#"), dtype="<i2").astype(float)
    noisy = tones + rng.normal(0, 600, len(tones))  # about 20 dB below the tones
    assert detect(np.clip(noisy, -32768, 32767).astype("<i2").tobytes()) == "7#"
    noise = rng.normal(0, 3000, 8000 * 3).astype("<i2").tobytes()
    assert detect(noise) == ""


def test_speech_and_single_tones_are_not_digits() -> None:
    speech = read_wav(SOUNDS / "tt-weasels.wav")
    assert detect(ulaw_decode(ulaw_encode(speech))) == ""
    t = np.arange(8000) / 8000
    for f in (697.0, 1209.0, 1000.0):
        single = (10000 * np.sin(2 * np.pi * f * t)).astype("<i2").tobytes()
        assert detect(single) == "", f


def test_too_much_twist_is_refused() -> None:
    t = np.arange(1600) / 8000
    low = 10000 * np.sin(2 * np.pi * 697 * t)
    high = 1000 * np.sin(2 * np.pi * 1209 * t)  # 20 dB below the row tone
    assert detect((low + high).astype("<i2").tobytes()) == ""
    ok = (low + 5000 * np.sin(2 * np.pi * 1209 * t)).astype("<i2").tobytes()  # 6 dB
    assert detect(ok) == "1"


def test_a_short_blip_is_not_a_digit() -> None:
    frames = tone_frames("5", tone_ms=20, gap_ms=100)  # one frame of tone only
    assert detect(b"".join(frames)) == ""


def test_tone_frames_shape() -> None:
    frames = tone_frames("9")
    assert all(len(f) == 320 for f in frames) and len(frames) == 8  # 100 ms + 60 ms
    with pytest.raises(ValueError):
        tone_frames("x")
