"""Bridge relay: untouched payload for the same codec, transcoding otherwise."""

from __future__ import annotations

import asyncio

from pbx.media.clock import MediaClock
from pbx.media.codecs import PCMA, PCMU, Codec, alaw_encode, ulaw_encode, ulaw_to_alaw
from pbx.media.dtmf import DtmfSender, decode_event
from pbx.media.relay import Relay
from pbx.media.session import MediaSession
from tests.unit.media.loops import event_loop_policy  # noqa: F401 - both loops
from tests.unit.media.test_player import tone
from tests.unit.media.test_session import Peer, allocator, open_peer, rtp


async def _bridge(ca: Codec, cb: Codec) -> tuple[MediaClock, MediaSession, MediaSession,
                                                 Peer, Peer, Relay]:
    loop = asyncio.get_running_loop()
    clock = MediaClock(loop)
    alloc = allocator()
    a = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    b = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    pa, pb = await open_peer(), await open_peer()
    a.set_remote(pa.addr, ca, dtmf_pt=101)
    b.set_remote(pb.addr, cb, dtmf_pt=96)
    r = Relay(a, b)
    r.start()
    return clock, a, b, pa, pb, r


async def test_same_codec_payload_untouched_both_ways() -> None:
    clock, a, b, pa, pb, r = await _bridge(PCMU, PCMU)
    assert not r.transcoding
    data = ulaw_encode(tone(0.4))
    frames = [data[i:i + 160] for i in range(0, len(data), 160)]
    for i, f in enumerate(frames):
        pa.send(rtp(i, i * 160, f, ssrc=1), a.local_port)
        pb.send(rtp(1000 + i, i * 160, f[::-1], ssrc=2), b.local_port)
    await pb.wait(len(frames))
    await pa.wait(len(frames))
    got_b = pb.packets()
    assert [p.payload for p in got_b] == frames
    assert [p.payload for p in pa.packets()] == [f[::-1] for f in frames]
    assert got_b[0].ssrc == b.stream.ssrc and got_b[0].ssrc != 1
    assert r.relayed == 2 * len(frames) and r.dropped == 0
    r.stop()
    assert a.consumer is None and b.consumer is None
    a.close()
    b.close()
    clock.stop()


async def test_ulaw_to_alaw_transcoded_and_dtmf_pt_rewritten() -> None:
    clock, a, b, pa, pb, r = await _bridge(PCMU, PCMA)
    assert r.transcoding
    data = ulaw_encode(tone(0.2))
    for i in range(0, len(data), 160):
        pa.send(rtp(i // 160, i, data[i:i + 160]), a.local_port)
    n = len(data) // 160
    await pb.wait(n)
    got = pb.packets()
    assert all(p.payload_type == 8 for p in got)
    assert b"".join(p.payload for p in got) == ulaw_to_alaw(data)
    # The other direction: A-law in, mu-law out.
    pb.send(rtp(5, 0, alaw_encode(tone(0.02))), b.local_port)
    await pa.wait(1)
    assert pa.packets()[0].payload_type == 0
    # DTMF from leg A (pt 101) reaches leg B as pt 96, event intact.
    digits: list[str] = []
    a.on_dtmf = digits.append
    pkts = DtmfSender().packets("7", 60)
    for k, p in enumerate(pkts):
        pa.send(rtp(100 + k, 5000, p.payload, pt=101, marker=p.marker), a.local_port)
    await pb.wait(n + len(pkts))
    ev = pb.packets()[n:]
    assert all(p.payload_type == 96 for p in ev)
    assert decode_event(ev[0].payload)[0] == "7" and ev[0].marker
    assert digits == ["7"] and r.dtmf_relayed == len(pkts)
    a.close()
    b.close()
    clock.stop()


async def test_hold_respected_and_end_on_close() -> None:
    clock, a, b, pa, pb, r = await _bridge(PCMU, PCMU)
    ended = asyncio.get_running_loop().create_future()
    r.on_end = lambda: ended.set_result(None)
    b.set_remote(pb.addr, PCMU, dtmf_pt=96, direction="sendonly")  # B put the call on hold
    pa.send(rtp(1, 160, b"\x01" * 160), a.local_port)
    await asyncio.sleep(0.05)
    assert pb.got == [] and r.held == 1 and r.dropped == 0
    b.set_remote(pb.addr, PCMU, dtmf_pt=96, direction="sendrecv")
    pa.send(rtp(2, 320, b"\x02" * 160), a.local_port)
    await pb.wait(1)
    assert pb.packets()[0].marker
    a.close()
    await asyncio.wait_for(ended, 1)
    assert b.consumer is None
    b.close()
    clock.stop()
