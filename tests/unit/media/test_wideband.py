"""G.722 and Opus in the media engine: transcoding in the bridge, Opus passed
through with its payload type mapped, prompts and recordings at 16 kHz."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from pbx.media.clock import MediaClock
from pbx.media.codecs import G722, OPUS, PCMA, PCMU, CannotTranscode, ulaw_decode, ulaw_encode
from pbx.media.player import Player
from pbx.media.prompts import PromptLibrary
from pbx.media.recorder import Recorder
from pbx.media.relay import Relay
from pbx.media.resample import resample_pcm
from pbx.media.session import MediaSession
from pbx.media.transcode import transcoder
from pbx.media.wav import read_wav, write_wav
from tests.unit.media.loops import event_loop_policy  # noqa: F401 - both loops
from tests.unit.media.test_g722 import band_energy, best_ncc, sweep16
from tests.unit.media.test_session import allocator, open_peer, rtp


def sweep8(seconds: float = 1.0) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    phase = 2 * np.pi * (200 * t + 3000 * t * t / (2 * seconds))
    return (9000 * np.sin(phase)).astype("<i2").tobytes()


# ------------------------------------------------------------------ transcoders


def test_g722_to_pcmu_and_back_by_content() -> None:
    wide = sweep16(1.0, 200, 3400)  # telephone band: survives the trip to 8 kHz
    to_pcmu = transcoder(G722, PCMU)
    assert to_pcmu is not None
    coded = G722.encode(wide)
    ulaw = b"".join(to_pcmu(coded[i:i + 160]) for i in range(0, len(coded), 160))
    assert len(ulaw) == len(coded)  # 160 octets of G.722 -> 160 samples of PCMU
    # Compared at 16 kHz: codec and filter delays add up to a fractional 8 kHz lag.
    lag, ncc = best_ncc(resample_pcm(ulaw_decode(ulaw), 8000, 16000), wide)
    assert ncc > 0.97, (lag, ncc)

    narrow = sweep8()
    to_g722 = transcoder(PCMU, G722)
    assert to_g722 is not None
    mu = ulaw_encode(narrow)
    out = b"".join(to_g722(mu[i:i + 160]) for i in range(0, len(mu), 160))
    assert len(out) == len(mu)
    back = G722.decode(out)
    lag, ncc = best_ncc(back, resample_pcm(narrow, 8000, 16000))
    assert ncc > 0.97, (lag, ncc)
    assert band_energy(back, 16000, 4600, 8000) < 1e-4  # no images of the 8 kHz signal


def test_each_transcoder_owns_its_state() -> None:
    a, b = transcoder(PCMU, G722), transcoder(PCMU, G722)
    assert a is not b
    frame = ulaw_encode(sweep8(0.02))
    assert a(frame) == b(frame)  # same input, same fresh state, same output
    assert a(frame) != b(ulaw_encode(bytes(320)))


def test_same_codec_and_g711_pairs() -> None:
    assert transcoder(G722, G722) is None and transcoder(OPUS, OPUS) is None
    assert transcoder(PCMU, PCMA) is not None and transcoder(PCMA, G722) is not None


@pytest.mark.parametrize("other", [PCMU, G722])
def test_opus_is_never_transcoded(other) -> None:
    with pytest.raises(CannotTranscode, match="passed through"):
        transcoder(OPUS, other)
    with pytest.raises(CannotTranscode):
        transcoder(other, OPUS)


# ------------------------------------------------------------------ bridge


async def _legs(ca, cb, **kw):
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    alloc = allocator()
    a = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    b = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    pa, pb = await open_peer(), await open_peer()
    a.set_remote(pa.addr, ca, dtmf_pt=101, **kw.get("a", {}))
    b.set_remote(pb.addr, cb, dtmf_pt=96, **kw.get("b", {}))
    return clock, a, b, pa, pb


async def test_bridge_transcodes_g722_and_pcmu_both_ways() -> None:
    clock, a, b, pa, pb = await _legs(G722, PCMU)
    relay = Relay(a, b)
    relay.start()
    assert relay.transcoding and not relay.broken
    wide = G722.encode(sweep16(0.6, 300, 3000))
    narrow = ulaw_encode(sweep8(0.6))
    n = len(narrow) // 160
    for i in range(n):
        pa.send(rtp(i, i * 160, wide[i * 160:(i + 1) * 160], pt=9), a.local_port)
        pb.send(rtp(i, i * 160, narrow[i * 160:(i + 1) * 160], pt=0), b.local_port)
        if i % 5 == 4:
            await asyncio.sleep(0.01)
    await pb.wait(n)
    await pa.wait(n)
    to_b, to_a = pb.packets(), pa.packets()
    assert {p.payload_type for p in to_b} == {0} and {p.payload_type for p in to_a} == {9}
    assert all(len(p.payload) == 160 for p in to_a + to_b)
    heard_b = ulaw_decode(b"".join(p.payload for p in sorted(to_b, key=lambda p: p.seq)))
    heard_a = G722.decode(b"".join(p.payload for p in sorted(to_a, key=lambda p: p.seq)))
    assert best_ncc(resample_pcm(heard_b, 8000, 16000), G722.decode(wide))[1] > 0.95
    assert best_ncc(heard_a, resample_pcm(ulaw_decode(narrow), 8000, 16000))[1] > 0.95
    assert relay.relayed == 2 * n and relay.dropped == 0
    relay.stop()
    a.close()
    b.close()
    clock.stop()


async def test_opus_passes_untouched_with_each_legs_payload_type() -> None:
    """The caller numbers Opus 111, the callee 96: payload bytes cross as they are."""
    clock, a, b, pa, pb = await _legs(OPUS, OPUS, a={"pt": 111, "rx_pt": 111},
                                      b={"pt": 96, "rx_pt": 107})
    relay = Relay(a, b)
    relay.start()
    assert not relay.transcoding
    frames = [bytes([i]) * (40 + i) for i in range(10)]  # opaque Opus packets
    for i, f in enumerate(frames):
        pa.send(rtp(i, i * 960, f, pt=111), a.local_port)
        pb.send(rtp(i, i * 960, f[::-1], pt=107), b.local_port)
    await pb.wait(len(frames))
    await pa.wait(len(frames))
    assert [(p.payload_type, p.payload) for p in pb.packets()] == [(96, f) for f in frames]
    assert [(p.payload_type, p.payload) for p in pa.packets()] == [
        (111, f[::-1]) for f in frames]
    ts = [p.timestamp for p in pb.packets()]
    assert [t - ts[0] for t in ts] == [960 * i for i in range(10)]  # 48 kHz clock kept
    relay.stop()
    a.close()
    b.close()
    clock.stop()


async def test_opus_against_another_codec_relays_nothing() -> None:
    clock, a, b, pa, pb = await _legs(OPUS, PCMU, a={"pt": 111})
    relay = Relay(a, b)
    relay.start()
    assert relay.broken
    pa.send(rtp(1, 960, b"opus", pt=111), a.local_port)
    pb.send(rtp(1, 160, bytes(160), pt=0), b.local_port)
    for _ in range(50):
        if relay.dropped == 2:
            break
        await asyncio.sleep(0.01)
    assert relay.dropped == 2 and relay.relayed == 0
    relay.stop()
    a.close()
    b.close()
    clock.stop()


# ------------------------------------------------------------------ prompts, recordings


def _write16(path: Path, pcm: bytes) -> None:
    write_wav(path, pcm, 16000)


def test_prompts_prefer_wideband_files_for_g722(tmp_path: Path) -> None:
    folder = tmp_path / "sounds"
    (folder / "en").mkdir(parents=True)
    wide = sweep16(0.5, 200, 7000)
    narrow = sweep8(0.5)
    write_wav(folder / "en" / "hello.wav", narrow)  # Debian's 8 kHz .wav ...
    (folder / "en" / "hello.g722").write_bytes(G722.encode(wide))  # ... and its .g722
    _write16(folder / "en" / "wide.wav", wide)  # a 16 kHz WAV of the user's
    (folder / "en" / "raw.sln16").write_bytes(wide)
    write_wav(folder / "en" / "only8k.wav", narrow)
    lib = PromptLibrary([folder])
    # A G.722 leg gets the .g722 bytes as they are; a G.711 leg the 8 kHz WAV.
    assert lib.get("hello", G722) == (folder / "en" / "hello.g722").read_bytes()
    assert lib.find("hello") == str(folder / "en" / "hello.wav")
    assert best_ncc(ulaw_decode(lib.get("hello", PCMU)), narrow)[1] > 0.99
    # 16 kHz sources keep their 4-7 kHz content on G.722 legs ...
    for name in ("wide", "raw"):
        played = G722.decode(lib.get(name, G722))
        assert best_ncc(played, wide)[1] > 0.97 and band_energy(played, 16000, 4000, 7000) > 0.3
    # ... an 8 kHz-only prompt is upsampled (no images above 4 kHz).
    up = G722.decode(lib.get("only8k", G722))
    assert best_ncc(up, resample_pcm(narrow, 8000, 16000))[1] > 0.97
    assert band_energy(up, 16000, 4600, 8000) < 1e-3
    # Encoded once per codec: the same object every time.
    assert lib.get("wide", G722) is lib.get("wide", G722)
    assert lib.get("wide", PCMU) is lib.get("wide", PCMU)
    assert lib.pcm("wide", rate=16000) is lib.pcm("wide", rate=16000)
    # A .g722-only prompt serves narrowband legs too (decoded, downsampled).
    (folder / "en" / "hello.wav").unlink()
    band_limited = resample_pcm(resample_pcm(G722.decode(G722.encode(wide)), 16000, 8000),
                                8000, 16000)
    assert best_ncc(resample_pcm(ulaw_decode(lib.get("hello", PCMU)), 8000, 16000),
                    band_limited)[1] > 0.97
    with pytest.raises(CannotTranscode):
        lib.get("wide", OPUS)


async def test_player_sends_g722_frames_of_160_octets(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    s = await MediaSession.open(loop, allocator(), "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, G722, dtmf_pt=101)
    payload = G722.encode(sweep16(0.3))
    done = Player(s).play([payload])
    res = await asyncio.wait_for(done, 5)
    got = peer.packets()
    assert res.completed and len(got) == 15
    assert all(p.payload_type == 9 and len(p.payload) == 160 for p in got)
    assert [p.timestamp - got[0].timestamp for p in got] == [160 * i for i in range(15)]
    assert b"".join(p.payload for p in got) == payload
    s.close()
    clock.stop()


async def test_recording_from_a_g722_leg_is_a_16khz_wav(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    s = await MediaSession.open(loop, allocator(), "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, G722, dtmf_pt=101)
    path = tmp_path / "msg.wav"
    wide = sweep16(1.0, 200, 7000)
    coded = G722.encode(wide)
    fut = Recorder(s, str(path), max_seconds=5).start()
    for i in range(0, len(coded), 160):
        peer.send(rtp(i // 160, i, coded[i:i + 160], pt=9), s.local_port)
        if i % 800 == 0:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    s.close()  # hangup keeps what was recorded
    res = await asyncio.wait_for(fut, 5)
    assert res.stopped_by == "hangup" and abs(res.seconds - 1.0) < 0.05
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
    got = read_wav(path, 16000)
    assert best_ncc(got, wide)[1] > 0.97
    assert band_energy(got, 16000, 4000, 7000) > 0.3  # the wideband part was kept
    clock.stop()


async def test_session_receives_on_our_numbers_and_the_remotes() -> None:
    """RFC 3264: the remote should send with our numbers (107, 101); many phones use
    their own (96, 100). Both are taken; what we send carries the remote's."""
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    s = await MediaSession.open(loop, allocator(), "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, OPUS, dtmf_pt=100, pt=96, rx_pt=107, rx_dtmf_pt=101)
    got: list[bytes] = []

    class Sink:
        def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
            got.append(payload)

    s.set_consumer(Sink())
    digits: list[str] = []
    s.on_dtmf = digits.append
    from pbx.media.dtmf import DtmfSender

    peer.send(rtp(1, 960, b"ours", pt=107), s.local_port)
    peer.send(rtp(2, 1920, b"theirs", pt=96), s.local_port)
    peer.send(rtp(3, 2880, b"other", pt=0), s.local_port)  # not negotiated: dropped
    for k, p in enumerate(DtmfSender(clock_rate=48000).packets("4", 60)):
        peer.send(rtp(4 + k, 3840, p.payload, pt=100, marker=p.marker), s.local_port)
    for _ in range(100):
        if digits:
            break
        await asyncio.sleep(0.01)
    assert got == [b"ours", b"theirs"] and digits == ["4"]
    assert s.send_audio(b"x" * 80, samples=960)
    await peer.wait(1)
    assert peer.packets()[0].payload_type == 96
    s.close()
    clock.stop()
