"""Tone lists (pbx.indications) as audio: the part played once, then the part that loops.

Asterisk's playtones generator walks the parts in order, each for its
duration, and after the last one starts again at the first part without
``!`` (it stops when every part has ``!``); a part without a duration plays
for ever. So one tone list is *intro* audio followed by *loop* audio (empty
when the list stops), computed here once per list and codec with numpy and
kept in a small cache; the Player sends it frame by frame on the media clock
like a prompt (Player.play_tone), looping without a gap.

Samples follow Asterisk's generator: each frequency at amplitude 7219 (-8 dB,
its default volume), two frequencies added, ``f1*f2`` is f1 modulated by f2
at 90% as its integer oscillators compute it, and each part starts at phase
0. A part that lasts for ever loops one second of audio, which holds a whole
number of periods of any whole frequency, so it loops without a click.
G.722 legs get the tones at 16 kHz; G.711 legs at 8 kHz, where components
above 4 kHz are left out (they would alias).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pbx.indications import ToneList, TonePart
from pbx.media.codecs import CODECS_BY_NAME, Codec

__all__ = ["ToneAudio", "tone_audio", "tone_pcm"]

VOLUME = 7219  # ast_playtones_start's default (vol < 1)


def _part_pcm(part: TonePart, rate: int, samples: int) -> np.ndarray:
    """One part's samples (float, not yet clipped), starting at phase 0."""
    t = np.arange(samples, dtype=np.float64) / rate

    def wave(freq: int) -> np.ndarray:
        if freq <= 0 or freq >= rate / 2:
            return np.zeros(samples)
        return VOLUME * np.sin(2 * np.pi * freq * t)

    s1 = wave(part.freq1)
    s2 = wave(part.freq2)
    if part.modulate:
        # playtones_generator: data = v1 * (|v2 - 32768| * 9 / 10 + 1) >> 15
        return s1 * ((32768.0 - s2) * 0.9 + 1) / 32768.0
    return s1 + s2


def _render(parts: tuple[TonePart, ...], rate: int, forever_at_end: bool) -> np.ndarray:
    chunks = []
    for i, part in enumerate(parts):
        last_forever = forever_at_end and i == len(parts) - 1
        n = rate if last_forever else part.ms * rate // 1000
        if n:
            chunks.append(_part_pcm(part, rate, n))
    if not chunks:
        return np.zeros(0, dtype=np.int16)
    pcm = np.concatenate(chunks)
    return np.clip(np.rint(pcm), -32768, 32767).astype("<i2")


def tone_pcm(tones: ToneList, rate: int) -> tuple[bytes, bytes]:
    """(intro, loop): 16-bit linear PCM at `rate`; `loop` is b"" when the list stops."""
    parts = tones.parts
    forever = next((i for i, p in enumerate(parts) if p.ms == 0), None)
    if forever is not None:
        # The part without a duration never ends: what comes before it plays once.
        intro_parts, loop_parts, endless = parts[:forever], (parts[forever],), True
    else:
        start = tones.repeat_from
        if start is None:
            intro_parts, loop_parts = parts, ()
        else:
            intro_parts, loop_parts = parts[:start], parts[start:]
        endless = False
    intro = _render(intro_parts, rate, False).tobytes()
    loop = _render(loop_parts, rate, endless).tobytes() if loop_parts else b""
    return intro, loop


class ToneAudio:
    """A tone list encoded for one codec: `intro` once, then `loop` (b"": no loop)."""

    __slots__ = ("intro", "loop")

    def __init__(self, intro: bytes, loop: bytes) -> None:
        self.intro = intro
        self.loop = loop


def tone_audio(tones: ToneList, codec: Codec) -> ToneAudio:
    """The payloads of `tones` in `codec` (cached: the same objects each time)."""
    return _encoded(tones, codec.name)


# Keyed by the tone list (its text) and codec name: pure data, bounded, so a
# dialplan that computes tone strings cannot grow it without limit.
@lru_cache(maxsize=64)
def _encoded(tones: ToneList, codec_name: str) -> ToneAudio:
    codec = CODECS_BY_NAME[codec_name.upper()]
    if codec.encode is None:
        raise ValueError(f"tones cannot be played in {codec.name}: it is passed through only")
    intro, loop = tone_pcm(tones, codec.sample_rate)
    if codec.stateless:
        return ToneAudio(codec.encode(intro), codec.encode(loop) if loop else b"")
    # A stateful codec (G.722's ADPCM) is encoded in one run, the loop twice: the
    # second copy starts from the state the loop itself ends in, so repeating it
    # joins without a glitch.
    joined = codec.encode(intro + loop + loop)
    # 64 kbit/s codecs: 8 octets per millisecond whatever the sample rate.
    n_intro = len(intro) // 2 * 8000 // codec.sample_rate
    n_loop = len(loop) // 2 * 8000 // codec.sample_rate
    return ToneAudio(joined[:n_intro], joined[len(joined) - n_loop:] if loop else b"")
