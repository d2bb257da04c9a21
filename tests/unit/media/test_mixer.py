"""The mixing conference of a three-way call: each party hears the others, not itself."""

from __future__ import annotations

import asyncio

import numpy as np

from pbx.media.clock import MediaClock
from pbx.media.codecs import PCMA, PCMU, alaw_decode, ulaw_decode, ulaw_encode
from pbx.media.mixer import Conference
from pbx.media.session import MediaSession
from tests.unit.media.test_session import allocator, open_peer, rtp


def level_at(pcm: bytes, freq: float) -> float:
    """Share of the signal's energy at ``freq`` (0..1)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if not np.any(x):
        return 0.0
    t = np.arange(len(x)) / 8000.0
    c = float(np.dot(x, np.cos(2 * np.pi * freq * t)))
    s = float(np.dot(x, np.sin(2 * np.pi * freq * t)))
    return (c * c + s * s) * 2 / len(x) / float(np.dot(x, x))


def sine(freq: float, frames: int) -> bytes:
    t = np.arange(160 * frames) / 8000.0
    return (6000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


async def test_each_party_hears_the_sum_of_the_others() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    alloc = allocator()
    codecs = (PCMU, PCMU, PCMA)
    sessions = [await MediaSession.open(loop, alloc, "127.0.0.1", clock) for _ in codecs]
    peers = [await open_peer() for _ in codecs]
    for s, p, codec in zip(sessions, peers, codecs, strict=True):
        s.set_remote(p.addr, codec, dtmf_pt=101)
    conf = Conference(clock)
    for s in sessions:
        conf.add(s)
    frames = 40
    a_tone, b_tone = ulaw_encode(sine(500, frames)), ulaw_encode(sine(1300, frames))
    for i in range(frames):  # A and B speak, C listens
        peers[0].send(rtp(i, i * 160, a_tone[i * 160:(i + 1) * 160]), sessions[0].local_port)
        peers[1].send(rtp(i, i * 160, b_tone[i * 160:(i + 1) * 160]), sessions[1].local_port)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    heard = []
    for p, decode in zip(peers, (ulaw_decode, ulaw_decode, alaw_decode), strict=True):
        heard.append(b"".join(decode(pkt.payload) for pkt in p.packets()))
    # C hears both (its own codec, PCMA); A hears B only; B hears A only.
    assert level_at(heard[2], 500) > 0.2 and level_at(heard[2], 1300) > 0.2
    assert level_at(heard[0], 1300) > 0.8 and level_at(heard[0], 500) < 0.05
    assert level_at(heard[1], 500) > 0.8 and level_at(heard[1], 1300) < 0.05
    assert all(pkt.payload_type == 8 for pkt in peers[2].packets())
    # A party that hangs up leaves the mix; the others go on being sent to.
    closed: list[MediaSession] = []
    conf.on_closed = closed.append
    sessions[0].close()
    assert closed == [sessions[0]] and len(conf) == 2
    for s in sessions[1:]:
        conf.remove(s)
        s.close()
    assert len(conf) == 0
    clock.stop()
