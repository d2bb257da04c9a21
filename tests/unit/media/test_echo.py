"""Echo: what is sent comes back with the same payload, under the PBX's SSRC."""

from __future__ import annotations

import asyncio
import itertools

from pbx.media.clock import MediaClock
from pbx.media.codecs import PCMU
from pbx.media.dtmf import DtmfSender
from pbx.media.echo import Echo
from pbx.media.session import MediaSession
from tests.unit.media.loops import event_loop_policy  # noqa: F401 - both loops
from tests.unit.media.test_session import allocator, open_peer, rtp


async def test_echo_returns_payload_and_ends_on_hash() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    s = await MediaSession.open(loop, allocator(), "127.0.0.1", clock)
    peer = await open_peer()
    s.set_remote(peer.addr, PCMU)
    echo = Echo(s)
    fut = echo.start()
    payloads = [bytes([i]) * 160 for i in range(30)]
    for i, p in enumerate(payloads):
        peer.send(rtp(65530 + i, 4294967000 + 160 * i, p, ssrc=77), s.local_port)
    await peer.wait(30)
    back = peer.packets()
    assert [p.payload for p in back] == payloads
    assert all(p.ssrc != 77 for p in back) and len({p.ssrc for p in back}) == 1
    assert back[0].marker
    assert all((b.seq - a.seq) & 0xFFFF == 1 for a, b in itertools.pairwise(back))
    assert all((b.timestamp - a.timestamp) & 0xFFFFFFFF == 160
               for a, b in itertools.pairwise(back))
    for p in DtmfSender().packets("#", 40):
        peer.send(rtp(100, 9000, p.payload, pt=101, marker=p.marker, ssrc=77), s.local_port)
    assert await asyncio.wait_for(fut, 5) == "dtmf"
    assert echo.echoed == 30 and s.consumer is None
    s.close()
    clock.stop()


async def test_echo_ends_on_hangup() -> None:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    s = await MediaSession.open(loop, allocator(), "127.0.0.1", clock)
    fut = Echo(s).start()
    s.close()
    assert await asyncio.wait_for(fut, 1) == "hangup"
    clock.stop()
