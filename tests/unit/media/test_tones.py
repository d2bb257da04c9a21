"""Tones: indications tone lists as audio (by frequency content and cadence), and
the player looping them on the media clock until stopped."""

from __future__ import annotations

import asyncio

import numpy as np

from pbx.indications import parse_tonelist
from pbx.media.clock import MediaClock
from pbx.media.codecs import G722, PCMA, PCMU, ulaw_decode
from pbx.media.player import Player
from pbx.media.session import MediaSession
from pbx.media.tones import VOLUME, tone_audio, tone_pcm
from tests.unit.media.loops import event_loop_policy  # noqa: F401 - both loops
from tests.unit.media.test_session import allocator, open_peer


def pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def power(x: np.ndarray, freq: float, rate: int) -> float:
    """Goertzel-style power of `freq` in `x`, normalised by length."""
    t = np.arange(len(x)) / rate
    return float(abs(np.dot(x, np.exp(-2j * np.pi * freq * t))) / len(x))


def test_dial_tone_is_350_and_440_hz_for_ever() -> None:
    intro, loop = tone_pcm(parse_tonelist("350+440"), 8000)
    assert intro == b"" and len(loop) == 2 * 8000  # one second, looped
    x = pcm(loop)
    for f in (350, 440):
        assert power(x, f, 8000) > 0.45 * VOLUME  # a pure sine gives VOLUME / 2
    for f in (300, 400, 480, 620, 1000):
        assert power(x, f, 8000) < 0.01 * VOLUME
    # Looping: the sample after the last one is the first one again (no click).
    twice = np.concatenate([x, x])
    step = np.abs(np.diff(twice)).max()
    assert abs(twice[8000] - twice[7999]) <= step


def test_busy_cadence_and_once_parts() -> None:
    intro, loop = tone_pcm(parse_tonelist("480+620/500,0/500"), 8000)
    x = pcm(loop)
    assert intro == b"" and len(x) == 8000
    on, off = x[:4000], x[4000:]
    assert power(on, 480, 8000) > 0.45 * VOLUME and power(on, 620, 8000) > 0.45 * VOLUME
    assert not off.any()
    # info: three once-only notes then silence for ever.
    intro, loop = tone_pcm(parse_tonelist("!950/330,!1400/330,!1800/330,0"), 8000)
    x = pcm(intro)
    assert len(x) == 3 * 2640 and not pcm(loop).any() and len(loop) == 16000
    for i, f in enumerate((950, 1400, 1800)):
        assert power(x[i * 2640:(i + 1) * 2640], f, 8000) > 0.45 * VOLUME
    # All parts once: no loop at all; a repeating tail after a once-only head.
    assert tone_pcm(parse_tonelist("!425/100,!0/100"), 8000)[1] == b""
    intro, loop = tone_pcm(parse_tonelist("!425/100,440/200,0/100"), 8000)
    assert len(intro) == 2 * 800 and len(loop) == 2 * 2400


def test_modulated_tone_has_sidebands() -> None:
    _, loop = tone_pcm(parse_tonelist("400*50"), 8000)
    x = pcm(loop)
    assert power(x, 400, 8000) > 0.3 * VOLUME
    assert power(x, 350, 8000) > 0.02 * VOLUME and power(x, 450, 8000) > 0.02 * VOLUME
    assert power(x, 50, 8000) < 0.01 * VOLUME


def test_wideband_rate_and_components_above_nyquist() -> None:
    _, loop = tone_pcm(parse_tonelist("1000+5000"), 16000)
    x = pcm(loop)
    assert len(x) == 16000 and power(x, 5000, 16000) > 0.45 * VOLUME
    _, loop = tone_pcm(parse_tonelist("1000+5000"), 8000)
    x = pcm(loop)
    assert power(x, 1000, 8000) > 0.45 * VOLUME and power(x, 3000, 8000) < 0.01 * VOLUME


def test_encoded_per_codec_and_cached() -> None:
    tones = parse_tonelist("440/100,0/100")
    a = tone_audio(tones, PCMU)
    assert a is tone_audio(parse_tonelist("440/100,0/100"), PCMU)  # same list text: cached
    assert len(a.loop) == 1600 and tone_audio(tones, PCMA).loop != a.loop
    x = pcm(ulaw_decode(a.loop))
    assert power(x[:800], 440, 8000) > 0.4 * VOLUME
    # G.722: 8 octets per ms as G.711; the loop decodes to the tone at 16 kHz.
    g = tone_audio(parse_tonelist("350+440"), G722)
    assert len(g.loop) == 8000
    decoded = pcm(G722.decode(g.loop + g.loop))[16000:]  # the second pass: settled state
    assert power(decoded, 350, 16000) > 0.4 * VOLUME and power(decoded, 440, 16000) > 0.4 * VOLUME


async def test_player_loops_a_tone_until_stopped() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    s = await MediaSession.open(loop, allocator(), "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, PCMU)
    player = Player(s)
    audio = tone_audio(parse_tonelist("!1000/30,440/50,0/50"), PCMU)  # 240 + 800 octets
    fut = player.play_tone(audio.intro, audio.loop)
    assert player.playing_tone
    await peer.wait(20)  # 400 ms: the 100 ms loop went round several times
    player.stop()  # stop() works for tones too; stop_tone() only for tones:
    res = await fut
    assert res.reason == "stopped"
    data = b"".join(p.payload for p in peer.packets())
    assert data[:240] == audio.intro
    body = data[240:240 + 3 * 800]
    assert body == audio.loop * 3, "the loop repeats without a gap"
    # stop_tone leaves a prompt alone; it stops a tone.
    fut = player.play([bytes(8000)])
    player.stop_tone()
    assert player.playing and not fut.done()
    player.stop()
    fut = player.play_tone(b"", audio.loop)
    player.stop_tone()
    assert (await fut).reason == "stopped" and not player.playing
    # A tone that plays once ends by itself.
    once = tone_audio(parse_tonelist("!425/100,!0/100"), PCMU)
    res = await asyncio.wait_for(player.play_tone(once.intro, once.loop), 5)
    assert res.completed and res.frames == 10
    s.close()
    clock.stop()
