"""Micro-benchmark: the per-packet receive path of MediaSession, without sockets.

Calls `datagram_received` directly with pre-built packets (in-order G.711
frames from the latched source) and a consumer that does nothing, so the
figure is our own Python work per packet: the strict-RTP source check, the
header unpack, receive statistics and dispatch. Also measured: a packet from
a foreign address (dropped by strict RTP), and with SDES-SRTP the unprotect
call added in front (pylibsrtp). Run: .venv/bin/python bench/bench_media_rx.py [packets]
"""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import time
from typing import Any


class _Null:
    def rtp(self, payload: bytes, marker: int, seq: int, ts: int) -> None:
        pass


def _packets(n: int, ssrc: int = 0x1234) -> list[bytes]:
    hdr = struct.Struct("!BBHII")
    payload = bytes(range(160))
    return [hdr.pack(0x80, 0, i & 0xFFFF, (i * 160) & 0xFFFFFFFF, ssrc) + payload
            for i in range(n)]


def _session(loop: asyncio.AbstractEventLoop) -> Any:
    from pbx.media.clock import MediaClock
    from pbx.media.codecs import PCMU
    from pbx.media.ports import PortAllocator
    from pbx.media.session import MediaSession

    alloc = PortAllocator(26000, 26100)
    s = MediaSession(loop, alloc.allocate("127.0.0.1"), "127.0.0.1", MediaClock(loop))
    s.set_remote(("127.0.0.1", 40000), PCMU)
    s.set_consumer(_Null())
    return s


def _time(fn: Any, packets: list[bytes], addr: tuple) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for p in packets:
            fn(p, addr)
        best = min(best, time.perf_counter() - t0)
    return best / len(packets) * 1e9


def main(n: int) -> None:
    loop = asyncio.new_event_loop()
    src = ("127.0.0.1", 40000)
    s = _session(loop)
    packets = _packets(n)
    for p in packets[:8]:  # probation: latch on the source
        s.datagram_received(p, src)
    s.rx.__init__(8000)  # fresh statistics, same source
    print(f"plain RTP, latched source: {_time(s.datagram_received, packets, src):.0f} ns/packet")
    foreign = ("127.0.0.1", 40100)
    junk = [os.urandom(172) for _ in range(min(n, 10000))]
    print(f"random bytes from another address: "
          f"{_time(s.datagram_received, junk, foreign):.0f} ns/packet (dropped)")
    from pbx.media.srtp import SrtpContext

    for suite in ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"):
        ours, theirs = os.urandom(30), os.urandom(30)
        protected = [SrtpContext(suite, theirs, ours).protect(p) for p in packets]
        s2 = _session(loop)
        best = float("inf")
        for _ in range(5):  # fresh keys' contexts each round: the replay window forgets
            s2.set_srtp(None)
            s2.set_srtp(suite, ours, theirs)
            for p in protected[:8]:
                s2.datagram_received(p, src)
            t0 = time.perf_counter()
            for p in protected[8:]:
                s2.datagram_received(p, src)
            best = min(best, time.perf_counter() - t0)
        assert s2.rx.received >= len(packets) - 8, s2.rx.received
        print(f"SRTP {suite}, latched source: {best / (len(packets) - 8) * 1e9:.0f} ns/packet")
        ctx = SrtpContext(suite, ours, theirs)
        plain = packets[:10000]
        t0 = time.perf_counter()
        for p in plain:
            ctx.protect(p)
        print(f"SRTP {suite} protect alone: "
              f"{(time.perf_counter() - t0) / len(plain) * 1e9:.0f} ns/packet")
        s2.close()
    s.close()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50000)
