"""SRTP on a media session over loopback: both directions encrypted with the
SDES keys, forgeries and replays dropped before strict RTP sees them, plain
RTP refused on an SRTP leg, keys kept across a re-INVITE that repeats them."""

from __future__ import annotations

import asyncio
import os

from pbx.media.clock import MediaClock
from pbx.media.codecs import PCMU
from pbx.media.ports import PortAllocator
from pbx.media.srtp import SrtpContext
from tests.unit.media.test_session import allocator, env, open_peer, rtp, wait_for  # noqa: F401

SUITE = "AES_CM_128_HMAC_SHA1_80"


async def test_srtp_both_ways(env: tuple[MediaClock, PortAllocator]) -> None:  # noqa: F811
    from pbx.media.session import MediaSession

    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    phone = await open_peer()
    ours, theirs = os.urandom(30), os.urandom(30)
    s.set_remote(phone.addr, PCMU)
    s.set_srtp(SUITE, ours, theirs)
    phone_ctx = SrtpContext(SUITE, theirs, ours)  # the phone: the mirror image
    heard: list[bytes] = []

    class Sink:
        def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
            heard.append(payload)

    s.set_consumer(Sink())
    for i in range(5):
        phone.send(phone_ctx.protect(rtp(10 + i, 160 * i, bytes([i]) * 160)), s.local_port)
    await wait_for(lambda: len(heard) == 5)
    assert heard == [bytes([i]) * 160 for i in range(5)]
    # Plain RTP, a replay and a forgery from the phone's own address: all dropped.
    errors = s.errors
    phone.send(rtp(15, 800, b"\x99" * 160), s.local_port)
    phone.send(phone_ctx.protect(rtp(16, 960, b"\x05" * 160))[:-1] + b"\x00", s.local_port)
    replay = phone_ctx.protect(rtp(17, 1120, b"\x06" * 160))
    phone.send(replay, s.local_port)
    phone.send(replay, s.local_port)
    await wait_for(lambda: s.errors == errors + 3)
    assert heard[-1] == b"\x06" * 160 and len(heard) == 6
    # What we send is SRTP the phone can decrypt, and not readable as plain RTP.
    assert s.send_audio(b"\x42" * 160, marker=True)
    await phone.wait(1)
    wire = phone.got[-1][1]
    assert b"\x42" * 16 not in wire
    plain = phone_ctx.unprotect(wire)
    assert plain is not None and plain[12:] == b"\x42" * 160
    # A re-INVITE with the same keys keeps the context (its rollover counter and window).
    ctx = s.srtp
    s.set_srtp(SUITE, ours, theirs)
    assert s.srtp is ctx
    s.set_srtp(None)
    assert s.srtp is None and "datagram_received" not in s.__dict__
    s.close()


async def test_forged_srtp_never_starts_probation(
        env: tuple[MediaClock, PortAllocator]) -> None:  # noqa: F811
    """An attacker without the key cannot latch, however many packets it sends."""
    from pbx.media.session import MediaSession

    clock, alloc = env
    loop = asyncio.get_running_loop()
    s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
    phone, attacker = await open_peer(), await open_peer()
    s.set_remote(phone.addr, PCMU)
    s.set_srtp(SUITE, os.urandom(30), os.urandom(30))
    wrong = SrtpContext(SUITE, os.urandom(30), os.urandom(30))
    for i in range(10):
        attacker.send(wrong.protect(rtp(i, 160 * i, b"\x11" * 160)), s.local_port)
    await wait_for(lambda: s.errors == 10)
    assert s.remote == phone.addr and not s._candidates and s.rx.received == 0
    s.close()
