"""Player: packets on a real socket carry the prompt in order, every 20 ms."""

from __future__ import annotations

import asyncio
import itertools
import statistics

import numpy as np

from pbx.media.clock import MediaClock
from pbx.media.codecs import PCMU, ulaw_encode
from pbx.media.player import Player
from pbx.media.session import MediaSession
from tests.unit.media.loops import event_loop_policy  # noqa: F401 - both loops
from tests.unit.media.test_session import allocator, open_peer


def tone(seconds: float, freq: float = 440.0) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    return (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2").tobytes()


async def test_player_sends_prompt_frames_in_order() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    s = await MediaSession.open(loop, allocator(), "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, PCMU)
    prompt = ulaw_encode(tone(1.0))  # 8000 octets = 50 frames
    result = await asyncio.wait_for(Player(s).play([prompt]), 5)
    assert result.completed and result.frames == 50 and result.reason == "done"
    await peer.wait(50)
    pkts = peer.packets()
    assert b"".join(p.payload for p in pkts) == prompt
    assert pkts[0].marker and not any(p.marker for p in pkts[1:])
    assert all((b.seq - a.seq) & 0xFFFF == 1 for a, b in itertools.pairwise(pkts))
    assert all((b.timestamp - a.timestamp) & 0xFFFFFFFF == 160
               for a, b in itertools.pairwise(pkts))
    assert len({p.ssrc for p in pkts}) == 1
    times = [t for t, _, _ in peer.got]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 0.018 < statistics.median(gaps) < 0.022
    s.close()
    clock.stop()


async def test_list_without_gap_missing_skipped_and_stop() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    s = await MediaSession.open(loop, allocator(), "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, PCMU)
    a = bytes(range(100)) * 3  # 300 octets: not a multiple of 160
    b = bytes(range(100, 200)) * 2  # 200 octets
    res = await asyncio.wait_for(Player(s).play([a, None, b], ["a", "nope", "b"]), 5)
    assert res.completed and res.missing == ["nope"]
    await peer.wait(4)
    pkts = peer.packets()
    data = b"".join(p.payload for p in pkts)
    assert len(pkts) == 4 and all(len(p.payload) == 160 for p in pkts)
    assert data[:500] == a + b and data[500:] == b"\xff" * 140  # padded with silence
    # stop() interrupts a long prompt (Background + DTMF).
    player = Player(s)
    fut = player.play([bytes(16000)])
    await peer.wait(8)
    player.stop()
    res = await fut
    assert not res.completed and res.reason == "stopped" and res.frames < 100
    # A closed session ends playback with "hangup".
    fut = player.play([bytes(16000)])
    await peer.wait(len(peer.got) + 2)
    s.close()
    assert (await fut).reason == "hangup"
    clock.stop()


async def test_second_play_is_marked_and_timestamp_jumps() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    s = await MediaSession.open(loop, allocator(), "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, PCMU)
    p = Player(s)
    await p.play([bytes(320)])
    await asyncio.sleep(0.2)
    await p.play([bytes(320)])
    await peer.wait(4)
    pk = peer.packets()
    assert [x.marker for x in pk] == [True, False, True, False]
    jump = (pk[2].timestamp - pk[1].timestamp) & 0xFFFFFFFF
    assert jump % 160 == 0 and 1600 <= jump <= 3200  # ~200 ms of silence
    assert (pk[2].seq - pk[1].seq) & 0xFFFF == 1
    s.close()
    clock.stop()
