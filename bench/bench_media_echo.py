"""Benchmark: N Echo() sessions, with a separate process sending 20 ms packets.

The traffic generator (one socket per call, like N phones) runs pinned to
core 0 and counts the packets that come back; the PBX side (sessions + Echo,
the measured process) runs pinned to core 1. Printed: CPU% of one core used
by the PBX process (process_time / wall, target <= 50%), packets echoed and
lost. Run: .venv/bin/python bench/bench_media_echo.py [N] [seconds]
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing as mp
import os
import resource
import struct
import sys
import time
from typing import Any


def _pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core % (os.cpu_count() or 1)})
    except (AttributeError, OSError):
        pass


def _loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class _BareEcho(asyncio.DatagramProtocol):
    """Baseline: the cheapest possible echo (no RTP work at all)."""

    def __init__(self) -> None:
        self.echoed = 0
        self.errors = 0

    def connection_made(self, transport: Any) -> None:
        self.sendto = transport.sendto

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.sendto(data, addr)
        self.echoed += 1


def pbx(conn: Any, n: int, use_uvloop: bool, bare: bool = False) -> None:
    """The measured side: N sessions, each echoing."""
    _pin(1)
    from pbx.media.clock import MediaClock
    from pbx.media.codecs import PCMU
    from pbx.media.echo import Echo
    from pbx.media.ports import PortAllocator
    from pbx.media.session import MediaSession

    loop = _loop(use_uvloop)
    asyncio.set_event_loop(loop)

    async def main() -> None:
        clock = MediaClock(loop)
        alloc = PortAllocator(24000, 24000 + 4 * n + 100)
        sessions = []
        echoes = []
        for _ in range(n if bare else 0):
            pair = alloc.allocate("127.0.0.1")
            _, proto = await loop.create_datagram_endpoint(_BareEcho, sock=pair.rtp_sock)
            proto.local_port = pair.rtp_port  # type: ignore[attr-defined]
            sessions.append(proto)
            echoes.append(proto)
        for _ in range(0 if bare else n):
            s = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
            # The SDP address is a guess that latching corrects.
            s.set_remote(("127.0.0.1", 9), PCMU)
            e = Echo(s)
            e.start()
            sessions.append(s)
            echoes.append(e)
        gc.collect()
        gc.freeze()
        conn.send([s.local_port for s in sessions])
        await loop.run_in_executor(None, conn.recv)  # generator running and warmed up
        c0, w0 = time.process_time(), time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        e0 = sum(e.echoed for e in echoes)
        await loop.run_in_executor(None, conn.recv)  # measurement window ends
        c1, w1 = time.process_time(), time.perf_counter()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        e1 = sum(e.echoed for e in echoes)
        wall = w1 - w0
        conn.send({"cpu": (c1 - c0) / wall * 100,
                   "usr": (ru1.ru_utime - ru0.ru_utime) / wall * 100,
                   "sys": (ru1.ru_stime - ru0.ru_stime) / wall * 100,
                   "echoed_rate": (e1 - e0) / wall, "errors": sum(s.errors for s in sessions),
                   "lost_rx": 0 if bare else sum(s.stats().lost for s in sessions)})
        for s in sessions:
            if not bare:
                s.close()

    loop.run_until_complete(main())


class _Phone(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.back = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.back += 1


def generator(conn: Any, ports: list[int], seconds: float, warmup: float) -> None:
    """N phones sending one 172-byte packet every 20 ms each, on a shared clock."""
    _pin(0)
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    hdr = struct.Struct("!BBHII")
    payload = bytes(range(160))

    async def main() -> None:
        phones = []
        for _ in ports:
            tr, ph = await loop.create_datagram_endpoint(_Phone, local_addr=("127.0.0.1", 0))
            phones.append((tr, ph))
        start = loop.time()
        end_warm = start + warmup
        end = end_warm + seconds
        sent = 0
        k = 0
        measuring = False
        b0 = 0
        s0 = 0
        done = loop.create_future()

        def tick() -> None:
            nonlocal k, sent, measuring, b0, s0
            seq = k & 0xFFFF
            ts = (k * 160) & 0xFFFFFFFF
            for i, (tr, _) in enumerate(phones):
                tr.sendto(hdr.pack(0x80, 0, seq, ts, i) + payload, ("127.0.0.1", ports[i]))
            sent += len(phones)
            k += 1
            now = loop.time()
            if not measuring and now >= end_warm:
                measuring = True
                b0 = sum(p.back for _, p in phones)
                s0 = sent
                conn.send("go")
            if now >= end:
                done.set_result(None)
                return
            loop.call_at(start + k * 0.020, tick)

        tick()
        await done
        conn.send("stop")
        await asyncio.sleep(0.3)  # the last echoes come home
        conn.send({"sent": sent - s0, "back": sum(p.back for _, p in phones) - b0,
                   "sent_total": sent, "back_total": sum(p.back for _, p in phones)})

    loop.run_until_complete(main())


def run(n: int, seconds: float, use_uvloop: bool, bare: bool = False) -> None:
    ctx = mp.get_context("spawn")
    pbx_conn, pbx_child = ctx.Pipe()
    p = ctx.Process(target=pbx, args=(pbx_child, n, use_uvloop, bare))
    p.start()
    ports = pbx_conn.recv()
    gen_conn, gen_child = ctx.Pipe()
    g = ctx.Process(target=generator, args=(gen_child, ports, seconds, 2.0))
    g.start()
    assert gen_conn.recv() == "go"
    pbx_conn.send("go")
    assert gen_conn.recv() == "stop"
    pbx_conn.send("stop")
    res = pbx_conn.recv()
    gen = gen_conn.recv()
    p.join()
    g.join()
    name = ("uvloop " if use_uvloop else "asyncio") + (" bare UDP echo" if bare else " Echo()")
    print(f"{name} N={n}: PBX CPU {res['cpu']:.1f}% of a core (usr {res['usr']:.1f}% "
          f"sys {res['sys']:.1f}%), echoed {res['echoed_rate']:.0f} pkt/s "
          f"({res['cpu'] * 10000 / max(1.0, 2 * res['echoed_rate']):.1f} us CPU per packet "
          f"in or out); generator sent {gen['sent_total']} got back {gen['back_total']} "
          f"(missing {gen['sent_total'] - gen['back_total']}), PBX-side loss "
          f"{res['lost_rx']}, errors {res['errors']}, ")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    # Modes: uvloop / asyncio run Echo(); "bare" is a baseline echo protocol
    # doing no RTP work, to show what the event loop and syscalls alone cost.
    modes = sys.argv[3].split(",") if len(sys.argv) > 3 else ["bare", "uvloop", "asyncio"]
    for mode in modes:
        run(n, seconds, "asyncio" not in mode, bare=mode.startswith("bare"))
