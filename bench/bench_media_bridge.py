"""Benchmark: N bridged calls (two MediaSessions + Relay each), by codec pair.

A separate process plays 2N phones (one socket per leg), each sending one
20 ms packet of real audio in its leg's codec every 20 ms, and counts what
comes back. The PBX side (sessions + relays, the measured process) runs pinned
to core 1, the generator to core 0. Printed per pair: CPU% of one core used by
the PBX process, CPU per call, CPU per relayed packet, packets relayed and lost.

    .venv/bin/python bench/bench_media_bridge.py [N] [seconds] [pairs]

pairs: comma-separated, of PCMU-PCMU (untouched), PCMU-PCMA (byte table),
G722-G722 (untouched), G722-PCMU (decode, 16->8 kHz, encode and back).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing as mp
import os
import struct
import sys
import time
from typing import Any

PAIRS = ["PCMU-PCMU", "PCMU-PCMA", "G722-G722", "G722-PCMU"]


def _pin(core: int) -> None:
    try:
        os.sched_setaffinity(0, {core % (os.cpu_count() or 1)})
    except (AttributeError, OSError):
        pass


def pbx(conn: Any, n: int, pair: str) -> None:
    """The measured side: N bridges between sessions of the two codecs."""
    _pin(1)
    import uvloop

    from pbx.media.clock import MediaClock
    from pbx.media.codecs import CODECS_BY_NAME
    from pbx.media.ports import PortAllocator
    from pbx.media.relay import Relay
    from pbx.media.session import MediaSession

    ca, cb = (CODECS_BY_NAME[c] for c in pair.split("-"))
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        clock = MediaClock(loop)
        alloc = PortAllocator(26000, 26000 + 8 * n + 100)
        sessions, relays = [], []
        for _ in range(n):
            a = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
            b = await MediaSession.open(loop, alloc, "127.0.0.1", clock)
            # The SDP addresses are guesses that latching corrects.
            a.set_remote(("127.0.0.1", 9), ca)
            b.set_remote(("127.0.0.1", 9), cb)
            r = Relay(a, b)
            r.start()
            sessions += [a, b]
            relays.append(r)
        gc.collect()
        gc.freeze()
        conn.send([(s.local_port, s.codec.name) for s in sessions])
        await loop.run_in_executor(None, conn.recv)  # generator running and warmed up
        c0, w0 = time.process_time(), time.perf_counter()
        r0 = sum(r.relayed for r in relays)
        await loop.run_in_executor(None, conn.recv)  # measurement window ends
        c1, w1 = time.process_time(), time.perf_counter()
        r1 = sum(r.relayed for r in relays)
        wall = w1 - w0
        conn.send({"cpu": (c1 - c0) / wall * 100, "relayed_rate": (r1 - r0) / wall,
                   "dropped": sum(r.dropped for r in relays),
                   "errors": sum(s.errors for s in sessions),
                   "lost_rx": sum(s.stats().lost for s in sessions)})
        for s in sessions:
            s.close()

    loop.run_until_complete(main())


class _Phone(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.back = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.back += 1


def _audio(codec: str, frames: int) -> list[bytes]:
    """Real audio frames (a sweep), so the codecs do their real work."""
    import numpy as np

    from pbx.media.codecs import CODECS_BY_NAME

    c = CODECS_BY_NAME[codec]
    rate = c.sample_rate
    t = np.arange(rate * frames // 50) / rate
    pcm = (8000 * np.sin(2 * np.pi * (200 * t + 800 * t * t))).astype("<i2").tobytes()
    data = c.encode(pcm)  # type: ignore[misc]
    return [data[i * 160:(i + 1) * 160] for i in range(frames)]


def generator(conn: Any, legs: list[tuple[int, str]], seconds: float, warmup: float) -> None:
    """2N phones, one packet every 20 ms each, on a shared clock."""
    _pin(0)
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    hdr = struct.Struct("!BBHII")
    pts = {"PCMU": 0, "PCMA": 8, "G722": 9}
    audio = {name: _audio(name, 50) for name in {c for _, c in legs}}

    async def main() -> None:
        phones = []
        for _ in legs:
            tr, ph = await loop.create_datagram_endpoint(_Phone, local_addr=("127.0.0.1", 0))
            phones.append((tr, ph))
        start = loop.time()
        end_warm = start + warmup
        end = end_warm + seconds
        sent = k = b0 = s0 = 0
        measuring = False
        done = loop.create_future()

        def tick() -> None:
            nonlocal k, sent, measuring, b0, s0
            seq = k & 0xFFFF
            ts = (k * 160) & 0xFFFFFFFF
            for i, (tr, _) in enumerate(phones):
                port, codec = legs[i]
                frames = audio[codec]
                tr.sendto(hdr.pack(0x80, pts[codec], seq, ts, i) + frames[k % len(frames)],
                          ("127.0.0.1", port))
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
        await asyncio.sleep(0.3)
        conn.send({"sent": sent - s0, "back": sum(p.back for _, p in phones) - b0})

    loop.run_until_complete(main())


def run(n: int, seconds: float, pair: str) -> dict:
    ctx = mp.get_context("spawn")
    pbx_conn, pbx_child = ctx.Pipe()
    p = ctx.Process(target=pbx, args=(pbx_child, n, pair))
    p.start()
    legs = pbx_conn.recv()
    gen_conn, gen_child = ctx.Pipe()
    g = ctx.Process(target=generator, args=(gen_child, legs, seconds, 2.0))
    g.start()
    assert gen_conn.recv() == "go"
    pbx_conn.send("go")
    assert gen_conn.recv() == "stop"
    pbx_conn.send("stop")
    res = pbx_conn.recv()
    gen = gen_conn.recv()
    p.join()
    g.join()
    per_call = res["cpu"] / n
    per_pkt = res["cpu"] * 10000 / max(1.0, res["relayed_rate"])
    print(f"{pair:10} N={n}: PBX CPU {res['cpu']:5.1f}% of a core = {per_call:.3f}% per call"
          f" ({per_pkt:.1f} us per relayed packet); relayed {res['relayed_rate']:.0f} pkt/s,"
          f" phones sent {gen['sent']} got back {gen['back']}, dropped {res['dropped']},"
          f" lost {res['lost_rx']}, errors {res['errors']}", flush=True)
    return res


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    pairs = sys.argv[3].split(",") if len(sys.argv) > 3 else PAIRS
    for pair in pairs:
        run(n, seconds, pair)
