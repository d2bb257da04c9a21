"""The per-session symmetric RTP switch (nat=comedia / rtp_symmetric): on, RTP is sent
where the remote's RTP comes from; off, to the SDP address whatever the source."""

from __future__ import annotations

import asyncio

from pbx.media.clock import MediaClock
from pbx.media.codecs import PCMU
from pbx.media.ports import PortAllocator
from pbx.media.session import MediaSession
from tests.unit.media.loops import event_loop_policy  # noqa: F401 - both loops
from tests.unit.media.test_session import env, open_peer, rtp, wait_for  # noqa: F401


async def test_not_symmetric_keeps_sending_to_the_sdp_address(
        env: tuple[MediaClock, PortAllocator]) -> None:  # noqa: F811
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    s.symmetric = False
    in_sdp = await open_peer()  # where the SDP says to send
    source = await open_peer()  # where the RTP comes from (another port: a NAT)
    got: list[bytes] = []
    consumer = type("C", (), {"rtp": lambda self, p, m, q, t: got.append(p)})()
    s.set_consumer(consumer)
    s.set_remote(in_sdp.addr, PCMU)
    for seq in range(1, 9):
        source.send(rtp(seq, 160 * seq, bytes([seq]) * 160), s.local_port)
        await asyncio.sleep(0.002)
    # The source's audio is used (after strict RTP's probation, where there is one)...
    await wait_for(lambda: len(got) >= 4 and got[-1] == bytes([8]) * 160)
    assert s.remote == in_sdp.addr  # ...but we do not move there
    assert s.send_audio(b"\x01" * 160, marker=True)
    await in_sdp.wait(1)
    await asyncio.sleep(0.05)
    assert source.got == []
    # A stray packet from a third address is not taken (the source is latched).
    stray = await open_peer()
    before = len(got)
    stray.send(rtp(900, 0, b"\x09" * 160, ssrc=77), s.local_port)
    await asyncio.sleep(0.05)
    assert len(got) == before
    s.close()


async def test_symmetric_sends_to_the_source(env: tuple[MediaClock, PortAllocator]) -> None:  # noqa: F811
    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    assert s.symmetric  # the session's default; legs set it from the peer
    in_sdp = await open_peer()
    source = await open_peer()
    s.set_remote(in_sdp.addr, PCMU)
    for seq in range(1, 6):  # enough for strict RTP's probation, where there is one
        source.send(rtp(seq, 160 * seq, b"\xff" * 160), s.local_port)
    await wait_for(lambda: s.remote == source.addr)
    assert s.send_audio(b"\x01" * 160, marker=True)
    await source.wait(1)
    assert in_sdp.got == []
    s.close()
